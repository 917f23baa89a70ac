package podman

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// waitWarm waits until r holds a ready warm container and returns its id.
func waitWarm(t *testing.T, r *Runner) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r.pool.mu.Lock()
		for _, c := range r.pool.ready {
			r.pool.mu.Unlock()
			return c.id
		}
		broken := len(r.pool.broken) > 0
		r.pool.mu.Unlock()
		if broken {
			t.Fatalf("warm containers broken: %v", r.pool.broken)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no warm container after 30 s")
	return ""
}

func containerID(t *testing.T, name string) string {
	t.Helper()
	out, err := svc.Podman(context.Background(), "inspect", "--format", "{{.Id}}", name)
	if err != nil {
		t.Fatalf("inspect %s: %v\n%s", name, err, out)
	}
	return strings.TrimSpace(string(out))
}

// An interactive run takes a warm container: its live stdin works through
// the launcher, a detached run is reattached by its name, and Close
// removes the warm container made for the next run.
func TestWarmLiveStdinRunDetachesAndReattaches(t *testing.T) {
	spec := liveSpec(testName(), t.TempDir())
	spec.Labels[sandbox.LabelInstance] = "podmantest-warm"
	removeRun(t, spec.Name)
	r := New(Options{URL: svc.URL, Warm: true})
	if err := r.Warm(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	warmID := waitWarm(t, r)
	t.Cleanup(func() { svc.Podman(context.Background(), "rm", "-f", "-t", "0", warmID) })

	pr, pw := io.Pipe()
	spec.Stdin = pr
	e := newEchoes()
	done := make(chan outcome, 1)
	go func() {
		res, err := r.Run(context.Background(), spec, e.add)
		done <- outcome{res, err}
	}()
	roundTrip(t, pw, e, "1")
	if id := containerID(t, spec.Name); id != warmID {
		t.Errorf("the run's container is %.12s, not the warm %.12s", id, warmID)
	}
	r.Detach()
	if o := <-done; !errors.Is(o.err, sandbox.ErrDetached) {
		t.Fatalf("Run after Detach = %+v, %v; want ErrDetached", o.res, o.err)
	}
	r.Close()
	list, err := New(Options{URL: svc.URL}).Containers(context.Background(), "podmantest-warm")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Warm {
			t.Errorf("warm container %s left after Close", c.Name)
		}
	}

	pr2, pw2 := io.Pipe()
	res := make(chan outcome, 1)
	go func() {
		res2, err := New(Options{URL: svc.URL}).Reattach(context.Background(), spec.Name, pr2, e.add)
		res <- outcome{res2, err}
	}()
	e.next(t, "1") // the stream again from its first line
	roundTrip(t, pw2, e, "2")
	pw2.Close()
	if o := <-res; o.err != nil || !o.res.StdinEnded {
		t.Errorf("reattach = %+v, %v; want ended by its stdin", o.res, o.err)
	}
}

// A one-shot run with a prompt on stdin takes a warm container and gets
// its argv, environment and stdin through the launcher.
func TestWarmOneShotRun(t *testing.T) {
	spec := claudeSpec(t, "create hello.txt")
	spec.Labels[sandbox.LabelInstance] = "podmantest-warm1"
	removeRun(t, spec.Name)
	r := New(Options{URL: svc.URL, Warm: true})
	defer r.Close()
	if err := r.Warm(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	warmID := waitWarm(t, r)
	var l lines
	res, err := r.Run(context.Background(), spec, l.add)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	got := l.get()
	if len(got) < 2 || !strings.Contains(got[len(got)-1], `"result"`) {
		t.Errorf("lines = %q", got)
	}
	if res.Usage == nil || res.Usage.PeakMemory == 0 || res.Duration <= 0 || res.Duration > 30*time.Second {
		t.Errorf("result usage %+v, duration %v", res.Usage, res.Duration)
	}
	if exists(t, spec.Name) {
		t.Errorf("container %s still exists", spec.Name)
	}
	if id := waitWarm(t, r); id == warmID {
		t.Errorf("no new warm container after the run took one")
	}
}
