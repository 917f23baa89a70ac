package telegram

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// A send Telegram refuses for good wraps orchestrator.ErrRefused; one that
// failed for reasons that may pass does not, so the orchestrator tries it
// again later.
func TestSendSaysWhetherTryingAgainCanHelp(t *testing.T) {
	cases := []struct {
		name    string
		code    int
		n       int
		refused bool
	}{
		{"bad request", 400, 1, true},
		{"forbidden", 403, 1, true},
		{"server errors past the attempts", 500, maxAttempts, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, telegramtest.DefaultLimits())
			c := newTestClient(t, srv, scaledPacing(), slog.New(slog.DiscardHandler))
			srv.FailNext("sendMessage", tc.n, tc.code, "Some failure", 0)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := c.Send(ctx, orchestrator.Outgoing{ChatID: group, Text: text("hello")})
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := errors.Is(err, orchestrator.ErrRefused); got != tc.refused {
				t.Errorf("Send error %v: refused = %v, want %v", err, got, tc.refused)
			}
		})
	}
}
