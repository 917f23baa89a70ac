package main

import (
	"strings"
	"testing"
	"time"
)

// TestSystemdNotify listens where systemd would (NOTIFY_SOCKET): READY=1
// comes only after getUpdates succeeded, STOPPING=1 when SIGTERM starts
// the drain.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	sock, got := listenNotify(t)
	w.env = []string{"NOTIFY_SOCKET=" + sock}
	d := w.start()

	ready := expectState(t, got, "READY=1", 10*time.Second)
	var polled bool
	for _, c := range w.tg.Calls() {
		if c.Method == "getUpdates" && c.HTTPStatus == 200 && c.Finished.Before(ready) {
			polled = true
		}
	}
	if !polled {
		t.Errorf("READY=1 came before any getUpdates succeeded")
	}
	d.stop(t)
	expectState(t, got, "STOPPING=1", 10*time.Second)
}

// expectState waits for a datagram containing want and returns when it came.
func expectState(t *testing.T, got <-chan string, want string, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case msg, ok := <-got:
			if !ok {
				t.Fatalf("notify socket closed before %q", want)
			}
			if strings.Contains(msg, want) {
				return time.Now()
			}
		case <-deadline:
			t.Fatalf("no %q on the notify socket within %v", want, limit)
		}
	}
}
