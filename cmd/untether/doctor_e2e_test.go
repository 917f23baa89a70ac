package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDoctorPassesHere: as root on this host, with the test image present,
// every check passes, one line each.
func TestDoctorPassesHere(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	out, err := w.untether("doctor", "--config", w.configPath)
	if err != nil {
		t.Fatalf("doctor failed: %v\n%s", err, out)
	}
	for _, want := range []string{"ok    config", "ok    podman", "ok    limits", "ok    image " + testImage + " for claude", "ok    telegram bot @"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if os.Geteuid() != 0 {
		t.Errorf("this check is meant to run as root (make test runs as root)")
	}
}

// TestDoctorNamesWhatIsMissing: a missing image and a refused token fail
// the doctor with a line each and the command that fixes the image.
func TestDoctorNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	cfg, err := os.ReadFile(w.configPath)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(cfg), "claude = \""+testImage+"\"", "claude = \"localhost/untether-no-such-image:latest\"", 1)
	broken = strings.Replace(broken, w.tg.Token(), "987654321:AAE-untether-telegramtest-token-999", 1)
	if err := os.WriteFile(w.configPath, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := w.untether("doctor", "--config", w.configPath)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("doctor passed with a missing image and a bad token:\n%s", out)
	}
	for _, want := range []string{"FAIL  image localhost/untether-no-such-image:latest for claude is missing: build it with 'untether images build claude'",
		"FAIL  telegram bot", "ok    limits"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
}
