package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator/state"
)

// runCLI executes the untether command line in this process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// deadPID is the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestHealthcheckChecks(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	healthy := state.Status{
		PID: 10, Version: "1.0.0", Instance: "staging", Started: now.Add(-time.Hour), Ready: true,
		LastPoll: now.Add(-5 * time.Second), PollTimeout: 30 * time.Second, State: state.StateRunning, Updated: now,
	}
	tests := []struct {
		name    string
		edit    func(s *state.Status)
		dead    bool
		version string
		want    string // substring of the error; "" for healthy
	}{
		{name: "healthy"},
		{name: "version matches", version: "1.0.0"},
		{name: "version differs", version: "1.1.0-rc.1", want: "runs version 1.0.0, not 1.1.0-rc.1"},
		{name: "dead pid", dead: true, want: "pid 10 is not running"},
		{name: "stopped", edit: func(s *state.Status) { s.State = state.StateStopped }, want: "stopped"},
		{name: "draining", edit: func(s *state.Status) { s.State = state.StateDraining }, want: "draining"},
		{name: "not ready", edit: func(s *state.Status) { s.Ready, s.LastPoll = false, time.Time{} }, want: "not ready"},
		{name: "poll within limit", edit: func(s *state.Status) { s.LastPoll = now.Add(-89 * time.Second) }},
		{name: "stale poll", edit: func(s *state.Status) { s.LastPoll = now.Add(-91 * time.Second) }, want: "last successful getUpdates was 1m31s ago (limit 1m30s)"},
		{name: "short poll timeout", edit: func(s *state.Status) {
			s.PollTimeout, s.LastPoll = 2*time.Second, now.Add(-40*time.Second)
		}, want: "limit 34s"},
		{name: "poll timeout unknown", edit: func(s *state.Status) {
			s.PollTimeout, s.LastPoll = 0, now.Add(-80*time.Second)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := healthy
			if tt.edit != nil {
				tt.edit(&s)
			}
			err := checkHealth(s, !tt.dead, now, tt.version)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("checkHealth = %v, want healthy", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("checkHealth = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestHealthcheckExitCodes runs the command against status files written
// for this (alive) process and for a dead one.
func TestHealthcheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "untether.toml")
	now := time.Now()
	fresh := state.Status{
		PID: os.Getpid(), Version: "1.0.0", Instance: "hc", ConfigPath: cfg, Started: now.Add(-time.Minute),
		Ready: true, LastPoll: now, PollTimeout: 2 * time.Second, State: state.StateRunning, Updated: now,
	}
	stale, dead := fresh, fresh
	stale.LastPoll = now.Add(-time.Minute)
	dead.PID = deadPID(t)
	tests := []struct {
		name   string
		status *state.Status
		args   []string
		code   int
		want   string
	}{
		{"healthy", &fresh, nil, exitOK, "ok: hc runs 1.0.0"},
		{"version matches", &fresh, []string{"--version", "1.0.0"}, exitOK, "ok:"},
		{"v-prefixed version matches", &fresh, []string{"--version", "v1.0.0"}, exitOK, "ok:"},
		{"version differs", &fresh, []string{"--version", "1.1.0"}, exitUnhealthy, "untether: hc is not healthy: it runs version 1.0.0, not 1.1.0"},
		{"stale poll", &stale, nil, exitUnhealthy, "last successful getUpdates was 1m0s ago (limit 34s)"},
		{"dead pid", &dead, []string{"--version", "1.0.0"}, exitUnhealthy, "is not running"},
		{"no status file", nil, nil, exitUnhealthy, "no status file at " + state.StatusPath(dir)},
		{"dev and config", &fresh, []string{"--dev"}, exitConfig, "--dev and --config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(state.StatusPath(dir))
			if tt.status != nil {
				if err := state.WriteStatus(state.StatusPath(dir), *tt.status); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := runCLI(t, append([]string{"healthcheck", "--config", cfg}, tt.args...)...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Fatalf("exit %d, output %q %q; want exit %d and %q", code, out, errOut, tt.code, tt.want)
			}
			if code != exitOK && strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
				t.Errorf("want one line (and a hint at most), got %q", errOut)
			}
		})
	}
}

// --dev reads the dev unit's instance, whatever $UNTETHER_CONFIG_PATH says;
// without it the environment variable picks the instance, as for `run`.
func TestHealthcheckDevInstance(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	other := filepath.Join(t.TempDir(), "untether.toml")
	t.Setenv("UNTETHER_CONFIG_PATH", other)
	devDir := filepath.Join(home, ".untether-dev")
	os.MkdirAll(devDir, 0o755)
	now := time.Now()
	s := state.Status{PID: os.Getpid(), Version: "0.9.0-dev", Instance: "dev", Started: now, Ready: true,
		LastPoll: now, State: state.StateRunning, Updated: now}
	if err := state.WriteStatus(state.StatusPath(devDir), s); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "healthcheck", "--dev", "--version", "0.9.0-dev"); code != exitOK {
		t.Fatalf("healthcheck --dev: exit %d: %s%s", code, out, errOut)
	}
	code, _, errOut := runCLI(t, "healthcheck")
	if code != exitUnhealthy || !strings.Contains(errOut, state.StatusPath(filepath.Dir(other))) {
		t.Fatalf("healthcheck with $UNTETHER_CONFIG_PATH: exit %d, %q; want the env's instance", code, errOut)
	}
	if got := filepath.Join(home, unitFor(true).StateDir); got != devDir {
		t.Fatalf("the dev unit's state dir is %s, --dev reads %s", got, devDir)
	}
}

// --wait keeps checking until the daemon is ready.
func TestHealthcheckWait(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "untether.toml")
	now := time.Now()
	s := state.Status{PID: os.Getpid(), Version: "1.0.0", Instance: "w", Started: now, State: state.StateRunning, Updated: now}
	state.WriteStatus(state.StatusPath(dir), s)
	timer := time.AfterFunc(500*time.Millisecond, func() {
		s.Ready, s.LastPoll = true, time.Now()
		state.WriteStatus(state.StatusPath(dir), s)
	})
	defer timer.Stop()
	start := time.Now()
	if code, out, errOut := runCLI(t, "healthcheck", "--config", cfg, "--wait", "10s"); code != exitOK {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if waited := time.Since(start); waited < 400*time.Millisecond {
		t.Errorf("healthy after %v, before the daemon was ready", waited)
	}
	code, _, errOut := runCLI(t, "healthcheck", "--config", cfg, "--wait", "300ms", "--version", "2.0.0")
	if code != exitUnhealthy || !strings.Contains(errOut, "not 2.0.0") {
		t.Fatalf("exit %d, %q; want the last reason after the wait", code, errOut)
	}
}

func TestStatusCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "untether.toml")
	now := time.Now()
	s := state.Status{PID: os.Getpid(), Version: "1.1.0-rc.1", Instance: "staging", ConfigPath: cfg,
		Started: now.Add(-90 * time.Minute), Ready: true, LastPoll: now.Add(-3 * time.Second),
		Running: 2, Queued: 1, State: state.StateRunning, Updated: now}
	state.WriteStatus(state.StatusPath(dir), s)
	code, out, errOut := runCLI(t, "status", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"staging", "1.1.0-rc.1", "(alive)", "1h30m", "3s ago", "2 in flight, 1 queued"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^health +ok$`).MatchString(out) {
		t.Errorf("a live, polling daemon is not healthy:\n%s", out)
	}
	s.PID = deadPID(t)
	state.WriteStatus(state.StatusPath(dir), s)
	_, out, _ = runCLI(t, "status", "--config", cfg)
	if !strings.Contains(out, "(not running)") || !strings.Contains(out, "NOT OK") {
		t.Errorf("status of a dead daemon:\n%s", out)
	}
}

func TestStatusWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), state.StatusFile)
	w := newStatusWriter(statusWriterOptions{Path: path, Version: "1.2.3", Instance: "sw",
		ConfigPath: "/c/untether.toml", PollTimeout: 2 * time.Second, Interval: 50 * time.Millisecond})
	w.Start(context.Background(), func() (int, int) { return 1, 3 })
	s, err := state.ReadStatus(path)
	if err != nil {
		t.Fatalf("nothing written at Start: %v", err)
	}
	if s.Ready || s.PID != os.Getpid() || s.Version != "1.2.3" || s.Instance != "sw" || s.State != state.StateRunning || s.Running != 1 || s.Queued != 3 {
		t.Fatalf("at Start: %+v", s)
	}
	w.Polled()
	waitStatus(t, path, "ready", func(s state.Status) bool { return s.Ready && !s.LastPoll.IsZero() })
	w.Draining()
	waitStatus(t, path, "draining", func(s state.Status) bool { return s.State == state.StateDraining })
	w.Close()
	w.Close()
	s, _ = state.ReadStatus(path)
	if s.State != state.StateStopped || s.PollTimeout != 2*time.Second {
		t.Fatalf("after Close: %+v", s)
	}
}

func waitStatus(t *testing.T, path, what string, cond func(state.Status) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := state.ReadStatus(path)
		if err == nil && cond(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never %s: %+v, %v", what, s, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
