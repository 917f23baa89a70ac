package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// basicLines are the lines the fake claude prints for an ordinary prompt.
func basicLines(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "engines", "enginetest", "captures", "claude", "basic.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// runDetached starts spec on a Runner of its own, detaches that Runner once
// the first line came and returns how long Run then took to return, which
// must be with ErrDetached.
func runDetached(t *testing.T, spec sandbox.Spec) time.Duration {
	t.Helper()
	t.Cleanup(func() { svc.Podman(context.Background(), "rm", "-f", "-t", "0", spec.Name) })
	r := New(Options{URL: svc.URL})
	var got lines
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), spec, got.add)
		done <- err
	}()
	pollLines(t, &got, 1)
	start := time.Now()
	r.Detach()
	err := <-done
	took := time.Since(start)
	if !errors.Is(err, sandbox.ErrDetached) {
		t.Fatalf("Run after Detach: err = %v, want ErrDetached", err)
	}
	return took
}

func status(t *testing.T, name string) string {
	t.Helper()
	out, err := svc.Podman(context.Background(), "inspect", "--format", "{{.State.Status}}", name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestDetachLeavesTheRunAndReattachReplaysIt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin bool
	}{
		{"prompt in argv", false},
		{"prompt on stdin", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := claudeSpec(t, "create hello.txt fake:sleep=2s")
			if tc.stdin {
				spec.Argv = spec.Argv[:len(spec.Argv)-2]
				spec.Stdin = strings.NewReader("create hello.txt fake:sleep=2s\n")
			}
			if took := runDetached(t, spec); took > time.Second {
				t.Errorf("Run took %v to return after Detach", took)
			} else {
				t.Logf("Run returned %v after Detach", took)
			}
			if s := status(t, spec.Name); s != "running" {
				t.Fatalf("detached container is %s, want running", s)
			}

			var got lines
			res, err := New(Options{URL: svc.URL}).Reattach(context.Background(), spec.Name, nil, got.add)
			if err != nil {
				t.Fatal(err)
			}
			if want := basicLines(t); !slices.Equal(got.get(), want) {
				t.Errorf("reattach streamed %d lines, want the %d lines of basic.jsonl:\n%s", len(got.get()), len(want), strings.Join(got.get(), "\n"))
			}
			// Duration is Podman's StartedAt to FinishedAt: StartedAt is
			// taken once the runtime started the process, which may be a
			// few ms into its 2 s sleep.
			if res.ExitCode != 0 || res.OOMKilled || res.Cancelled || res.TimedOut || res.Duration < 1900*time.Millisecond {
				t.Errorf("result = %+v", res)
			}
			if exists(t, spec.Name) {
				t.Errorf("container %s still exists", spec.Name)
			}
		})
	}
}

func TestRunAfterDetachCreatesNothing(t *testing.T) {
	r := New(Options{URL: svc.URL})
	r.Detach()
	r.Detach() // idempotent
	spec := claudeSpec(t, "create hello.txt")
	if _, err := r.Run(context.Background(), spec, func([]byte) {}); !errors.Is(err, sandbox.ErrDetached) {
		t.Errorf("Run: err = %v, want ErrDetached", err)
	}
	if exists(t, spec.Name) {
		t.Errorf("Run after Detach created %s", spec.Name)
	}
	if _, err := r.Reattach(context.Background(), spec.Name, nil, func([]byte) {}); !errors.Is(err, sandbox.ErrDetached) {
		t.Errorf("Reattach: err = %v, want ErrDetached", err)
	}
}

func TestReattachAfterTheRunEnded(t *testing.T) {
	basic := basicLines(t)
	last := basic[len(basic)-1]
	for _, tc := range []struct {
		name   string
		prompt string
		exit   int
		stderr string
		want   []string // nil: check the lines are JSON, one of them long
	}{
		{"success", "create hello.txt fake:sleep=1s", 0, "", basic},
		{"crash", "fake:sleep=1s fake:exit=3", 3, "crashing on request", basic[:1]},
		{"last line without newline", "fake:sleep=1s fake:cut", 1, "cut the stream", append(basic[:len(basic)-1:len(basic)-1], last[:len(last)/2])},
		{"lines longer than the log's chunks", "fake:sleep=1s fake:answer-bytes=100000", 0, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := claudeSpec(t, tc.prompt)
			runDetached(t, spec)
			if _, err := svc.Podman(context.Background(), "wait", spec.Name); err != nil {
				t.Fatal(err)
			}

			var got lines
			start := time.Now()
			res, err := New(Options{URL: svc.URL}).Reattach(context.Background(), spec.Name, nil, got.add)
			t.Logf("reattach to the ended container took %v", time.Since(start))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !slices.Equal(got.get(), tc.want) {
				t.Errorf("reattach streamed %d lines, want %d:\n%s", len(got.get()), len(tc.want), strings.Join(got.get(), "\n"))
			}
			if tc.want == nil {
				checkLongJSONLines(t, got.get(), 100000)
			}
			if res.ExitCode != tc.exit || res.OOMKilled || res.Cancelled || res.TimedOut {
				t.Errorf("result = %+v, want exit %d", res, tc.exit)
			}
			if !strings.Contains(res.StderrTail, tc.stderr) {
				t.Errorf("stderr tail %q lacks %q", res.StderrTail, tc.stderr)
			}
			if exists(t, spec.Name) {
				t.Errorf("container %s still exists", spec.Name)
			}
		})
	}
}

