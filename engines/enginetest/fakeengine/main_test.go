package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/untether-go/untether/engines/enginetest/captures"
)

// binDir holds the fake built by TestMain, linked under every engine's name
// and as aider, a name no fake answers to.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fakeengine-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Other users run the fake too (TestNonRootSkipsRefusal).
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin := filepath.Join(dir, "fakeengine")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fakeengine: %v\n%s", err, out)
		return 1
	}
	for _, name := range append(engineNames(), stdinHelperName, "aider") {
		if err := os.Symlink("fakeengine", filepath.Join(dir, name)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	binDir = dir
	return m.Run()
}

// headless is the argv the daemon gives claude, before the model, resume
// and prompt.
var headless = []string{"-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "bypassPermissions"}

// argv returns headless followed by more.
func argv(more ...string) []string {
	return append(append([]string{}, headless...), more...)
}

// fakeCmd describes one run of the fake.
type fakeCmd struct {
	name  string   // engine name, "claude" when empty
	args  []string // without the program name
	dir   string   // working directory; a new temp dir when empty
	home  string   // HOME; a new temp dir when empty
	env   []string // replaces the default environment when not nil
	stdin string
	cred  *syscall.Credential
	// setpgid starts the run in a process group of its own.
	setpgid bool
}

// fakeResult is what a finished run left.
type fakeResult struct {
	stdout, stderr string
	code           int // exit status, -1 when killed by a signal
	dir, home      string
}

// command prepares c without starting it.
func (c *fakeCmd) command(t *testing.T) *exec.Cmd {
	t.Helper()
	if c.name == "" {
		c.name = "claude"
	}
	if c.dir == "" {
		c.dir = t.TempDir()
	}
	if c.home == "" {
		c.home = t.TempDir()
	}
	cmd := exec.Command(filepath.Join(binDir, c.name), c.args...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	if cmd.Env == nil {
		cmd.Env = []string{"PATH=" + binDir, "HOME=" + c.home, "IS_SANDBOX=1"}
	}
	cmd.Stdin = strings.NewReader(c.stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: c.setpgid}
	return cmd
}

// run runs c to the end (at most a minute).
func (c fakeCmd) run(t *testing.T) fakeResult {
	t.Helper()
	cmd := c.command(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fake: %v", err)
	}
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	code, err := exitCode(cmd.Wait())
	if err != nil {
		t.Fatalf("run fake %v: %v", c.args, err)
	}
	return fakeResult{stdout: stdout.String(), stderr: stderr.String(), code: code, dir: c.dir, home: c.home}
}

// exitCode returns the exit status a Wait error stands for, -1 for a
// signal.
func exitCode(err error) (int, error) {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		return ee.ExitCode(), nil
	}
	return 0, err
}

// startedFake is a running fake whose stdout the test reads line by line.
type startedFake struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr *bytes.Buffer
}

// start starts c; the run is killed when the test ends.
func (c fakeCmd) start(t *testing.T) *startedFake {
	t.Helper()
	cmd := c.command(t)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fake: %v", err)
	}
	f := &startedFake{cmd: cmd, stdout: stdout, stderr: &stderr}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return f
}

// readLine reads one line of stdout, failing the test after a while.
func (f *startedFake) readLine(t *testing.T) string {
	t.Helper()
	type result struct {
		line string
		err  error
	}
	got := make(chan result, 1)
	go func() { // ends with the read; the fake is killed on cleanup at the latest
		var line []byte
		b := make([]byte, 1)
		for {
			if _, err := f.stdout.Read(b); err != nil {
				got <- result{string(line), err}
				return
			}
			line = append(line, b[0])
			if b[0] == '\n' {
				got <- result{string(line), nil}
				return
			}
		}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("read stdout: %v (stderr: %s)", r.err, f.stderr)
		}
		return r.line
	case <-time.After(30 * time.Second):
		t.Fatalf("no line on stdout after 30s")
	}
	return ""
}

// wait waits for the fake to exit and returns its status (-1 for a
// signal) and the rest of stdout.
func (f *startedFake) wait(t *testing.T, within time.Duration) (int, string) {
	t.Helper()
	rest := make(chan []byte, 1)
	go func() { // ends at EOF, when the fake exits
		b, _ := io.ReadAll(f.stdout)
		rest <- b
	}()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	var out []byte
	select {
	case out = <-rest:
	case <-ctx.Done():
		t.Fatalf("fake still running after %s", within)
	}
	code, err := exitCode(f.cmd.Wait())
	if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// fixture returns a captured claude stream as the fake embeds it.
func fixture(t *testing.T, name string) string {
	t.Helper()
	return fixtureOf(t, "claude", name)
}

// fixtureOf returns a captured stream of engine as the fake embeds it.
func fixtureOf(t *testing.T, engine, name string) string {
	t.Helper()
	b, err := fs.ReadFile(captures.Engine(engine), name+".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stderrOf returns the captured stderr of a case of engine.
func stderrOf(t *testing.T, engine, name string) string {
	t.Helper()
	b, err := fs.ReadFile(captures.Engine(engine), name+".stderr.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
