package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/orchestrator/telegram"
	"github.com/untether-go/untether/sandbox/podman"
)

type doctorOptions struct {
	configPath string
}

func (o *doctorOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.configPath, "config", "", "config file (default $"+config.EnvConfigPath+", else ~/.untether/untether.toml)")
}

func newDoctorCommand() *cobra.Command {
	var opts doctorOptions
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the config, Podman, resource limits, engine images and the bot token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDoctor(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// doctor prints one line per check and remembers failures.
type doctor struct {
	out    io.Writer
	failed int
}

func (d *doctor) ok(format string, args ...any) { fmt.Fprintf(d.out, "ok    "+format+"\n", args...) }

func (d *doctor) warn(format string, args ...any) { fmt.Fprintf(d.out, "WARN  "+format+"\n", args...) }

// checkBinaries finds the CLI of each engine in use on PATH, for the
// process backend.
func (d *doctor) checkBinaries(cfg *config.Config) {
	for _, eng := range enginesInUse(cfg) {
		if p, err := exec.LookPath(eng); err != nil {
			d.fail("engine %s: %s is not on PATH", eng, eng)
		} else {
			d.ok("engine %s: %s", eng, p)
		}
	}
}

func (d *doctor) fail(format string, args ...any) {
	d.failed++
	fmt.Fprintf(d.out, "FAIL  "+format+"\n", args...)
}

func runDoctor(ctx context.Context, opts doctorOptions, out io.Writer) error {
	d := &doctor{out: out}
	cfg, err := loadConfig(opts.configPath, out)
	if err != nil {
		d.fail("config: %v", err)
		return &exitError{exitFailure, errors.New("untether doctor: 1 check failed")}
	}
	d.ok("config %s (instance %s, %d projects)", cfg.Path, cfg.Instance, len(cfg.Projects))

	if cfg.Sandbox.Backend == config.BackendProcess {
		d.warn("sandbox: process: engines run UNSANDBOXED as plain processes, with no memory, pids or CPU limits")
		d.checkBinaries(cfg)
	} else if len(cfg.Sandbox.Hosts) > 0 {
		d.checkHosts(ctx, cfg)
	} else if box, err := newSandbox(cfg, slog.New(slog.DiscardHandler)); err != nil {
		d.fail("sandbox: %v", err)
	} else {
		d.checkPodman(ctx, cfg, box, "", cfg.Sandbox.PodmanURL)
	}
	d.checkTelegram(ctx, cfg)
	if d.failed > 0 {
		return &exitError{exitFailure, fmt.Errorf("untether doctor: %d check(s) failed", d.failed)}
	}
	return nil
}

// checkPodman checks the Podman service at url; prefix names its host
// ("host b: ") when there are several.
func (d *doctor) checkPodman(ctx context.Context, cfg *config.Config, box *podman.Runner, prefix, url string) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	host, err := box.Host(cctx)
	if err != nil {
		d.fail("%spodman at %s: %v (is 'podman system service' running?)", prefix, url, err)
		return
	}
	mode := "rootful"
	if host.Rootless {
		mode = "rootless"
	}
	d.ok("%spodman %s at %s (API %s, %s, cgroup %s with %s, %s)", prefix, host.Version, url,
		host.APIVersion, host.Runtime, host.CgroupVersion, host.CgroupManager, mode)
	if err := host.CheckLimits(); err != nil {
		d.fail("%slimits: %v", prefix, err)
	} else {
		d.ok("%slimits: memory and pids limits are enforced", prefix)
	}
	for _, eng := range enginesInUse(cfg) {
		ref := cfg.Sandbox.Images[eng]
		ok, err := box.ImageExists(cctx, ref)
		switch {
		case err != nil:
			d.fail("%simage %s for %s: %v", prefix, ref, eng, err)
		case !ok && prefix != "":
			d.fail("%simage %s for %s is missing: build it there, or copy it: podman save %s | ssh HOST podman load", prefix, ref, eng, ref)
		case !ok:
			d.fail("image %s for %s is missing: build it with 'untether images build %s'", ref, eng, eng)
		default:
			d.ok("%simage %s for %s", prefix, ref, eng)
		}
	}
}

func (d *doctor) checkTelegram(ctx context.Context, cfg *config.Config) {
	tg, err := telegram.New(telegram.Options{Token: cfg.Telegram.BotToken.Reveal(), APIURL: cfg.Telegram.APIURL})
	if err != nil {
		d.fail("telegram: %v", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	name, err := tg.CheckToken(cctx)
	if err != nil {
		d.fail("telegram bot at %s: %v", cfg.Telegram.APIURL, err)
		return
	}
	d.ok("telegram bot @%s at %s", name, cfg.Telegram.APIURL)
}

// enginesInUse are the engines some project or the global default runs.
func enginesInUse(cfg *config.Config) []string {
	set := map[string]bool{cfg.DefaultEngine: true}
	for _, p := range cfg.Projects {
		if p.DefaultEngine != "" {
			set[p.DefaultEngine] = true
		}
	}
	out := make([]string, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// checkHosts checks every [sandbox.hosts] host as checkPodman checks the
// one: reachable (over SSH, with its key known), version, cgroups,
// rootless, limits enforceable, images present.
func (d *doctor) checkHosts(ctx context.Context, cfg *config.Config) {
	for _, o := range hostOptions(cfg) {
		r := podman.New(podman.Options{URL: o.URL, SSH: o.SSH})
		caps := "no cap on runs"
		if o.MaxRuns > 0 {
			caps = fmt.Sprintf("at most %d runs", o.MaxRuns)
		}
		if o.Memory > 0 {
			caps += ", " + config.FormatSize(o.Memory) + " of memory"
		}
		d.ok("host %s: %s (%s)", o.Name, o.URL, caps)
		d.checkPodman(ctx, cfg, r, "host "+o.Name+": ", o.URL)
		r.Close()
	}
}