// checkLongJSONLines checks that every line is a JSON value and that one is
// at least long bytes: long lines reach the log in chunks.
func checkLongJSONLines(t *testing.T, got []string, long int) {
	t.Helper()
	longest := 0
	for i, l := range got {
		if !json.Valid([]byte(l)) {
			t.Errorf("line %d is not JSON: %.200q", i, l)
		}
		longest = max(longest, len(l))
	}
	if len(got) < 2 || longest < long {
		t.Errorf("%d lines, the longest %d bytes; want one of %d bytes or more", len(got), longest, long)
	}
}

func TestReattachKeepsTheOriginalDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		// before is how long after Run started Reattach is called.
		before time.Duration
	}{
		{"deadline ahead", 5 * time.Second, 2 * time.Second},
		{"deadline passed", 2 * time.Second, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := claudeSpec(t, "fake:sleep=60s")
			spec.Limits.Timeout = tc.timeout
			start := time.Now()
			runDetached(t, spec)
			time.Sleep(time.Until(start.Add(tc.before)))

			res, err := New(Options{URL: svc.URL}).Reattach(context.Background(), spec.Name, nil, func([]byte) {})
			if err != nil {
				t.Fatal(err)
			}
			ended := time.Since(start)
			if !res.TimedOut || res.Cancelled || res.OOMKilled {
				t.Errorf("result = %+v, want timed out", res)
			}
			// The fake ends on SIGTERM at once; the margin is for Podman.
			if latest := max(tc.timeout, tc.before) + 4*time.Second; ended < tc.timeout || ended > latest {
				t.Errorf("run ended %v after it started, want between %v and %v", ended, tc.timeout, latest)
			}
			if exists(t, spec.Name) {
				t.Errorf("container %s still exists", spec.Name)
			}
		})
	}
}

func TestReattachUnknownContainer(t *testing.T) {
	_, err := New(Options{URL: svc.URL}).Reattach(context.Background(), "untether-podmantest-no-such-container", nil, func([]byte) {})
	if !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = New(Options{URL: "unix://" + filepath.Join(t.TempDir(), "none.sock")}).Reattach(ctx, "any", nil, func([]byte) {})
	if !errors.Is(err, sandbox.ErrUnavailable) {
		t.Errorf("no podman: err = %v, want ErrUnavailable", err)
	}
}

func TestReattachDetachesAndCancels(t *testing.T) {
	spec := claudeSpec(t, "fake:sleep=60s")
	runDetached(t, spec)

	// A second daemon that detaches in turn leaves the container running.
	r := New(Options{URL: svc.URL})
	var got lines
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, err := r.Reattach(ctx, spec.Name, nil, got.add)
		done <- err
	}()
	pollLines(t, &got, 1)
	start := time.Now()
	r.Detach()
	cancel()
	if err := <-done; !errors.Is(err, sandbox.ErrDetached) {
		t.Fatalf("Reattach after Detach: err = %v, want ErrDetached", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Reattach took %v to return after Detach", took)
	}
	if s := status(t, spec.Name); s != "running" {
		t.Fatalf("detached container is %s, want running", s)
	}

	// A third one that is cancelled stops and removes it.
	var again lines
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var res sandbox.Result
	var err error
	finished := make(chan struct{})
	go func() {
		res, err = New(Options{URL: svc.URL}).Reattach(ctx, spec.Name, nil, again.add)
		close(finished)
	}()
	pollLines(t, &again, 1)
	cancel()
	<-finished
	if err != nil {
		t.Fatal(err)
	}
	if !res.Cancelled || res.TimedOut || res.OOMKilled {
		t.Errorf("result = %+v, want cancelled", res)
	}
	if exists(t, spec.Name) {
		t.Errorf("container %s still exists", spec.Name)
	}
}

func TestReattachSeesOOM(t *testing.T) {
	spec := claudeSpec(t, "fake:sleep=1s fake:oom")
	spec.Limits.MemoryBytes = 32 << 20
	runDetached(t, spec)
	res, err := New(Options{URL: svc.URL}).Reattach(context.Background(), spec.Name, nil, func([]byte) {})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OOMKilled || res.ExitCode != 137 {
		t.Errorf("result = %+v, want OOM-killed with exit 137", res)
	}
}

