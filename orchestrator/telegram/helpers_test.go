package telegram

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

const (
	group   = int64(-1001)
	private = int64(42)
)

// scaledLimits are Telegram's limits ten times faster, for tests that need
// many writes: the fake's windows shrink as scaledPacing's intervals do.
func scaledLimits(countEdits bool) telegramtest.Limits {
	return telegramtest.Limits{
		PrivateWindow: 100 * time.Millisecond,
		GroupWindow:   6 * time.Second,
		GlobalWindow:  100 * time.Millisecond,
		CountEdits:    countEdits,
	}
}

func scaledPacing() pacing {
	p := defaultPacing()
	p.private /= 10
	p.group /= 10
	p.global *= 10
	return p
}

// newServer starts a fake Bot API with a group and a private chat.
func newServer(t testing.TB, limits telegramtest.Limits) *telegramtest.Server {
	t.Helper()
	srv := telegramtest.NewServer(telegramtest.Options{Limits: limits})
	t.Cleanup(srv.Close)
	srv.AddChat(telegramtest.Chat{ID: group, Type: "supergroup"})
	srv.AddChat(telegramtest.Chat{ID: private, Type: "private"})
	return srv
}

// newTestClient returns a client of srv, closed at the end of the test.
func newTestClient(t testing.TB, srv *telegramtest.Server, pace pacing, log *slog.Logger) *Client {
	t.Helper()
	c, err := newClient(Options{Token: srv.Token(), APIURL: srv.URL(), PollTimeout: time.Second, Logger: log}, pace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func text(s string) orchestrator.Text { return orchestrator.Text{S: s} }

// waitFor waits up to 20 s for cond.
func waitFor(t testing.TB, srv *telegramtest.Server, cond func(s *telegramtest.Snapshot) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.WaitFor(ctx, cond); err != nil {
		t.Fatal(err)
	}
}

// called reports whether a call of method ended with code (0: success).
func called(method string, code int) func(s *telegramtest.Snapshot) bool {
	return func(s *telegramtest.Snapshot) bool {
		for _, c := range s.Calls() {
			if c.Method == method && c.HTTPStatus != 0 && c.ErrorCode == code {
				return true
			}
		}
		return false
	}
}

// callCount reports whether n calls of method have finished.
func callCount(method string, n int) func(s *telegramtest.Snapshot) bool {
	return func(s *telegramtest.Snapshot) bool {
		got := 0
		for _, c := range s.Calls() {
			if c.Method == method && c.HTTPStatus != 0 {
				got++
			}
		}
		return got >= n
	}
}

// calls returns the finished calls of method, with their outcome.
func calls(srv *telegramtest.Server, method string) []telegramtest.Call {
	var out []telegramtest.Call
	for _, c := range srv.Calls() {
		if c.Method == method && c.HTTPStatus != 0 {
			out = append(out, c)
		}
	}
	return out
}

func succeeded(cs []telegramtest.Call) []telegramtest.Call {
	var out []telegramtest.Call
	for _, c := range cs {
		if c.ErrorCode == 0 {
			out = append(out, c)
		}
	}
	return out
}

// logRecorder is a slog.Handler that keeps records.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

// count counts the records with msg whose attribute key is value.
func (r *logRecorder) count(msg, key string, value any) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Message != msg {
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == key && a.Value.Any() == value {
				n++
				return false
			}
			return true
		})
	}
	return n
}

// all returns every record's message and attributes, for failure output.
func (r *logRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		s := rec.Message
		rec.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
		out = append(out, s)
	}
	return out
}
