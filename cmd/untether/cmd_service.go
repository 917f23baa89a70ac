package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/template"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/untether-go/untether/internal/atomicfile"
)

type serviceOptions struct {
	dev   bool
	dir   string
	force bool
}

func (o *serviceOptions) AddFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.dev, "dev", false, "the dev instance's unit: untether-dev.service, running ~/.local/bin/untether-dev with ~/.untether-dev/untether.toml")
	f.StringVar(&o.dir, "dir", "", "directory to write the unit to (default ~/.config/systemd/user)")
	f.BoolVar(&o.force, "force", false, "replace an existing unit file that differs")
}

func newServiceCommand() *cobra.Command {
	var opts serviceOptions
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Run untether as a systemd user service",
	}
	install := &cobra.Command{
		Use:   "install",
		Short: "Write the systemd user unit of the staging (or --dev) instance and print how to enable it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServiceInstall(opts, cmd.OutOrStdout())
		},
	}
	opts.AddFlags(install.Flags())
	cmd.AddCommand(install)
	return cmd
}

// serviceUnit is what tells the two instances' units apart. Both are
// rendered from unitTemplate, the one source of the unit text: `service
// install` writes it, and a test keeps contrib/ equal to it.
type serviceUnit struct {
	Name     string // unit name without ".service"; also the journal's -u
	Instance string // "staging" or "dev", as the example configs call them
	Binary   string // the executable under ~/.local/bin
	StateDir string // under ~: the instance's config, state and env file
	// SetConfig sets UNTETHER_CONFIG_PATH; otherwise the daemon takes the
	// default, ~/.untether/untether.toml.
	SetConfig bool
}

// serviceUnits are the staging instance (a released build) and the dev
// instance (the local build), which run side by side.
func serviceUnits() []serviceUnit {
	return []serviceUnit{
		{Name: "untether", Instance: "staging", Binary: "untether", StateDir: ".untether"},
		{Name: "untether-dev", Instance: "dev", Binary: "untether-dev", StateDir: ".untether-dev", SetConfig: true},
	}
}

func unitFor(dev bool) serviceUnit {
	units := serviceUnits()
	if dev {
		return units[1]
	}
	return units[0]
}

// File is the unit's file name.
func (u serviceUnit) File() string { return u.Name + ".service" }

// Flag is the install flag that selects this unit.
func (u serviceUnit) Flag() string {
	if u.SetConfig {
		return " --dev"
	}
	return ""
}

// Every setting carries its reason: the unit is what an operator reads when
// the bridge misbehaves under systemd.
const unitTemplate = `# Untether, {{.Instance}} instance, as a systemd user service.
#
# ` + "`untether service install{{.Flag}}`" + ` writes this file to ~/.config/systemd/user/.
# It is generated from cmd/untether/cmd_service.go: change it there. Keep
# local changes in a drop-in (systemctl --user edit {{.File}}), which
# reinstalling leaves alone.

[Unit]
Description=Untether ({{.Instance}}): Telegram bridge to coding agents in Podman containers
Documentation=https://github.com/untether-go/untether
# Runs go through the user's Podman API socket; socket activation starts
# Podman on first use. Harmless when podman_url points elsewhere.
Wants=podman.socket
After=podman.socket
# Keep restarting however often it fails: a bridge that gave up during a
# network outage stays silent until someone notices. Exits no restart can
# fix are listed in RestartPreventExitStatus instead.
StartLimitIntervalSec=0

[Service]
# The daemon sends READY=1 only after its first getUpdates succeeded and
# STOPPING=1 when its drain starts, so "active" means "polling Telegram".
Type=notify
# Only the daemon itself may report its state, never a process it starts.
NotifyAccess=main
{{- if .SetConfig}}
# This instance's own config, hence its own bot, state, lock and containers.
Environment=UNTETHER_CONFIG_PATH=%h/{{.StateDir}}/untether.toml
{{- end}}
# Optional KEY=VALUE lines for the daemon, e.g. UNTETHER_BOT_TOKEN or
# HTTPS_PROXY; "-" lets the file be absent. Its lines win over Environment=.
EnvironmentFile=-%h/{{.StateDir}}/untether.env
{{- if .SetConfig}}
# The local build, e.g. install -D -m 755 bin/untether ~/.local/bin/{{.Binary}}
{{- else}}
# A released build. Without --config it reads ~/.untether/untether.toml,
# or $UNTETHER_CONFIG_PATH if the file above sets it.
{{- end}}
ExecStart=%h/.local/bin/{{.Binary}} run
# SIGTERM goes to the daemon alone, which drains in its own order: it tells
# the chats, stops or detaches its runs, sends the last replies and saves
# the offset. Whatever of the unit's own processes is left then gets
# SIGKILL. The runs' containers are not among them: Podman keeps them in
# scopes of their own, so detached runs outlive a restart.
KillMode=mixed
# The drain waits up to 120s for runs; 30s more to send and save before
# systemd resorts to SIGKILL.
TimeoutStopSec=150
# Come back after any exit, clean or not: the bridge is the only way in to
# the agents.
Restart=always
# Soon, without spinning.
RestartSec=2
# Except after exits a restart cannot fix: 2 is a bad config or command
# line, 3 another daemon already serving this config. The journal says which.
RestartPreventExitStatus=2 3
# Make the bridge the kernel OOM killer's last choice, so that a run
# exhausting the host does not end every chat at once; each run is first
# held by its own container's memory limit. A user manager cannot lower a
# score below its own (+100 on Debian): systemd then skips this silently and
# the bridge keeps +100, still below the +200 the manager gives other services.
OOMScoreAdjust=-100
# Should the OOM killer take one of the unit's processes anyway, log it and
# keep the bridge up instead of stopping the unit (the default).
OOMPolicy=continue

[Install]
# Start with the user's service manager: at login, or at boot with lingering.
WantedBy=default.target
`

