package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// helper is the path of the stand-in engine built from testdata/helper.
var helper string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "untether-process-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "process tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	helper = filepath.Join(dir, "helper")
	out, err := exec.Command("go", "build", "-o", helper, "./testdata/helper").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "process tests: build helper: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func newRunner(t *testing.T) *Runner {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(Options{HomeRoot: filepath.Join(t.TempDir(), "homes"), Logger: log})
}

// helperSpec runs the helper with steps, shaped like an orchestrator Spec.
func helperSpec(t *testing.T, steps ...string) sandbox.Spec {
	t.Helper()
	return sandbox.Spec{
		Name:      "untether-processtest-" + strings.ReplaceAll(t.Name(), "/", "-"),
		Image:     "unused",
		Argv:      append([]string{helper}, steps...),
		Env:       map[string]string{"HOME": sandbox.HomeDir, "IS_SANDBOX": "1"},
		Workdir:   sandbox.WorkspaceDir,
		Mounts:    []sandbox.Mount{{Source: t.TempDir(), Target: sandbox.WorkspaceDir}},
		Volumes:   []sandbox.Volume{{Name: "untether-processtest-home", Target: sandbox.HomeDir}},
		Limits:    sandbox.Limits{MemoryBytes: 64 << 20, Pids: 32, CPUs: 1, Timeout: 30 * time.Second},
		StopGrace: time.Second,
	}
}

// run runs spec and collects its stdout lines; onLine, when set, also sees
// each line.
func run(t *testing.T, ctx context.Context, r *Runner, spec sandbox.Spec, onLine func(string)) (sandbox.Result, []string, error) {
	t.Helper()
	var lines []string
	res, err := r.Run(ctx, spec, func(b []byte) {
		lines = append(lines, string(b))
		if onLine != nil {
			onLine(string(b))
		}
	})
	return res, lines, err
}

func mustRun(t *testing.T, r *Runner, spec sandbox.Spec) (sandbox.Result, []string) {
	t.Helper()
	res, lines, err := run(t, context.Background(), r, spec, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res, lines
}

func TestStreamsLinesInOrder(t *testing.T) {
	r := newRunner(t)
	res, lines := mustRun(t, r, helperSpec(t, "lines=5000", "out=crlf\r", "outn=last"))
	if res.ExitCode != 0 {
		t.Fatalf("exit %d, stderr %q", res.ExitCode, res.StderrTail)
	}
	var want []string
	for i := 1; i <= 5000; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	want = append(want, "crlf", "last")
	if !slices.Equal(lines, want) {
		t.Fatalf("got %d lines, want %d in order; first difference near %q", len(lines), len(want), firstDiff(lines, want))
	}
}

// A run's result says what its process used: some memory, some CPU.
func TestUsage(t *testing.T) {
	r := newRunner(t)
	res, _ := mustRun(t, r, helperSpec(t, "lines=5000"))
	u := res.Usage
	if u == nil || u.PeakMemory < 1<<20 || u.PeakMemory > 1<<30 || u.CPU <= 0 || u.MemoryLimit != 0 {
		t.Errorf("usage = %+v, want some memory and CPU, no limit", u)
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i]
		}
	}
	return "the end"
}

// A line reaches onLine while the process still runs: the helper waits for
// a file the test creates only when it has seen the first line.
func TestStreamsWhileRunning(t *testing.T) {
	r := newRunner(t)
	flag := filepath.Join(t.TempDir(), "seen")
	spec := helperSpec(t, "out=first", "waitfile="+flag, "out=second")
	spec.Limits.Timeout = 10 * time.Second
	res, lines, err := run(t, context.Background(), r, spec, func(l string) {
		if l == "first" {
			if err := os.WriteFile(flag, nil, 0o600); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil || res.TimedOut || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v: the first line was not streamed before the process ended", res, err)
	}
	if !slices.Equal(lines, []string{"first", "second"}) {
		t.Fatalf("lines = %q", lines)
	}
}

func TestStdin(t *testing.T) {
	big := []byte(strings.Repeat("0123456789abcdef", 1<<16)) // 1 MiB, past any pipe buffer
	tests := []struct {
		name  string
		stdin []byte
		steps []string
		want  []string
	}{
		{name: "lines", stdin: []byte("hello\nworld\n"), steps: []string{"cat"}, want: []string{"in:hello", "in:world"}},
		{name: "large", stdin: big, steps: []string{"count"}, want: []string{"bytes=1048576"}},
		{name: "empty", stdin: []byte{}, steps: []string{"count"}, want: []string{"bytes=0"}},
		{name: "none reads as empty", stdin: nil, steps: []string{"count"}, want: []string{"bytes=0"}},
		{name: "unread", stdin: big, steps: []string{"out=bye"}, want: []string{"bye"}},
	}
	r := newRunner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := helperSpec(t, tt.steps...)
			if tt.stdin != nil {
				spec.Stdin = bytes.NewReader(tt.stdin)
			}
			spec.Limits.Timeout = 10 * time.Second
			res, lines := mustRun(t, r, spec)
			if res.ExitCode != 0 || res.TimedOut {
				t.Fatalf("Result %+v", res)
			}
			if !slices.Equal(lines, tt.want) {
				t.Fatalf("lines = %q, want %q", lines, tt.want)
			}
		})
	}
}

