// Package telegram is the Telegram transport of the orchestrator. It owns
// three things:
//
//   - Poll, a long-polling loop around getUpdates that turns messages and
//     inline-button presses into orchestrator.Message values and records an
//     update as handled only after the handler returned;
//   - the outbox, one scheduler through which every write (sendMessage,
//     sendDocument, sendPhoto, editMessageText, deleteMessage,
//     sendMessageDraft) passes: it paces each chat under
//     Telegram's flood limits and the bot under its global one, sends before
//     it deletes and deletes before it edits, coalesces edits of one message
//     (newest wins), and waits out 429s;
//   - the conversion of the orchestrator's formatted text to Telegram
//     entities, in UTF-16 units;
//   - files: decoding the documents, photos, voice notes and audio files
//     users send, downloading them (getFile, then the file URL, whose bot
//     token never reaches an error or a log) and uploading files.
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
	"sync/atomic"
	"time"

	"github.com/mymmrac/telego"

	"github.com/untether-go/untether/orchestrator"
)

// ErrClosed is returned by writes made after Close.
var ErrClosed = errors.New("telegram client closed")

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
	// PollMargin is how much longer than PollTimeout a getUpdates may take
	// before Poll gives up on it and retries; default DefaultPollMargin.
	PollMargin time.Duration
	Logger     *slog.Logger
	// OnPolled is called after each successful getUpdates (for readiness).
	OnPolled func()
	// NoDrafts turns drafts off: Draft fails with orchestrator.ErrNoDrafts.
	NoDrafts bool
}

// DefaultPollMargin leaves time for the network and a busy Bot API server
// on top of a long poll's timeout.
const DefaultPollMargin = 15 * time.Second

// Client talks to one bot. Its methods are safe for concurrent use. Writes
// go through its outbox and callback answers through its answerer, whose
// goroutines start with the first write or answer and stop at Close; a
// Client that never wrote (e.g. one only asked CheckToken) needs no Close.
type Client struct {
	bot     *telego.Bot
	http    *http.Client // downloads; shared with bot
	token   string
	opts    Options
	log     *slog.Logger
	out     *outbox
	answers *answerer
	// draftsOff is set once the server refused sendMessageDraft.
	draftsOff atomic.Bool
}

var (
	_ orchestrator.Chat  = (*Client)(nil)
	_ orchestrator.Files = (*Client)(nil)
)

// New returns a Client; it makes no request and starts no goroutine.
func New(opts Options) (*Client, error) {
	return newClient(opts, defaultPacing())
}