// render returns the unit file's content.
func (u serviceUnit) render() ([]byte, error) {
	t, err := template.New(u.File()).Option("missingkey=error").Parse(unitTemplate)
	if err != nil {
		return nil, fmt.Errorf("parse unit template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, u); err != nil {
		return nil, fmt.Errorf("render %s: %w", u.File(), err)
	}
	return b.Bytes(), nil
}

func runServiceInstall(opts serviceOptions, out io.Writer) error {
	u := unitFor(opts.dev)
	data, err := u.render()
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	home, homeErr := os.UserHomeDir()
	dir := opts.dir
	if dir == "" {
		if homeErr != nil {
			return &exitError{exitConfig, errors.New("untether: no home directory: pass --dir")}
		}
		dir = filepath.Join(home, ".config", "systemd", "user")
	}
	path := filepath.Join(dir, u.File())
	done, err := installFile(path, data, opts.force)
	if errors.Is(err, errUnitDiffers) {
		return &exitError{exitFailure, fmt.Errorf("untether: %s exists and differs from the unit this version writes: pass --force to replace it\nhint: keep local changes in a drop-in instead: systemctl --user edit %s", path, u.File())}
	}
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	fmt.Fprintf(out, "%s %s\n", done, path)
	if homeErr == nil {
		noteMissing(out, u, home)
	}
	fmt.Fprintf(out, `
Next, to start it now and whenever your user manager starts:
  systemctl --user daemon-reload
  systemctl --user enable --now %s
So that it runs from boot, without a login session:
  loginctl enable-linger $USER
To follow its log:
  journalctl --user -u %s -f
`, u.File(), u.Name)
	return nil
}

// noteMissing points out what the unit needs that is not there yet; the
// unit is written anyway, so that the order of setup steps does not matter.
func noteMissing(out io.Writer, u serviceUnit, home string) {
	bin := filepath.Join(home, ".local", "bin", u.Binary)
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(out, "note: the unit runs %s, which is not there yet: e.g. install -D -m 755 bin/untether %s\n", bin, bin)
	}
	cfg := filepath.Join(home, u.StateDir, "untether.toml")
	if _, err := os.Stat(cfg); err != nil {
		fmt.Fprintf(out, "note: the unit reads %s, which is not there yet: '%s run --config %s' shows how to write it\n", cfg, u.Binary, cfg)
	}
}

// errUnitDiffers: a unit file with other content is in the way.
var errUnitDiffers = errors.New("unit file differs")

// installFile makes path hold data and says what it did: "wrote",
// "replaced" or "unchanged". It replaces a file with other content only
// when force is set, else it returns errUnitDiffers. The write is atomic:
// systemd never reads half a unit.
func installFile(path string, data []byte, force bool) (string, error) {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, data):
		return "unchanged", nil
	case err == nil && !force:
		return "", errUnitDiffers
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	done := "wrote"
	if err == nil {
		done = "replaced"
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("create unit directory: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return "", err
	}
	return done, nil
}