// A live stdin: each line written reaches the process while it runs, and
// closing the writer ends its input, so the process ends on its own.
func TestLiveStdin(t *testing.T) {
	r := newRunner(t)
	spec := helperSpec(t, "cat", "out=done")
	spec.Limits.Timeout = 20 * time.Second
	pr, pw := io.Pipe()
	spec.Stdin, spec.LiveStdin = pr, true
	echoes := make(chan string, 8)
	var res sandbox.Result
	var err error
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		res, err = r.Run(context.Background(), spec, func(l []byte) { echoes <- string(l) })
	}()
	for _, line := range []string{"first", "second"} {
		if _, err := io.WriteString(pw, line+"\n"); err != nil {
			t.Fatalf("write %s: %v", line, err)
		}
		select {
		case got := <-echoes:
			if got != "in:"+line {
				t.Fatalf("echo = %q, want in:%s", got, line)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no echo of %s", line)
		}
	}
	pw.Close()
	<-ran
	if err != nil || res.ExitCode != 0 || res.Cancelled || res.TimedOut || res.StdinEnded {
		t.Fatalf("Run = %+v, %v; want a process that ended on its own", res, err)
	}
	if got := <-echoes; got != "done" {
		t.Errorf("last line = %q, want done", got)
	}
}

// A Stdin that blocks in Read is closed once the process exited: Run
// returns, and the writer learns that nothing reads any more.
func TestStdinClosedWhenTheProcessEnds(t *testing.T) {
	spec := helperSpec(t, "out=bye")
	spec.Limits.Timeout = 20 * time.Second
	pr, pw := io.Pipe()
	spec.Stdin = pr
	res, lines := mustRun(t, newRunner(t), spec)
	if res.ExitCode != 0 || !slices.Equal(lines, []string{"bye"}) {
		t.Fatalf("Run = %+v, lines %q", res, lines)
	}
	if _, err := pw.Write([]byte("late\n")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("write after the run: err = %v, want io.ErrClosedPipe", err)
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		steps  []string
		code   int
		stderr string
	}{
		{name: "success", steps: []string{"out=ok"}, code: 0},
		{name: "failure", steps: []string{"err=it broke", "exit=3"}, code: 3, stderr: "it broke\n"},
		{name: "killed", steps: []string{"raise=KILL"}, code: 128 + 9},
		{name: "terminated", steps: []string{"raise=TERM"}, code: 128 + 15},
	}
	r := newRunner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := mustRun(t, r, helperSpec(t, tt.steps...))
			if res.ExitCode != tt.code || res.StderrTail != tt.stderr {
				t.Fatalf("exit %d, stderr %q; want %d, %q", res.ExitCode, res.StderrTail, tt.code, tt.stderr)
			}
			if res.Cancelled || res.TimedOut || res.OOMKilled || res.Duration <= 0 {
				t.Fatalf("Result %+v", res)
			}
		})
	}
}

func TestStderrTail(t *testing.T) {
	res, _ := mustRun(t, newRunner(t), helperSpec(t, "errbytes=100000"))
	if len(res.StderrTail) != sandbox.StderrTail || !strings.HasSuffix(res.StderrTail, "END") {
		t.Fatalf("stderr tail: %d bytes ending %q", len(res.StderrTail), res.StderrTail[max(0, len(res.StderrTail)-8):])
	}
}

