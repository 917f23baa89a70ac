package telegram

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// stalled reports whether n calls of method are held by the server's Stall.
func stalled(method string, n int) func(s *telegramtest.Snapshot) bool {
	return func(s *telegramtest.Snapshot) bool {
		got := 0
		for _, c := range s.Calls() {
			if c.Method == method && c.Stalled {
				got++
			}
		}
		return got >= n
	}
}

// waitWithin waits up to limit for cond.
func waitWithin(t *testing.T, srv *telegramtest.Server, limit time.Duration, what string, cond func(s *telegramtest.Snapshot) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	if err := srv.WaitFor(ctx, cond); err != nil {
		t.Fatalf("%s: not within %v: %v", what, limit, err)
	}
}

func TestPollGivesUpOnAStalledGetUpdates(t *testing.T) {
	t.Parallel()
	srv := newServer(t, telegramtest.Limits{})
	logs := &logRecorder{}
	c, err := newClient(Options{Token: srv.Token(), APIURL: srv.URL(), Logger: slog.New(logs),
		PollTimeout: time.Second, PollMargin: time.Second}, defaultPacing())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	srv.Stall("getUpdates", 1)
	rec := &recorder{}
	poll(t, c, rec, &memOffset{})
	waitWithin(t, srv, 5*time.Second, "getUpdates stalled", stalled("getUpdates", 1))
	start := time.Now()
	sent := srv.UserSays(group, telegramtest.User{ID: 5}, "after the stall")
	// PollTimeout + PollMargin, then a second of backoff.
	waitWithin(t, srv, 10*time.Second, "the message handled", func(s *telegramtest.Snapshot) bool { return s.Acked(sent.UpdateID) })
	if took := time.Since(start); took < time.Second {
		t.Errorf("handled after %v: the stall did not hold the poll", took)
	}
	if msgs := rec.all(); len(msgs) != 1 || msgs[0].Text != "after the stall" {
		t.Errorf("handled %+v", msgs)
	}
	if n := logs.count("telegram getUpdates failed", "retry_in", time.Second); n != 1 {
		t.Errorf("%d warnings of the stalled getUpdates, want 1: %q", n, logs.all())
	}
	for _, line := range logs.all() {
		if strings.Contains(line, srv.Token()) {
			t.Errorf("log line leaks the token: %s", line)
		}
	}
}
