package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	fakeOnce sync.Once
	fakeDir  string
	fakeErr  error
)

// fakeEngineDir builds the fake engine as `claude` into a directory for
// the process backend's PATH.
func fakeEngineDir(t testing.TB) string {
	t.Helper()
	fakeOnce.Do(func() {
		fakeDir, fakeErr = os.MkdirTemp("", "untether-fake-")
		if fakeErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(fakeDir, "claude"), "../../engines/enginetest/fakeengine")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fakeErr = err
			t.Logf("%s", out)
		}
	})
	if fakeErr != nil {
		t.Fatalf("build the fake engine: %v", fakeErr)
	}
	return fakeDir
}

// TestProcessBackendRunsUnsandboxed: with sandbox = "process" a message runs
// the engine as a plain process in the project directory, through the same
// event path, and the bridge says it is unsandboxed.
func TestProcessBackendRunsUnsandboxed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{backend: "process"})
	w.env = []string{"PATH=" + fakeEngineDir(t) + ":" + os.Getenv("PATH")}
	d := w.start()
	sent := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
	f := w.finalReply(groupChat, sent.MessageID, time.Minute)
	if !strings.HasPrefix(f.Text, "done · claude") || !strings.Contains(f.Text, "Done. Created hello.txt.") {
		t.Errorf("answer = %q", f.Text)
	}
	calls := w.engineCalls()
	if len(calls) != 1 || calls[0].Cwd != w.project {
		t.Errorf("engine calls = %+v, want one in %s", calls, w.project)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "homes", "untether-"+w.instance+"-test-claude-claude-home", ".claude")); err != nil {
		t.Errorf("the engine's home is not under the instance directory: %v", err)
	}
	if !strings.Contains(d.out.String(), "UNSANDBOXED") {
		t.Errorf("the daemon did not warn that runs are unsandboxed:\n%s", d.out.String())
	}
	doctor := exec.Command(binPath, "doctor", "--config", w.configPath)
	doctor.Env = append(cleanEnv(), w.env...)
	out, _ := doctor.CombinedOutput()
	if !strings.Contains(string(out), "WARN  sandbox: process: engines run UNSANDBOXED") ||
		!strings.Contains(string(out), "ok    engine claude: "+filepath.Join(fakeEngineDir(t), "claude")) {
		t.Errorf("doctor with the process backend:\n%s", out)
	}
}