func TestCancel(t *testing.T) {
	const grace = time.Second
	tests := []struct {
		name     string
		steps    []string
		code     int
		min, max time.Duration
	}{
		{name: "stops on SIGTERM", steps: []string{"out=ready", "sleep=1h"}, code: 128 + 15, max: grace},
		{name: "killed after the grace", steps: []string{"ignoreterm", "out=ready", "sleep=1h"}, code: 128 + 9, min: grace, max: grace + 2*time.Second},
	}
	r := newRunner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			spec := helperSpec(t, tt.steps...)
			spec.StopGrace = grace
			var cancelled time.Time
			res, _, err := run(t, ctx, r, spec, func(l string) {
				if l == "ready" {
					cancelled = time.Now()
					cancel()
				}
			})
			took := time.Since(cancelled)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Cancelled || res.TimedOut || res.ExitCode != tt.code {
				t.Fatalf("Result %+v; want cancelled with exit %d", res, tt.code)
			}
			if took < tt.min || took > tt.max {
				t.Fatalf("stopped %v after cancel; want between %v and %v", took, tt.min, tt.max)
			}
		})
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newRunner(t)
	_, lines, err := run(t, ctx, r, helperSpec(t, "writehome=ran:yes", "out=ran"), nil)
	if !errors.Is(err, context.Canceled) || len(lines) != 0 {
		t.Fatalf("Run = %q, %v; want context.Canceled and nothing run", lines, err)
	}
	if _, err := os.Stat(filepath.Join(r.homeRoot, "untether-processtest-home", "ran")); err == nil {
		t.Fatal("the process ran")
	}
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		name  string
		steps []string
		code  int
	}{
		{name: "stops on SIGTERM", steps: []string{"sleep=1h"}, code: 128 + 15},
		{name: "killed after the grace", steps: []string{"ignoreterm", "sleep=1h"}, code: 128 + 9},
	}
	r := newRunner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := helperSpec(t, tt.steps...)
			spec.Limits.Timeout = 300 * time.Millisecond
			spec.StopGrace = 500 * time.Millisecond
			res, _ := mustRun(t, r, spec)
			if !res.TimedOut || res.Cancelled || res.ExitCode != tt.code {
				t.Fatalf("Result %+v; want timed out with exit %d", res, tt.code)
			}
			if res.Duration < spec.Limits.Timeout || res.Duration > spec.Limits.Timeout+spec.StopGrace+2*time.Second {
				t.Fatalf("took %v", res.Duration)
			}
		})
	}
}

// dead reports whether pid has exited: gone, or a zombie nobody reaped yet.
func dead(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !dead(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d still alive after the run ended", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// Grandchildren that ignore SIGTERM and hold stdout open die with the run,
// whether the engine exits by itself, is cancelled or times out; Run does
// not wait for its drain timeout.
func TestGrandchildrenKilled(t *testing.T) {
	tests := []struct {
		name    string
		steps   []string
		cancel  bool
		timeout time.Duration
	}{
		{name: "engine exits", steps: []string{"out=ready", "exit=0"}},
		{name: "engine fails", steps: []string{"out=ready", "exit=2"}},
		{name: "cancelled", steps: []string{"out=ready", "sleep=1h"}, cancel: true},
		{name: "timed out", steps: []string{"out=ready", "sleep=1h"}, timeout: 500 * time.Millisecond},
	}
	r := newRunner(t)
	r.drain = time.Minute // an output that waits for the drain fails the test's time bound
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			spec := helperSpec(t, append([]string{"spawn=" + pidfile}, tt.steps...)...)
			if tt.timeout > 0 {
				spec.Limits.Timeout = tt.timeout
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			start := time.Now()
			res, _, err := run(t, ctx, r, spec, func(l string) {
				if l == "ready" && tt.cancel {
					cancel()
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Fatalf("Run took %v", took)
			}
			if res.Cancelled != tt.cancel || res.TimedOut != (tt.timeout > 0) {
				t.Fatalf("Result %+v", res)
			}
			waitDead(t, readPid(t, pidfile))
		})
	}
}

// A process that leaves the session escapes the kill (documented); Run still
// returns after the drain timeout although it holds stdout open.
func TestEscapedProcessDoesNotHoldRun(t *testing.T) {
	r := newRunner(t)
	r.drain = 300 * time.Millisecond
	pidfile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	res, lines := mustRun(t, r, helperSpec(t, "escape="+pidfile, "out=bye"))
	pid := readPid(t, pidfile)
	syscall.Kill(pid, syscall.SIGKILL)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Run took %v", took)
	}
	if res.ExitCode != 0 || !slices.Equal(lines, []string{"bye"}) {
		t.Fatalf("Result %+v, lines %q", res, lines)
	}
}

func TestOwnSession(t *testing.T) {
	_, lines := mustRun(t, newRunner(t), helperSpec(t, "ids"))
	if !slices.Equal(lines, []string{"leader=true"}) {
		t.Fatalf("lines = %q; want the process to lead its own session and group", lines)
	}
}

// Nothing of the bridge's environment but PATH reaches the engine.
func TestEnvIsolation(t *testing.T) {
	t.Setenv("UNTETHER_BOT_TOKEN", "123456:bot-secret")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
	r := newRunner(t)
	spec := helperSpec(t, "environ")
	spec.Env["ANTHROPIC_API_KEY"] = "engine-key"
	_, lines := mustRun(t, r, spec)
	env := map[string]string{}
	for _, l := range lines {
		k, v, _ := strings.Cut(strings.TrimPrefix(l, "env:"), "=")
		env[k] = v
	}
	var names []string
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	if want := []string{"ANTHROPIC_API_KEY", "HOME", "IS_SANDBOX", "PATH"}; !slices.Equal(names, want) {
		t.Fatalf("environment names %q, want %q", names, want)
	}
	if env["PATH"] != os.Getenv("PATH") || env["ANTHROPIC_API_KEY"] != "engine-key" {
		t.Fatalf("environment %q", env)
	}
}

func TestHomeAndWorkdir(t *testing.T) {
	r := newRunner(t)
	spec := helperSpec(t, "env=HOME", "env=XDG_CONFIG_HOME", "env=PROJECT", "pwd")
	spec.Env["XDG_CONFIG_HOME"] = sandbox.HomeDir + "/.config"
	spec.Env["PROJECT"] = sandbox.WorkspaceDir
	project := spec.Mounts[0].Source
	_, lines := mustRun(t, r, spec)
	home := filepath.Join(r.homeRoot, "untether-processtest-home")
	realProject, err := filepath.EvalSymlinks(project)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home + "/.config", "PROJECT=" + project, realProject}
	if !slices.Equal(lines, want) {
		t.Fatalf("lines = %q\nwant    %q", lines, want)
	}
	for _, d := range []string{r.homeRoot, home} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", d, fi.Mode().Perm())
		}
	}
}