func newClient(opts Options, pace pacing) (*Client, error) {
	if opts.PollTimeout <= 0 {
		opts.PollTimeout = 30 * time.Second
	}
	if opts.PollMargin <= 0 {
		opts.PollMargin = DefaultPollMargin
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Enough idle connections for every call the outbox runs at once, plus
	// the long poll, so busy moments do not churn connections.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = maxInFlight + 2
	hc := &http.Client{Transport: transport}
	bot, err := telego.NewBot(opts.Token,
		telego.WithAPIServer(strings.TrimRight(opts.APIURL, "/")),
		telego.WithHTTPClient(hc),
		telego.WithDiscardLogger(),
	)
	if err != nil {
		return nil, errors.New("telegram bot token is malformed (expected <digits>:<35 characters>)")
	}
	c := &Client{bot: bot, http: hc, token: opts.Token, opts: opts, log: log}
	c.out = newOutbox(pace, c.perform, log, c.redact)
	c.answers = newAnswerer(c.answer, log)
	return c, nil
}

// Close stops taking writes (they then fail with ErrClosed), delivers every
// write already queued until ctx ends, then stops the outbox and waits for
// its goroutines; then it does the same for callback answers. Sends still
// queued when ctx ends fail with ErrClosed, and the error says how many
// writes were not delivered. Close does not stop Poll; call it once nothing
// writes any more (after the orchestrator closed). It is idempotent.
func (c *Client) Close(ctx context.Context) error {
	// The outbox first: its final answers matter more than a callback
	// answer, which the answerer goes on sending meanwhile.
	err := c.out.close(ctx)
	c.answers.close(ctx)
	return err
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

// AnswerCallback acknowledges a button press at once, without waiting for
// Telegram: it hands the answer to the client's answerer, which sends the
// answers in order, ahead of every queue, pause or pacing of the outbox,
// while Telegram still takes them (see answerWindow). Each answer is
// counted against the bot's global rate so the outbox slows down for it.
// text, if not empty, is shown to the presser. An answer is not retried;
// its failure is logged. AnswerCallback fails only after Close (ErrClosed)
// or when too many answers wait; ctx is not used, as the answer outlives
// the caller's wait.
func (c *Client) AnswerCallback(_ context.Context, callbackID, text string) error {
	if err := c.answers.add(callbackID, text); err != nil {
		return fmt.Errorf("telegram answerCallbackQuery: %w", err)
	}
	return nil
}

// answer sends one callback answer (answerCallbackQuery).
func (c *Client) answer(ctx context.Context, callbackID, text string) error {
	c.out.account()
	err := c.bot.AnswerCallbackQuery(ctx, &telego.AnswerCallbackQueryParams{
		CallbackQueryID: callbackID, Text: text,
	})
	if v, wait := verdictOf(err); v == retryLater {
		c.out.pauseAll(time.Now().Add(wait))
	}
	if err != nil {
		return fmt.Errorf("telegram answerCallbackQuery: %w", c.redact(err))
	}
	return nil
}

// answerWindow is how long after a button press Telegram takes its answer
// (later ones fail with "query is too old"). An answer is sent within it
// or dropped, so a stalled call holds the others up for no longer.
const answerWindow = 15 * time.Second

// maxAnswersWaiting bounds the answers queued behind a slow one.
const maxAnswersWaiting = 64

// errTooManyAnswers is returned when maxAnswersWaiting answers wait.
var errTooManyAnswers = errors.New("too many callback answers waiting")

// answerer sends callback answers from one goroutine, in order, so that a
// slow or stalled answerCallbackQuery never holds up the poll loop. The
// goroutine starts with the first answer and stops at close.
type answerer struct {
	send func(ctx context.Context, callbackID, text string) error
	log  *slog.Logger

	mu      sync.Mutex
	queue   chan pendingAnswer // closed at close
	started bool
	closed  bool

	ctx    context.Context // ends when close gives up on the queue
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine returned
}

type pendingAnswer struct {
	callbackID, text string
	queued           time.Time
}

func newAnswerer(send func(ctx context.Context, callbackID, text string) error, log *slog.Logger) *answerer {
	return &answerer{send: send, log: log, done: make(chan struct{})}
}

// add queues an answer, starting the goroutine if need be.
func (a *answerer) add(callbackID, text string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	if !a.started {
		a.started = true
		a.queue = make(chan pendingAnswer, maxAnswersWaiting)
		a.ctx, a.cancel = context.WithCancel(context.Background())
		go a.run()
	}
	select {
	case a.queue <- pendingAnswer{callbackID: callbackID, text: text, queued: time.Now()}:
		return nil
	default:
		return errTooManyAnswers
	}
}

// run sends the queued answers until close, each within what is left of
// its answerWindow.
func (a *answerer) run() {
	defer close(a.done)
	for p := range a.queue {
		deadline := p.queued.Add(answerWindow)
		switch {
		case a.ctx.Err() != nil:
			a.log.Warn("telegram callback answer dropped: the client closed")
		case !time.Now().Before(deadline):
			a.log.Warn("telegram callback answer dropped: Telegram no longer takes it", "waited", time.Since(p.queued))
		default:
			ctx, cancel := context.WithDeadline(a.ctx, deadline)
			if err := a.send(ctx, p.callbackID, p.text); err != nil {
				a.log.Warn("telegram callback answer failed", "err", err)
			}
			cancel()
		}
	}
}

// close stops taking answers, sends the queued ones until ctx ends, then
// cuts off the rest and waits for the goroutine. It is idempotent.
func (a *answerer) close(ctx context.Context) {
	a.mu.Lock()
	started := a.started
	if !a.closed {
		a.closed = true
		if started {
			close(a.queue)
		}
	}
	a.mu.Unlock()
	if !started {
		return
	}
	select {
	case <-a.done:
	case <-ctx.Done():
	}
	a.cancel()
	<-a.done
}

// SetCommands registers the bot's command menu (setMyCommands, default
// scope). It skips the chats' pacing and queues but waits for the bot's
// global rate and retries after 429s and network errors, within ctx.
func (c *Client) SetCommands(ctx context.Context, cmds []orchestrator.Command) error {
	params := &telego.SetMyCommandsParams{Commands: make([]telego.BotCommand, 0, len(cmds))}
	for _, cmd := range cmds {
		params.Commands = append(params.Commands, telego.BotCommand{Command: cmd.Name, Description: cmd.Description})
	}
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if werr := c.out.waitGlobal(ctx); werr != nil {
			return fmt.Errorf("telegram setMyCommands: %w", werr)
		}
		err = c.bot.SetMyCommands(ctx, params)
		v, wait := verdictOf(err)
		switch v {
		case delivered:
			return nil
		case retryLater:
			c.out.pauseAll(time.Now().Add(wait))
		case transient:
			wait = backoff(attempt)
		case failed:
			return fmt.Errorf("telegram setMyCommands: %w", c.redact(err))
		}
		if !sleep(ctx, wait) {
			return fmt.Errorf("telegram setMyCommands: %w", ctx.Err())
		}
	}
	return fmt.Errorf("telegram setMyCommands: giving up after %d attempts: %w", maxAttempts, c.redact(err))
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
