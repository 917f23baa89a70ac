package podman

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/engines/enginetest"
	"github.com/untether-go/untether/internal/podmantest"
	"github.com/untether-go/untether/sandbox"
)

// remoteHost starts the second host once per test binary (it costs an
// sshd, a Podman service and an image copy); the tests that use it share
// it and leave it as they found it.
var remoteHost = sync.OnceValues(func() (*podmantest.Remote, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := podmantest.StartRemote(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.LoadImage(ctx, svc, enginetest.DefaultTag); err != nil {
		r.Stop()
		return nil, err
	}
	remotes = append(remotes, r)
	return r, nil
})

// remotes are stopped by testMain.
var remotes []*podmantest.Remote

func remote(t *testing.T) *podmantest.Remote {
	t.Helper()
	r, err := remoteHost()
	if err != nil {
		t.Fatal("start the second host:", err)
	}
	return r
}

func testPool(t *testing.T, b *podmantest.Remote, maxRuns int) *Pool {
	t.Helper()
	p, err := NewPool(PoolOptions{Hosts: []HostOptions{
		{Name: "local", URL: svc.URL, MaxRuns: maxRuns},
		{Name: "b", URL: b.URL, MaxRuns: maxRuns, SSH: SSH{Identity: b.Identity, KnownHosts: b.KnownHosts, Keepalive: time.Second}},
	}, Recheck: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestPoolPlacesRunsOnBothHostsOverSSH(t *testing.T) {
	b := remote(t)
	p := testPool(t, b, 1)
	var wg sync.WaitGroup
	hosts := make([]string, 2)
	results := make([]error, 2)
	for i := range 2 {
		spec := claudeSpec(t, "fake:sleep=2s hello")
		spec.Limits.MemoryBytes = 96 << 20
		spec.Placement.Placed = func(h string) { hosts[i] = h }
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got lines
			res, err := p.Run(context.Background(), spec, got.add)
			if err == nil && (res.ExitCode != 0 || len(got.get()) == 0) {
				err = errors.New("run failed: " + res.StderrTail)
			}
			results[i] = err
		}()
	}
	wg.Wait()
	for _, err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !(hosts[0] == "local" && hosts[1] == "b" || hosts[0] == "b" && hosts[1] == "local") {
		t.Fatalf("runs went to %v, want one on each host", hosts)
	}

	// A run on a host that was checked lately makes a fixed, small number
	// of calls, however long it runs: no polling over SSH.
	for _, sleep := range []string{"1s", "4s"} {
		before := p.Runner("b").APICalls()
		spec := claudeSpec(t, "fake:sleep="+sleep+" hello")
		spec.Placement.Hosts = []string{"b"}
		if _, err := p.Run(context.Background(), spec, func([]byte) {}); err != nil {
			t.Fatal(err)
		}
		n := p.Runner("b").APICalls() - before
		t.Logf("API calls of a %s run on b: %d", sleep, n)
		// image, volume (look-up, create), create, attach, start, the
		// meter's inspect, wait, inspect, remove. b's cgroup files are on
		// this machine, so the meter reads them; a host elsewhere adds
		// one stream of stats (TestStatsStream), still one call a run.
		if n != 10 {
			t.Errorf("a %s run on b made %d API calls, want 10", sleep, n)
		}
	}
	// Closing ends the SSH connection and its keepalive at once.
	start := time.Now()
	p.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestPoolRefusesAnUnknownHostKey(t *testing.T) {
	b := remote(t)
	r := New(Options{URL: b.URL, SSH: SSH{Identity: b.Identity, KnownHosts: t.TempDir() + "/none"}})
	defer r.Close()
	_, err := r.Host(context.Background())
	if err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Fatalf("Host with no known_hosts = %v", err)
	}
	empty := t.TempDir() + "/known_hosts"
	writeFile(t, empty, "")
	r2 := New(Options{URL: b.URL, SSH: SSH{Identity: b.Identity, KnownHosts: empty}})
	defer r2.Close()
	_, err = r2.Host(context.Background())
	if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "is not in") {
		t.Fatalf("Host with an unknown key = %v", err)
	}
	// Another key for the same address: a changed host key.
	known, err := os.ReadFile(b.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(b.Identity + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	addr, _, _ := strings.Cut(string(known), " ")
	changed := t.TempDir() + "/known_hosts"
	writeFile(t, changed, addr+" "+string(other))
	r3 := New(Options{URL: b.URL, SSH: SSH{Identity: b.Identity, KnownHosts: changed}})
	defer r3.Close()
	_, err = r3.Host(context.Background())
	if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "is not the one") {
		t.Fatalf("Host with a changed key = %v", err)
	}
}

func TestPoolEndsARunWhoseHostDrops(t *testing.T) {
	b := remote(t)
	p := testPool(t, b, 1)
	spec, done := startOnB(t, p, "fake:sleep=30s hello")
	b.Down()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the run on b did not end after b dropped")
	}
	var lost *sandbox.HostLostError
	if !errors.As(err, &lost) || lost.Host != "b" {
		t.Fatalf("Run = %v, want a HostLostError for b", err)
	}
	if st := p.States(); !st[1].Down {
		t.Fatalf("b not down: %+v", st)
	}
	if err := b.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for p.States()[1].Down {
		if time.Now().After(deadline) {
			t.Fatal("b is not taken back once it answers again")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// What the lost run left on b is removed once b is back.
	out, err := b.Service.Podman(context.Background(), "ps", "-a", "--filter", "name="+spec.Name, "--format", "{{.Names}}")
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("container of the lost run on b: %q %v", out, err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPoolNoticesASilentHost: a host whose link goes down closes nothing;
// the SSH keepalive notices, the run on it ends, and the host is used
// again once its link is back.
func TestPoolNoticesASilentHost(t *testing.T) {
	b := remote(t)
	p := testPool(t, b, 1)
	_, done := startOnB(t, p, "fake:sleep=60s hello")
	if err := b.Unplug(); err != nil {
		t.Fatal(err)
	}
	plugged := false
	defer func() {
		if !plugged {
			b.Plug()
		}
	}()
	cut := time.Now()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the run on b did not end after b went silent")
	}
	t.Logf("a silent host noticed after %v (keepalive 1s)", time.Since(cut).Round(10*time.Millisecond))
	var lost *sandbox.HostLostError
	if !errors.As(err, &lost) || lost.Host != "b" {
		t.Fatalf("Run = %v, want a HostLostError for b", err)
	}
	if err := b.Plug(); err != nil {
		t.Fatal(err)
	}
	plugged = true
	deadline := time.Now().Add(45 * time.Second)
	for p.States()[1].Down {
		if time.Now().After(deadline) {
			t.Fatal("b is not taken back once its link is up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	again := claudeSpec(t, "hello again")
	again.Placement.Hosts = []string{"b"}
	if res, err := p.Run(context.Background(), again, func([]byte) {}); err != nil || res.ExitCode != 0 {
		t.Fatalf("run on b after it came back: %+v, %v", res, err)
	}
}

// startOnB starts a run of prompt on host b and returns once it printed
// its first line, with its spec; the channel gets the run's error when it
// ends.
func startOnB(t *testing.T, p *Pool, prompt string) (sandbox.Spec, <-chan error) {
	t.Helper()
	spec := claudeSpec(t, prompt)
	spec.Placement.Hosts = []string{"b"}
	done := make(chan error, 1)
	started := make(chan struct{})
	var once sync.Once
	go func() {
		_, err := p.Run(context.Background(), spec, func([]byte) { once.Do(func() { close(started) }) })
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatal("run ended before it started:", err)
	case <-time.After(time.Minute):
		t.Fatal("no output from the run on b")
	}
	return spec, done
}