func TestResumeWriterSkipsWhatWasPassedOn(t *testing.T) {
	stream := []string{"ab", "cde\n", "f", "gh\n"}
	for cut := 0; cut <= len(stream); cut++ {
		var out bytes.Buffer
		w := &resumeWriter{w: &out}
		for _, s := range stream[:cut] {
			w.Write([]byte(s))
		}
		w.restart()
		// The second read chunks the same bytes differently.
		for _, s := range []string{"abc", "de\nfg", "h\n"} {
			w.Write([]byte(s))
		}
		if got := out.String(); got != "abcde\nfgh\n" {
			t.Errorf("cut after %d chunks: passed on %q", cut, got)
		}
	}
}

func TestKeptContainerIsReadAgainUntilRemoved(t *testing.T) {
	r := New(Options{URL: svc.URL})
	spec := claudeSpec(t, "fake:exit=3")
	spec.Keep = true
	t.Cleanup(func() { svc.Podman(context.Background(), "rm", "-f", spec.Name) })
	var ran lines
	res, err := r.Run(context.Background(), spec, ran.add)
	if err != nil {
		t.Fatal(err)
	}
	if s := status(t, spec.Name); s != "exited" {
		t.Fatalf("kept container is %s, want exited", s)
	}
	for i := range 2 {
		var got lines
		again, err := New(Options{URL: svc.URL}).Reattach(context.Background(), spec.Name, nil, got.add)
		if err != nil {
			t.Fatalf("reattach %d: %v", i, err)
		}
		if !slices.Equal(got.get(), ran.get()) || len(got.get()) == 0 {
			t.Errorf("reattach %d streamed %q, Run streamed %q", i, got.get(), ran.get())
		}
		if again.ExitCode != res.ExitCode || again.StderrTail != res.StderrTail {
			t.Errorf("reattach %d: result = %+v, Run's = %+v", i, again, res)
		}
	}
	pr, pw := io.Pipe()
	if _, err := r.Reattach(context.Background(), spec.Name, pr, func([]byte) {}); err == nil || !strings.Contains(err.Error(), "without a live stdin") {
		t.Errorf("reattach with a stdin to a run without a live stdin: err = %v", err)
	}
	if _, err := pw.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("the refused stdin was not closed: write err = %v", err)
	}
	if !exists(t, spec.Name) {
		t.Fatalf("a refused reattach removed %s", spec.Name)
	}
	if err := r.RemoveContainer(context.Background(), spec.Name); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveContainer(context.Background(), spec.Name); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("removing it twice: err = %v, want ErrNotFound", err)
	}
}

func TestReattachRemovesANeverStartedContainer(t *testing.T) {
	spec := claudeSpec(t, "x")
	t.Cleanup(func() { svc.Podman(context.Background(), "rm", "-f", spec.Name) })
	if _, err := svc.Podman(context.Background(), "create", "--name", spec.Name, "--label", labelKeep+"=true", spec.Image, "claude", "--version"); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{URL: svc.URL}).Reattach(context.Background(), spec.Name, nil, func([]byte) {})
	if !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
	if exists(t, spec.Name) {
		t.Errorf("never started container %s still exists", spec.Name)
	}
}

// A drain detaches, then cancels, whatever each run is doing: every run not
// yet ended returns ErrDetached, and a container left behind carries the
// whole run, its stdin included.
func TestDetachThenCancelAtAnyPoint(t *testing.T) {
	for _, ms := range []time.Duration{0, 300, 700, 900, 1100, 1300, 1600} {
		after := ms * time.Millisecond
		t.Run(after.String(), func(t *testing.T) {
			spec := claudeSpec(t, "")
			spec.Argv = spec.Argv[:len(spec.Argv)-2]
			spec.Stdin = strings.NewReader("create hello.txt fake:sleep=1s\n")
			t.Cleanup(func() { svc.Podman(context.Background(), "rm", "-f", "-t", "0", spec.Name) })
			r := New(Options{URL: svc.URL})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := r.Run(ctx, spec, func([]byte) {})
				done <- err
			}()
			time.Sleep(after)
			r.Detach()
			cancel()
			err := <-done
			if err == nil {
				t.Logf("the run ended before Detach")
				return
			}
			if !errors.Is(err, sandbox.ErrDetached) {
				t.Fatalf("err = %v, want ErrDetached", err)
			}
			var got lines
			res, err := New(Options{URL: svc.URL}).Reattach(context.Background(), spec.Name, nil, got.add)
			if errors.Is(err, sandbox.ErrNotFound) {
				t.Logf("detached before the container started")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("reattached to the detached run")
			if want := basicLines(t); !slices.Equal(got.get(), want) || res.ExitCode != 0 {
				t.Errorf("reattach: exit %d, %d lines, want exit 0 and the %d lines of basic.jsonl", res.ExitCode, len(got.get()), len(want))
			}
		})
	}
}