// A volume keeps what the engine wrote for the next run of the same volume,
// and only for it.
func TestHomePersists(t *testing.T) {
	r := newRunner(t)
	if res, _ := mustRun(t, r, helperSpec(t, "writehome=session:abc123")); res.ExitCode != 0 {
		t.Fatalf("write: %+v", res)
	}
	res, lines := mustRun(t, r, helperSpec(t, "readhome=session"))
	if res.ExitCode != 0 || !slices.Equal(lines, []string{"home:abc123"}) {
		t.Fatalf("read: %+v %q", res, lines)
	}
	other := helperSpec(t, "readhome=session")
	other.Volumes[0].Name = "untether-processtest-other-home"
	if res, _ := mustRun(t, r, other); res.ExitCode == 0 {
		t.Fatal("another volume sees the first one's files")
	}
}

func TestEngineLookup(t *testing.T) {
	helperDir := filepath.Dir(helper)
	t.Run("missing binary", func(t *testing.T) {
		for _, name := range []string{"untether-no-such-engine", "/nonexistent/engine", "bin/engine"} {
			spec := helperSpec(t)
			spec.Argv = []string{name, "-p"}
			_, lines, err := run(t, context.Background(), newRunner(t), spec, nil)
			if !errors.Is(err, ErrEngineNotFound) || len(lines) != 0 {
				t.Errorf("%s: Run error %v, want ErrEngineNotFound", name, err)
			}
		}
	})
	t.Run("found in the bridge's PATH", func(t *testing.T) {
		t.Setenv("PATH", "/nonexistent:"+helperDir)
		spec := helperSpec(t, "out=found")
		spec.Argv[0] = "helper"
		if _, lines := mustRun(t, newRunner(t), spec); !slices.Equal(lines, []string{"found"}) {
			t.Fatalf("lines %q", lines)
		}
	})
	t.Run("found in the spec's PATH", func(t *testing.T) {
		t.Setenv("PATH", "/nonexistent")
		spec := helperSpec(t, "out=found")
		spec.Argv[0] = "helper"
		spec.Env["PATH"] = helperDir
		if _, lines := mustRun(t, newRunner(t), spec); !slices.Equal(lines, []string{"found"}) {
			t.Fatalf("lines %q", lines)
		}
	})
}

func TestRefusesWhatItCannotEnforce(t *testing.T) {
	spec := helperSpec(t, "out=ran")
	spec.Network = sandbox.NetworkNone
	_, lines, err := run(t, context.Background(), newRunner(t), spec, nil)
	if !errors.Is(err, errors.ErrUnsupported) || len(lines) != 0 {
		t.Fatalf("Run = %q, %v; want errors.ErrUnsupported", lines, err)
	}
}

func TestConcurrentRuns(t *testing.T) {
	r := newRunner(t)
	var wg sync.WaitGroup
	for i := range 4 {
		spec := helperSpec(t, "lines=2000", "exit="+strconv.Itoa(i))
		wg.Go(func() {
			var n int
			res, err := r.Run(context.Background(), spec, func([]byte) { n++ })
			if err != nil || res.ExitCode != i || n != 2000 {
				t.Errorf("run %d: %+v, %v, %d lines", i, res, err, n)
			}
		})
	}
	wg.Wait()
}
