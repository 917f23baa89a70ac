package podman

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// placementPool is a Pool over hosts that are never dialled: placement
// alone is tested.
func placementPool(t *testing.T, hosts ...HostOptions) *Pool {
	t.Helper()
	for i := range hosts {
		hosts[i].URL = "unix:///nonexistent/podman.sock"
	}
	p, err := NewPool(PoolOptions{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func placeSpec(name string, memory int64, hosts ...string) sandbox.Spec {
	return sandbox.Spec{Name: name, Limits: sandbox.Limits{MemoryBytes: memory},
		Labels: map[string]string{sandbox.LabelInstance: "t"}, Placement: sandbox.Placement{Hosts: hosts}}
}

func TestPlacementOrder(t *testing.T) {
	tests := []struct {
		name  string
		hosts []HostOptions
		specs []sandbox.Spec
		want  []string
	}{
		{"fewest runs first, ties to the first host",
			[]HostOptions{{Name: "a"}, {Name: "b"}},
			[]sandbox.Spec{placeSpec("1", 0), placeSpec("2", 0), placeSpec("3", 0), placeSpec("4", 0)},
			[]string{"a", "b", "a", "b"}},
		{"then most memory not reserved",
			[]HostOptions{{Name: "small", Memory: 4 << 30}, {Name: "big", Memory: 16 << 30}},
			[]sandbox.Spec{placeSpec("1", 2<<30), placeSpec("2", 2<<30), placeSpec("3", 2<<30)},
			[]string{"big", "small", "big"}},
		{"a full host is skipped",
			[]HostOptions{{Name: "a", MaxRuns: 1}, {Name: "b", MaxRuns: 3}},
			[]sandbox.Spec{placeSpec("1", 0), placeSpec("2", 0), placeSpec("3", 0)},
			[]string{"a", "b", "b"}},
		{"memory caps too",
			[]HostOptions{{Name: "a", Memory: 3 << 30}, {Name: "b"}},
			[]sandbox.Spec{placeSpec("1", 2<<30), placeSpec("2", 2<<30), placeSpec("3", 2<<30)},
			[]string{"b", "a", "b"}},
		{"only the project's hosts",
			[]HostOptions{{Name: "a"}, {Name: "b"}},
			[]sandbox.Spec{placeSpec("1", 0, "b"), placeSpec("2", 0, "b")},
			[]string{"b", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := placementPool(t, tt.hosts...)
			for i, s := range tt.specs {
				h, err := p.place(context.Background(), s)
				if err != nil {
					t.Fatal(err)
				}
				if h.Name != tt.want[i] {
					t.Errorf("run %d went to %s, want %s", i+1, h.Name, tt.want[i])
				}
			}
		})
	}
}

func TestPlacementWaitsForRoomAndSaysWhy(t *testing.T) {
	p := placementPool(t, HostOptions{Name: "a", MaxRuns: 1}, HostOptions{Name: "b", MaxRuns: 1})
	first := placeSpec("1", 0)
	h1, _ := p.place(context.Background(), first)
	p.markDown(p.byName["b"], "test")
	second := placeSpec("2", 0)
	why := make(chan string, 1)
	second.Placement.Waiting = func(s string) { why <- s }
	got := make(chan *poolHost, 1)
	go func() {
		h, err := p.place(context.Background(), second)
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	select {
	case s := <-why:
		if s != "waiting for a host (a full) (b unreachable)" {
			t.Errorf("why = %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second run did not wait")
	}
	p.release(h1, first, false)
	select {
	case h := <-got:
		if h.Name != "a" {
			t.Errorf("second run went to %s", h.Name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second run did not get the freed room")
	}

	// A cancelled wait ends with the context's error, holding nothing.
	ctx, cancel := context.WithCancel(context.Background())
	third := placeSpec("3", 0)
	third.Placement.Waiting = func(string) { cancel() }
	if _, err := p.place(ctx, third); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled place = %v", err)
	}
	if st := p.States(); st[0].Runs != 1 || st[1].Runs != 0 {
		t.Errorf("runs after a cancelled wait: %+v", st)
	}
}

func TestResumedSessionGoesHome(t *testing.T) {
	p := placementPool(t, HostOptions{Name: "a", MaxRuns: 1}, HostOptions{Name: "b"})
	first := placeSpec("1", 0)
	first.Placement.Session = "chat:1"
	h, _ := p.place(context.Background(), first)
	p.release(h, first, false)
	if h.Name != "a" {
		t.Fatalf("first run on %s", h.Name)
	}
	busy := placeSpec("busy", 0)
	hb, _ := p.place(context.Background(), busy) // a is now full
	if hb.Name != "a" {
		t.Fatalf("busy run on %s", hb.Name)
	}
	again := placeSpec("2", 0)
	again.Placement.Session, again.Placement.Resumes = "chat:1", true
	why := make(chan string, 1)
	again.Placement.Waiting = func(s string) { why <- s }
	got := make(chan string, 1)
	go func() {
		h, _ := p.place(context.Background(), again)
		got <- h.Name
	}()
	if s := <-why; !strings.Contains(s, "waiting for host a, which holds this session and is full") {
		t.Errorf("why = %q", s)
	}
	p.release(hb, busy, false)
	if h := <-got; h != "a" {
		t.Errorf("resumed session went to %s, want its host a", h)
	}
	// A new session of the same chat goes where there is room.
	fresh := placeSpec("3", 0)
	fresh.Placement.Session = "chat:1"
	if h, _ := p.place(context.Background(), fresh); h.Name != "b" {
		t.Errorf("new session went to %s, want b", h.Name)
	}
}

func TestRemap(t *testing.T) {
	paths := map[string]string{"/src/a": "/srv/a", "/src/a/sub": "/elsewhere", "/src/b/": "/srv/b"}
	tests := map[string]string{
		"/src/a":           "/srv/a",
		"/src/a/x/y":       "/srv/a/x/y",
		"/src/a/sub/z":     "/elsewhere/z",
		"/src/ab":          "/src/ab",
		"/src/b/.worktree": "/srv/b/.worktree",
		"/other":           "/other",
	}
	for in, want := range tests {
		if got := remap(in, paths); got != want {
			t.Errorf("remap(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestInstanceOf(t *testing.T) {
	for name, want := range map[string]string{
		"untether-dev-0123abcd":     "dev",
		"untether-my-inst-0123abcd": "my-inst",
		"untether-podmantest-1":     "podmantest",
		"other":                     "",
		"untether-":                 "",
	} {
		if got := instanceOf(name); got != want {
			t.Errorf("instanceOf(%s) = %q, want %q", name, got, want)
		}
	}
}
