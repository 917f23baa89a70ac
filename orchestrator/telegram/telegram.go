// Package telegram is the Telegram transport: a long-polling loop around
// getUpdates that feeds the orchestrator and records each update as handled
// only afterwards, and the sending side (messages, edits, deletes) with
// per-chat pacing and 429 handling, converting the orchestrator's formatted
// text to Telegram entities in UTF-16 units.
//
// It is the only package that imports telego. It adapts the orchestrator's
// vocabulary and must not import the sandbox, the engines or the config.
package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"
	"golang.org/x/time/rate"

	"github.com/untether-go/untether/orchestrator"
)

// Handler takes decoded messages; see orchestrator.Orchestrator.Handle.
type Handler interface {
	Handle(ctx context.Context, m orchestrator.Message)
}

// OffsetStore persists the last handled update id.
type OffsetStore interface {
	Load() (id int64, ok bool, err error)
	Save(id int64) error
}

// Options configure a Client.
type Options struct {
	Token string
	// APIURL is the Bot API server, e.g. https://api.telegram.org.
	APIURL      string
	PollTimeout time.Duration
	Logger      *slog.Logger
	// OnPolled is called after each successful getUpdates (for readiness).
	OnPolled func()
}

// Client talks to one bot. Its sending methods are safe for concurrent use.
type Client struct {
	bot   *telego.Bot
	token string
	opts  Options
	log   *slog.Logger

	mu     sync.Mutex
	pacers map[int64]*rate.Limiter
	global *rate.Limiter
}

var _ orchestrator.Chat = (*Client)(nil)

// New returns a Client; it makes no request.
func New(opts Options) (*Client, error) {
	if opts.PollTimeout <= 0 {
		opts.PollTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bot, err := telego.NewBot(opts.Token,
		telego.WithAPIServer(strings.TrimRight(opts.APIURL, "/")),
		telego.WithHTTPClient(&http.Client{}),
		telego.WithDiscardLogger(),
	)
	if err != nil {
		return nil, errors.New("telegram bot token is malformed (expected <digits>:<35 characters>)")
	}
	return &Client{
		bot: bot, token: opts.Token, opts: opts, log: log,
		pacers: map[int64]*rate.Limiter{},
		global: rate.NewLimiter(rate.Limit(25), 5),
	}, nil
}

// redact removes the bot token from an error, whose text may hold the
// request URL.
func (c *Client) redact(err error) error {
	if err == nil || c.token == "" || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), c.token, "<bot-token>"), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// CheckToken calls getMe: it tells whether the token and the API URL work.
func (c *Client) CheckToken(ctx context.Context) (username string, err error) {
	me, err := c.bot.GetMe(ctx)
	if err != nil {
		return "", fmt.Errorf("telegram getMe: %w", c.redact(err))
	}
	return me.Username, nil
}

// Poll runs the getUpdates loop until ctx ends: each update is handed to h,
// then recorded in offsets, so a restart neither repeats nor loses it.
// Transient errors are retried with backoff. It returns nil when ctx ends.
func (c *Client) Poll(ctx context.Context, h Handler, offsets OffsetStore) error {
	last, ok, err := offsets.Load()
	if err != nil {
		return err
	}
	var offset int64
	if ok {
		offset = last + 1
	}
	backoff := time.Second
	for ctx.Err() == nil {
		updates, err := c.bot.GetUpdates(ctx, &telego.GetUpdatesParams{
			Offset:         int(offset),
			Timeout:        int(c.opts.PollTimeout / time.Second),
			AllowedUpdates: []string{"message"},
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("telegram getUpdates failed", "err", c.redact(err), "retry_in", backoff)
			if !sleep(ctx, retryDelay(err, backoff)) {
				return nil
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		if c.opts.OnPolled != nil {
			c.opts.OnPolled()
		}
		for _, u := range updates {
			if m, ok := decode(u); ok {
				h.Handle(ctx, m)
			}
			if err := offsets.Save(int64(u.UpdateID)); err != nil {
				return fmt.Errorf("record update %d as handled: %w", u.UpdateID, err)
			}
			offset = int64(u.UpdateID) + 1
		}
	}
	return nil
}

// decode turns an update into an orchestrator message; ok is false for
// updates the bridge does not act on.
func decode(u telego.Update) (orchestrator.Message, bool) {
	msg := u.Message
	if msg == nil || msg.From == nil || msg.From.IsBot {
		return orchestrator.Message{}, false
	}
	m := orchestrator.Message{
		UpdateID:  int64(u.UpdateID),
		ChatID:    msg.Chat.ID,
		MessageID: int64(msg.MessageID),
		UserID:    msg.From.ID,
		Private:   msg.Chat.Type == telego.ChatTypePrivate,
		Text:      msg.Text,
	}
	if msg.IsTopicMessage {
		m.ThreadID = int64(msg.MessageThreadID)
	}
	if r := msg.ReplyToMessage; r != nil {
		m.ReplyToText = r.Text
	}
	return m, true
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retryDelay honours a 429's retry_after, else uses backoff.
func retryDelay(err error, backoff time.Duration) time.Duration {
	var apiErr *ta.Error
	if errors.As(err, &apiErr) && apiErr.Parameters != nil && apiErr.Parameters.RetryAfter > 0 {
		return time.Duration(apiErr.Parameters.RetryAfter) * time.Second
	}
	return backoff
}
