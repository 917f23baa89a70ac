package podman

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/engines/enginetest"
)

// TestStatsStream: the stream of a container's stats, what a run on a
// host whose cgroup files are elsewhere reads, gives readings from one
// call while the container runs, and errNoCgroup once it stopped.
func TestStatsStream(t *testing.T) {
	ctx := context.Background()
	out, err := svc.Podman(ctx, "run", "-d", "--memory", "64m", enginetest.DefaultTag, "claude", "-p", "fake:sleep=6s hello")
	if err != nil {
		t.Fatalf("podman run: %v: %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { svc.Podman(context.Background(), "rm", "-f", id) })

	api := newClient(svc.URL, SSH{})
	before := api.calls.Load()
	s := openStats(ctx, api, id)
	defer s.close()
	deadline := time.Now().Add(5 * time.Second)
	var rd reading
	for {
		if rd, err = s.read(ctx); err == nil {
			break
		}
		if !errors.Is(err, errNoReading) || time.Now().After(deadline) {
			t.Fatalf("no reading of a running container: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rd.memory <= 0 || rd.cpu <= 0 {
		t.Errorf("reading %+v: want memory and CPU time", rd)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, err = s.read(ctx)
		if errors.Is(err, errNoCgroup) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream did not end when the container stopped: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := api.calls.Load() - before; n != 1 {
		t.Errorf("%d API calls for the stream, want 1", n)
	}
}
