package orchestrator

import (
	"context"
	"log/slog"
	"time"
)

// replier sends the plain replies that start no run: answers to commands,
// refusals, notices.
type replier struct {
	chat Chat
	lt   *lifetime
	log  *slog.Logger
}

// to answers m with a plain text, without waiting for the chat.
func (r replier) to(m Message, s string) {
	r.later(Outgoing{ChatID: m.ChatID, ThreadID: m.ThreadID, ReplyTo: m.MessageID, Text: plainText(s)})
}

// later sends m from an owned goroutine, so Handle never waits on the chat
// for replies that start no run.
func (r replier) later(m Outgoing) {
	send := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.lt.ctx), time.Minute)
		defer cancel()
		if _, err := r.chat.Send(ctx, m); err != nil {
			r.log.Warn("send reply", "chat", m.ChatID, "err", err)
		}
	}
	if !r.lt.goOwned(send) {
		send() // stopping: the caller waits instead
	}
}

// inLine answers m before Handle returns: for a bridge that stops, where
// no goroutine may start any more. Polling waits meanwhile.
func (r replier) inLine(ctx context.Context, m Message, s string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := r.chat.Send(ctx, Outgoing{ChatID: m.ChatID, ThreadID: m.ThreadID, ReplyTo: m.MessageID, Text: plainText(s)}); err != nil {
		r.log.Warn("send reply", "chat", m.ChatID, "err", err)
	}
}
