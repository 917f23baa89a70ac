package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestPodmanOutage stops the Podman service in the middle of a run: the
// user is told, the bridge keeps answering while Podman is down, and the
// next run works once it is back.
func TestPodmanOutage(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.cleanupVolumes()
	w.start()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		if out, _ := podmanSvc.Podman(context.Background(), "ps", "-aq", "--filter", "label=untether.instance="+w.instance); len(out) > 0 {
			podmanSvc.Podman(context.Background(), append([]string{"rm", "-f"}, strings.Fields(string(out))...)...)
		}
	})

	running := w.tg.UserSays(groupChat, alice, "think for a while fake:sleep=20s")
	var name string
	pollUntil(t, "the run's container", 30*time.Second, func() bool { return w.hasContainer(ctx, &name) })

	podmanSvc.Down()
	restored := false
	defer func() {
		if !restored {
			podmanSvc.Up(context.Background())
		}
	}()
	f := w.finalReply(groupChat, running.MessageID, time.Minute)
	if !strings.HasPrefix(f.Text, "error · claude") || !strings.Contains(f.Text, "Podman is not reachable") {
		t.Errorf("answer of the run Podman dropped = %q", f.Text)
	}

	down := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
	f = w.finalReply(groupChat, down.MessageID, time.Minute)
	if !strings.Contains(f.Text, "Podman is not reachable") {
		t.Errorf("answer while Podman is down = %q", f.Text)
	}

	if err := podmanSvc.Up(ctx); err != nil {
		t.Fatal(err)
	}
	restored = true
	back := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
	f = w.finalReply(groupChat, back.MessageID, time.Minute)
	if !strings.HasPrefix(f.Text, "done · claude") {
		t.Errorf("answer once Podman is back = %q", f.Text)
	}
}
