package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/orchestrator/config"
)

var update = flag.Bool("update", false, "rewrite the generated files in contrib/")

const contribDir = "../../contrib"

// TestUnitFilesMatchContrib keeps contrib/*.service equal to what `service
// install` writes; the template in cmd_service.go is their one source.
// Regenerate with: go test ./cmd/untether -run UnitFiles -update
func TestUnitFilesMatchContrib(t *testing.T) {
	for _, u := range serviceUnits() {
		t.Run(u.Name, func(t *testing.T) {
			got := renderUnit(t, u)
			path := filepath.Join(contribDir, u.File())
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the unit `service install` writes: change the template in cmd_service.go, then run with -update", path)
			}
		})
	}
}

func renderUnit(t *testing.T, u serviceUnit) []byte {
	t.Helper()
	data, err := u.render()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestUnitSettings pins the settings the daemon's lifecycle relies on, and
// that each one says why it is there.
func TestUnitSettings(t *testing.T) {
	common := []string{
		"Service.Type=notify",
		"Service.NotifyAccess=main",
		"Service.KillMode=mixed",
		"Service.TimeoutStopSec=150",
		"Service.Restart=always",
		"Service.RestartSec=2",
		"Service.OOMScoreAdjust=-100",
		"Service.OOMPolicy=continue",
		"Install.WantedBy=default.target",
	}
	tests := []struct {
		unit string
		want []string
		not  []string
	}{
		{
			unit: "untether",
			want: append(slices.Clone(common),
				"Service.EnvironmentFile=-%h/.untether/untether.env",
				"Service.ExecStart=%h/.local/bin/untether run"),
			not: []string{"Service.Environment"},
		},
		{
			unit: "untether-dev",
			want: append(slices.Clone(common),
				"Service.EnvironmentFile=-%h/.untether-dev/untether.env",
				"Service.ExecStart=%h/.local/bin/untether-dev run",
				"Service.Environment=UNTETHER_CONFIG_PATH=%h/.untether-dev/untether.toml"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			u := unitByName(t, tt.unit)
			settings, uncommented := parseUnit(t, renderUnit(t, u))
			for _, w := range tt.want {
				key, _, _ := strings.Cut(w, "=")
				if !slices.Contains(settings, w) {
					t.Errorf("missing %s (have %q)", w, valuesOf(settings, key))
				}
			}
			for _, key := range tt.not {
				if v := valuesOf(settings, key); len(v) > 0 {
					t.Errorf("unexpected %s: %q", key, v)
				}
			}
			for _, s := range uncommented {
				t.Errorf("%s has no comment saying why", s)
			}
		})
	}
}

func unitByName(t *testing.T, name string) serviceUnit {
	t.Helper()
	for _, u := range serviceUnits() {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("no unit %s", name)
	return serviceUnit{}
}

// parseUnit returns each setting as "Section.Key=value", and the settings
// of [Service] and [Install] not directly under a comment.
func parseUnit(t *testing.T, data []byte) (settings, uncommented []string) {
	t.Helper()
	var section string
	var commented bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			commented = true
			continue
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		case strings.Contains(line, "="):
			key, value, _ := strings.Cut(line, "=")
			s := section + "." + key + "=" + value
			settings = append(settings, s)
			if !commented && section != "Unit" {
				uncommented = append(uncommented, s)
			}
		case line != "":
			t.Errorf("unexpected line %q", line)
		}
		commented = false
	}
	return settings, uncommented
}

func valuesOf(settings []string, key string) []string {
	var out []string
	for _, s := range settings {
		if v, ok := strings.CutPrefix(s, key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestUnitsPassSystemdAnalyzeVerify runs systemd's own checker on both
// units in user mode. It needs no running manager: a private
// XDG_RUNTIME_DIR, and a HOME (for %h) holding stand-in binaries, since
// verify refuses an ExecStart that is not executable.
func TestUnitsPassSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is needed to check the unit files (Debian: apt-get install systemd): %v", err)
	}
	root := t.TempDir()
	home, runtime, units := filepath.Join(root, "home"), filepath.Join(root, "run"), filepath.Join(root, "units")
	for _, d := range []string{filepath.Join(home, ".local", "bin"), runtime, units} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(path string) (string, error) {
		cmd := exec.Command(analyze, "verify", "--user", path)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_RUNTIME_DIR=" + runtime, "SYSTEMD_LOG_LEVEL=info"}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for _, u := range serviceUnits() {
		t.Run(u.Name, func(t *testing.T) {
			bin := filepath.Join(home, ".local", "bin", u.Binary)
			if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			data := renderUnit(t, u)
			path := filepath.Join(units, u.File())
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			// verify exits 0 on settings it ignores, so any output fails.
			if out, err := verify(path); err != nil || out != "" {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u.File(), err, out)
			}

			// The same check must catch a broken unit, or it proves nothing.
			broken := bytes.Replace(data, []byte("OOMPolicy=continue"), []byte("OOMPolicy=sometimes"), 1)
			if err := os.WriteFile(path, broken, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, _ := verify(path); !strings.Contains(out, "OOM policy") {
				t.Errorf("systemd-analyze verify accepted OOMPolicy=sometimes silently: %q", out)
			}
		})
	}
}

// TestServiceInstall drives `untether service install` into a temporary
// --dir: it writes the unit, is idempotent, refuses to overwrite a file it
// did not write unless --force, and says what to run next.
func TestServiceInstall(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, u := range serviceUnits() {
		t.Run(u.Name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "systemd", "user")
			path := filepath.Join(dir, u.File())
			args := []string{"install", "--dir", dir}
			if u.Instance == "dev" {
				args = append(args, "--dev")
			}

			out, err := runService(t, args...)
			if err != nil {
				t.Fatalf("install: %v\n%s", err, out)
			}
			if !strings.Contains(out, "wrote "+path+"\n") {
				t.Errorf("install does not say what it wrote:\n%s", out)
			}
			for _, want := range []string{
				"systemctl --user daemon-reload\n",
				"systemctl --user enable --now " + u.File() + "\n",
				"loginctl enable-linger $USER\n",
				"journalctl --user -u " + u.Name + " -f\n",
				"note: the unit runs " + filepath.Join(home, ".local", "bin", u.Binary) + ", which is not there yet",
				"note: the unit reads " + filepath.Join(home, u.StateDir, "untether.toml") + ", which is not there yet",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, renderUnit(t, u)) {
				t.Errorf("%s is not the %s unit:\n%s", path, u.Name, got)
			}
			if fi, err := os.Stat(path); err != nil {
				t.Error(err)
			} else if fi.Mode().Perm() != 0o644 {
				t.Errorf("%s: mode %v, want 0644", path, fi.Mode().Perm())
			}

			out, err = runService(t, args...)
			if err != nil || !strings.Contains(out, "unchanged "+path+"\n") {
				t.Errorf("second install: %v\n%s", err, out)
			}

			edited := append(slices.Clone(got), "# edited by hand\n"...)
			if err := os.WriteFile(path, edited, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err = runService(t, args...)
			if code := exitCode(err); code != exitFailure || !strings.Contains(err.Error(), "--force") {
				t.Errorf("install over an edited unit: exit %d, %v\n%s", code, err, out)
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, edited) {
				t.Errorf("a refused install changed %s", path)
			}

			out, err = runService(t, append(args, "--force")...)
			if err != nil || !strings.Contains(out, "replaced "+path+"\n") {
				t.Errorf("install --force: %v\n%s", err, out)
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, got) {
				t.Errorf("install --force did not restore %s", path)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("%s holds %d entries, want just the unit (no temporary files)", dir, len(entries))
			}
		})
	}
}

