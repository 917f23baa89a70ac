package telegram

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator"
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

// answering is a Handler that answers button presses as the orchestrator
// does, from within Handle.
type answering struct {
	recorder
	c *Client
	t *testing.T
}

func (a *answering) Handle(ctx context.Context, m orchestrator.Message) {
	if m.CallbackID != "" {
		if err := a.c.AnswerCallback(ctx, m.CallbackID, "Cancelling…"); err != nil {
			a.t.Errorf("AnswerCallback: %v", err)
		}
	}
	a.recorder.Handle(ctx, m)
}

func TestStalledCallbackAnswerDoesNotHoldUpPoll(t *testing.T) {
	t.Parallel()
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	h := &answering{c: c, t: t}
	poll(t, c, h, &memOffset{})
	waitFor(t, srv, called("getUpdates", 0)) // presses are queued from now on
	id, err := c.Send(t.Context(), orchestrator.Outgoing{ChatID: private, Text: text("progress"),
		Buttons: []orchestrator.Button{{Text: "cancel", Data: "cancel:r1"}}})
	if err != nil {
		t.Fatal(err)
	}

	srv.Stall("answerCallbackQuery", 1)
	srv.PressButton(private, id, telegramtest.User{ID: private}, "cancel:r1")
	waitWithin(t, srv, 5*time.Second, "the answer stalled", stalled("answerCallbackQuery", 1))
	next := srv.UserSays(private, telegramtest.User{ID: private}, "right after")
	waitWithin(t, srv, 3*time.Second, "the message after the press handled",
		func(s *telegramtest.Snapshot) bool { return s.Acked(next.UpdateID) })
	if answers := calls(srv, "answerCallbackQuery"); len(answers) != 0 {
		t.Errorf("answers = %+v, want the stalled one still pending", answers)
	}

	// Once the stall ends, later presses are answered again.
	srv.Unstall("answerCallbackQuery")
	srv.PressButton(private, id, telegramtest.User{ID: private}, "cancel:r1")
	waitWithin(t, srv, 5*time.Second, "the next press answered", called("answerCallbackQuery", 0))
	if msgs := h.all(); len(msgs) != 3 {
		t.Errorf("handled %d updates, want 3", len(msgs))
	}
}

func TestCloseCutsOffAStalledCallbackAnswer(t *testing.T) {
	t.Parallel()
	srv := newServer(t, telegramtest.Limits{})
	c, err := New(Options{Token: srv.Token(), APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stall("answerCallbackQuery", 2)
	for _, id := range []string{"q1", "q2"} {
		if err := c.AnswerCallback(t.Context(), id, ""); err != nil {
			t.Fatal(err)
		}
	}
	waitWithin(t, srv, 5*time.Second, "the first answer stalled", stalled("answerCallbackQuery", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v with an answer stalled", took)
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("%d calls, want only the stalled answer: the queued one is dropped", n)
	}
	if err := c.AnswerCallback(t.Context(), "q3", ""); !errors.Is(err, ErrClosed) {
		t.Errorf("AnswerCallback after Close: %v, want ErrClosed", err)
	}
}