// TestServiceInstallDefaultDir: without --dir the unit goes where the
// user's systemd looks for it, and the notes go once what they name exists.
func TestServiceInstallDefaultDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, f := range []string{".local/bin/untether", ".untether/untether.toml"} {
		p := filepath.Join(home, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runService(t, "install")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	path := filepath.Join(home, ".config", "systemd", "user", "untether.service")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("no unit at the default place: %v\n%s", err, out)
	}
	if strings.Contains(out, "note:") {
		t.Errorf("notes about files that exist:\n%s", out)
	}
}

func runService(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newServiceCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return -1
	}
	return exitOK
}

// TestExampleConfigsParse: both instances' example configs are valid as
// shipped, route the six engines' test projects from six groups, and stay
// apart (no shared group, no shared image).
func TestExampleConfigsParse(t *testing.T) {
	const home = "/home/tester"
	const fileToken, envToken = "111:from-the-file", "222:from-the-environment"
	getenv := func(k string) string {
		return map[string]string{"HOME": home, config.EnvBotToken: envToken}[k]
	}
	parse := func(t *testing.T, data []byte) *config.Config {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "bot_token"), []byte(fileToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(data, filepath.Join(dir, "untether.toml"), getenv)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	chats := map[int64]string{}
	images := map[string]string{}
	for _, tt := range []struct{ file, instance string }{
		{"untether.example.toml", "staging"},
		{"untether-dev.example.toml", "dev"},
	} {
		t.Run(tt.instance, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(contribDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			cfg := parse(t, data)
			if cfg.Instance != tt.instance {
				t.Errorf("instance %q, want %q", cfg.Instance, tt.instance)
			}
			if got := cfg.Telegram.BotToken.Reveal(); got != fileToken {
				t.Errorf("bot token not from bot_token_file")
			}
			if len(cfg.Telegram.AllowedUserIDs) == 0 || cfg.Telegram.ChatID == 0 {
				t.Errorf("allowed_user_ids %v, chat_id %d: want both set", cfg.Telegram.AllowedUserIDs, cfg.Telegram.ChatID)
			}
			if len(cfg.Projects) != len(config.EngineNames()) {
				t.Errorf("%d projects, want one per engine (%d)", len(cfg.Projects), len(config.EngineNames()))
			}
			for _, engine := range config.EngineNames() {
				name := "test-" + engine
				p, ok := cfg.Project(name)
				switch {
				case !ok:
					t.Errorf("no project %s", name)
					continue
				case p.Path != filepath.Join(home, "untether", "test-projects", name):
					t.Errorf("%s: path %s", name, p.Path)
				case p.DefaultEngine != engine:
					t.Errorf("%s: default_engine %q, want %q", name, p.DefaultEngine, engine)
				case p.ChatID >= 0:
					t.Errorf("%s: chat_id %d, want a group's (negative)", name, p.ChatID)
				}
				if other, dup := chats[p.ChatID]; dup {
					t.Errorf("%s: chat %d also routes to %s: both would answer", name, p.ChatID, other)
				}
				chats[p.ChatID] = tt.instance + "/" + name
			}
			for engine, ref := range cfg.Sandbox.Images {
				if other, dup := images[ref]; dup {
					t.Errorf("image %s of %s is also %s's", ref, engine, other)
				}
				images[ref] = tt.instance
			}

			// The comment's alternative: no bot_token_file, the token from
			// the environment (the unit's env file).
			noFile := strings.Replace(string(data), "\nbot_token_file =", "\n# bot_token_file =", 1)
			if noFile == string(data) {
				t.Fatal("no bot_token_file line")
			}
			if got := parse(t, []byte(noFile)).Telegram.BotToken.Reveal(); got != envToken {
				t.Errorf("without bot_token_file the token is not $%s", config.EnvBotToken)
			}
		})
	}
}
