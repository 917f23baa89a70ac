// Package orchestrator is the daemon's core: it takes chat messages, checks
// the allowlist, routes each chat to a project and an engine, keeps one
// session per conversation, queues runs per session, runs them in the
// sandbox and turns their events into progress and final messages.
//
// It declares the small interfaces it consumes (Chat, Sandbox,
// SessionStore) and imports no adapter: no telego, no Podman client, no
// TOML, no cobra. Only cmd/untether wires adapters to it.
package orchestrator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/sandbox"
)

// Message is an incoming chat message, already decoded by the transport.
type Message struct {
	UpdateID  int64
	ChatID    int64
	ThreadID  int64
	MessageID int64
	UserID    int64
	Private   bool
	Text      string
	// Sent is when the user sent the message (Telegram's date), zero when
	// unknown.
	Sent time.Time
	// ReplyToID and ReplyToText are the message this one replies to, if
	// any (0 and "" otherwise).
	ReplyToID   int64
	ReplyToText string
	// CallbackID is set when this is a press of an inline button: MessageID
	// is then the message that holds the button, CallbackData its data,
	// and Text is empty. The press must be answered with
	// Chat.AnswerCallback.
	CallbackID   string
	CallbackData string
}

// Button is an inline button under a message; Data comes back in
// Message.CallbackData when it is pressed (at most 64 bytes).
type Button struct {
	Text string
	Data string
}

// Command is an entry of the bot's command menu.
type Command struct {
	Name        string // without the slash
	Description string
}

// Outgoing is a message to send.
type Outgoing struct {
	ChatID   int64
	ThreadID int64
	// ReplyTo is the message answered; 0 for none.
	ReplyTo int64
	Text    Text
	// Buttons is one row of inline buttons; nil for none.
	Buttons []Button
}

// ErrRefused marks a write the chat service refused for good (a bad
// request, a chat the bot may not write to): trying it again as it is
// cannot succeed. Other errors (outages, timeouts) may pass.
var ErrRefused = errors.New("refused by the chat service")

// Chat is the transport the orchestrator writes to. Implementations pace
// and retry on their own. Safe for concurrent use.
type Chat interface {
	// Send delivers a message and returns its id once it is sent; an error
	// means it could not be delivered, and wraps ErrRefused when trying
	// again cannot help. Sends to one chat arrive in the
	// order Send was called.
	Send(ctx context.Context, m Outgoing) (messageID int64, err error)
	// Edit replaces a message's text and buttons (nil buttons removes
	// them). It may return before the edit is made: a later Edit of the
	// same message replaces a pending one, a Delete drops it, and errors of
	// a deferred edit are the transport's to log. An edit to the same text
	// succeeds.
	Edit(ctx context.Context, chatID, messageID int64, t Text, buttons []Button) error
	// Delete deletes a message and returns once it is deleted (or could
	// not be).
	Delete(ctx context.Context, chatID, messageID int64) error
	// AnswerCallback acknowledges a button press at once, ahead of any
	// queued write; text, if not empty, is shown to the presser. It must
	// not block the caller on the network (Handle runs in the poll loop):
	// a transport may answer from its own goroutine and log failures
	// there, returning an error only when it cannot take the answer.
	AnswerCallback(ctx context.Context, callbackID, text string) error
}

// Sandbox runs one session. See sandbox/podman.Runner.Run for the contract:
// onLine gets stdout lines in order from one goroutine; a failed engine is a
// Result, an error means the run could not be carried out.
type Sandbox interface {
	Run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error)
}

// SessionStore keeps the resume token of each conversation across restarts.
// Safe for concurrent use.
type SessionStore interface {
	Get(key string) (engine, resume string, ok bool)
	Put(key, engine, resume string) error
	// Delete forgets key; deleting an absent key succeeds.
	Delete(key string) error
}

// ChatStore keeps per-chat settings (the engine chosen with /agent, the
// models chosen with /model) across restarts. Safe for concurrent use.
type ChatStore interface {
	Engine(key string) (engine string, ok bool)
	SetEngine(key, engine string) error
	Model(key, engine string) (model string, ok bool)
	// SetModel records a model for engine; "" forgets the choice.
	SetModel(key, engine, model string) error
}

// ContainerLister reports the instance's containers with their memory and
// CPU use, for /status. Safe for concurrent use.
type ContainerLister interface {
	Containers(ctx context.Context, instance string) ([]sandbox.Container, error)
}

// Project is a directory routed from a chat.
type Project struct {
	Name   string
	Path   string
	ChatID int64
	// TopicID, when set, routes only that forum topic of ChatID here.
	TopicID       int64
	DefaultEngine string
	Limits        sandbox.Limits
	Network       string
	// Images maps an engine name to its container image.
	Images map[string]string
}

// Session modes.
const (
	SessionChat      = "chat"
	SessionStateless = "stateless"
)

// Options configure an Orchestrator.
type Options struct {
	Instance       string
	Projects       []Project
	DefaultEngine  string
	DefaultProject string
	AllowedUsers   []int64
	SessionMode    string
	ShowResumeLine bool
	// Models maps an engine name to a model override.
	Models map[string]string
	// ExtraArgs maps an engine name to the user's extra flags, already
	// checked with the engine's CheckExtraArgs.
	ExtraArgs map[string][]string
	// EngineEnv maps an engine name to environment (credentials, base
	// URLs) given to that engine's containers only. Never logged.
	EngineEnv map[string]map[string]string
	StopGrace time.Duration
	// Render turns an agent's Markdown answer into message bodies of at
	// most maxUnits UTF-16 units each (see orchestrator/render). Nil sends
	// answers as plain text.
	Render func(markdown string, maxUnits int) []Text
	// ProgressInterval is the least time between two edits of a progress
	// message; 0 means 2 s.
	ProgressInterval time.Duration
	// MaxConcurrentRuns is how many runs may be in their containers at
	// once, across all sessions; runs past it wait for a free slot in the
	// order they reached it. 0 means no cap.
	MaxConcurrentRuns int
	// MissedAfter is the age past which a message (one that waited while
	// the bridge was down) is answered "missed while offline" instead of
	// being run; 0 runs every message.
	MissedAfter time.Duration
	// Version is shown by /help.
	Version string
	// BotUsername is this bot's username: a message whose first word is
	// a command addressed to another bot ("/cancel@other_bot") is not for
	// this one. Empty accepts every address.
	BotUsername string

	Engines  map[string]engines.Engine
	Chat     Chat
	Sandbox  Sandbox
	Sessions SessionStore
	// Chats is optional: without it /agent and /model cannot change a
	// chat's settings.
	Chats ChatStore
	// Containers is optional: without it /status shows no memory or CPU.
	Containers ContainerLister
	// Runs is optional: it keeps the records of the runs in flight, so a
	// restart loses no accepted message (see Restore).
	Runs RunStore
	// Reattacher is optional: with Runs and Drain = DrainDetach, runs
	// outlive a restart and the next bridge reattaches to them.
	Reattacher Reattacher
	// Drain is the policy of Drain: DrainDetach (default), DrainWait or
	// DrainKill. Detach without a Reattacher acts as DrainKill.
	Drain  string
	Logger *slog.Logger
}

// Orchestrator owns the runs. Handle feeds it; Close stops it.
type Orchestrator struct {
	opts Options
	log  *slog.Logger

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	slots    *slots // nil without a cap
	draining atomic.Bool

	mu      sync.Mutex
	queues  map[string]*queue // by queue key
	jobs    map[string]*job   // accepted and not yet finished, by run id
	seen    recent[msgKey]
	updates recent[int64]
	ignored map[int64]bool // users not on the allowlist, logged once
	// closed is set by Close: from then on no goroutine is started, so
	// that none is added while Close waits for them.
	closed bool
	// resets holds when /new was last sent in each conversation: runs
	// accepted before it neither resume nor store a session.
	resets map[string]time.Time
	// deliverPause is the first pause before a final answer's part is
	// tried again (see sendPartPatiently).
	deliverPause time.Duration
}

type msgKey struct{ chat, msg int64 }

// New returns an Orchestrator; it starts no goroutine until Handle is called.
func New(opts Options) (*Orchestrator, error) {
	if len(opts.AllowedUsers) == 0 {
		return nil, fmt.Errorf("new orchestrator: empty allowlist")
	}
	if opts.Chat == nil || opts.Sandbox == nil || opts.Sessions == nil {
		return nil, fmt.Errorf("new orchestrator: chat, sandbox and session store are required")
	}
	if opts.MaxConcurrentRuns < 0 {
		return nil, fmt.Errorf("new orchestrator: negative MaxConcurrentRuns %d", opts.MaxConcurrentRuns)
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 2 * time.Second
	}
	if opts.SessionMode == "" {
		opts.SessionMode = SessionChat
	}
	switch opts.Drain {
	case "":
		opts.Drain = DrainDetach
	case DrainDetach, DrainWait, DrainKill:
	default:
		return nil, fmt.Errorf("new orchestrator: unknown drain policy %q", opts.Drain)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Orchestrator{
		opts: opts, log: log, ctx: ctx, cancel: cancel,
		slots:        newSlots(opts.MaxConcurrentRuns),
		queues:       map[string]*queue{},
		jobs:         map[string]*job{},
		seen:         newRecent[msgKey](),
		updates:      newRecent[int64](),
		ignored:      map[int64]bool{},
		resets:       map[string]time.Time{},
		deliverPause: 5 * time.Second,
	}, nil
}

// Close cancels every queued and running run and waits for them to finish
// (their containers stopped and removed, their users told).
func (o *Orchestrator) Close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
}

// goOwned runs f in a goroutine Close waits for; false (and f not run)
// once Close was called.
func (o *Orchestrator) goOwned(f func()) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		f()
	}()
	return true
}

// Handle takes one message. It returns once the message is either ignored or
// accepted into its session's queue, so the caller may then record the
// update as handled. Safe for concurrent use.
func (o *Orchestrator) Handle(ctx context.Context, m Message) {
	if !o.firstSight(m) {
		o.log.Info("duplicate update ignored", "chat", m.ChatID, "message", m.MessageID, "update", m.UpdateID)
		return
	}
	if m.CallbackID != "" {
		o.press(ctx, m)
		return
	}
	if o.forOtherBot(m.Text) {
		return
	}
	if !o.allowed(m.UserID) {
		o.ignore(m)
		return
	}
	if o.stopping() {
		o.takeWhileStopping(ctx, m)
		return
	}
	if reply := o.missed(m); reply != "" {
		o.reply(m, reply)
		return
	}
	if reply, ok := o.command(m); ok {
		if reply != "" {
			o.reply(m, reply)
		}
		return
	}
	job, reply := o.route(m)
	if reply != "" {
		o.reply(m, reply)
		return
	}
	if !o.enqueue(job) {
		o.holdForNext(ctx, job)
	}
}

// replyInLine answers m before Handle returns: for a bridge that stops,
// where no goroutine may start any more. Polling waits meanwhile.
func (o *Orchestrator) replyInLine(ctx context.Context, m Message, s string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := o.opts.Chat.Send(ctx, Outgoing{ChatID: m.ChatID, ThreadID: m.ThreadID, ReplyTo: m.MessageID, Text: plainText(s)}); err != nil {
		o.log.Warn("send reply", "chat", m.ChatID, "err", err)
	}
}

// forOtherBot reports whether text starts with a command addressed to
// another bot, as Telegram writes commands in groups with several bots.
func (o *Orchestrator) forOtherBot(text string) bool {
	word, _ := cutWord(strings.TrimSpace(text))
	if !strings.HasPrefix(word, "/") || o.opts.BotUsername == "" {
		return false
	}
	_, to, addressed := strings.Cut(word, "@")
	return addressed && !strings.EqualFold(to, o.opts.BotUsername)
}

func (o *Orchestrator) allowed(user int64) bool {
	return slices.Contains(o.opts.AllowedUsers, user)
}

// missed is the reply to a message that waited too long while the bridge
// was down, "" for one that may run.
func (o *Orchestrator) missed(m Message) string {
	if o.opts.MissedAfter <= 0 || m.Sent.IsZero() {
		return ""
	}
	age := time.Since(m.Sent)
	if age <= o.opts.MissedAfter {
		return ""
	}
	o.log.Info("message missed while offline", "chat", m.ChatID, "message", m.MessageID, "age", age.Round(time.Second))
	return fmt.Sprintf("Missed while offline: this message arrived %s ago, while the bridge was down, and was not run. Send it again if it still matters.",
		formatElapsed(age))
}

// reply answers m with a plain text, without waiting for the chat.
func (o *Orchestrator) reply(m Message, s string) {
	o.sendLater(Outgoing{ChatID: m.ChatID, ThreadID: m.ThreadID, ReplyTo: m.MessageID, Text: plainText(s)})
}

func (o *Orchestrator) ignore(m Message) {
	o.mu.Lock()
	first := !o.ignored[m.UserID]
	o.ignored[m.UserID] = true
	o.mu.Unlock()
	if first {
		o.log.Warn("message from a user not on the allowlist ignored", "user", m.UserID, "chat", m.ChatID)
	}
}

// firstSight records m and reports whether it is new: neither its update
// id nor (for a message, not a button press) its chat and message id was
// seen before.
func (o *Orchestrator) firstSight(m Message) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if m.UpdateID != 0 && !o.updates.add(m.UpdateID) {
		return false
	}
	if m.CallbackID == "" && !o.seen.add(msgKey{m.ChatID, m.MessageID}) {
		return false
	}
	return true
}

// maxRecent bounds the memory kept for deduplication.
const maxRecent = 10000

// recent is a bounded set that forgets its oldest entries first.
type recent[K comparable] struct {
	set  map[K]struct{}
	fifo []K
}

func newRecent[K comparable]() recent[K] { return recent[K]{set: map[K]struct{}{}} }

// add records k and reports whether it was new.
func (r *recent[K]) add(k K) bool {
	if _, dup := r.set[k]; dup {
		return false
	}
	r.set[k] = struct{}{}
	r.fifo = append(r.fifo, k)
	if len(r.fifo) > maxRecent {
		delete(r.set, r.fifo[0])
		r.fifo = r.fifo[1:]
	}
	return true
}

// sendLater sends m from an owned goroutine, so Handle never waits on the
// chat for replies that start no run.
func (o *Orchestrator) sendLater(m Outgoing) {
	send := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), time.Minute)
		defer cancel()
		if _, err := o.opts.Chat.Send(ctx, m); err != nil {
			o.log.Warn("send reply", "chat", m.ChatID, "err", err)
		}
	}
	if !o.goOwned(send) {
		send() // stopping: the caller waits instead
	}
}

// job is one accepted message waiting for, or running as, a run.
type job struct {
	id      string
	msg     Message
	project Project
	engine  engines.Engine
	// session is the key of the conversation: its stored resume token.
	session string
	// queue is the key of the FIFO the job waits in: the session in chat
	// mode; in stateless mode the resumed session, or the job alone.
	queue  string
	prompt string
	// resume is a session id taken from the message replied to; it wins
	// over the conversation's stored session.
	resume string

	// ctx ends when the job is cancelled or the bridge shuts down.
	ctx    context.Context
	cancel context.CancelFunc

	// announced is closed once the first message was sent; progressID is
	// then its id, or 0 when it could not be sent.
	announced  chan struct{}
	progressID int64

	// Guarded by Orchestrator.mu:
	// waiting is set while the job, first in its queue, waits for a run
	// slot; prog is set once it runs; cancelledBy is the user who
	// cancelled it.
	waiting     bool
	prog        *progress
	cancelledBy int64

	// The run's record (see RunRecord), guarded by Orchestrator.mu.
	accepted   time.Time
	container  string
	started    time.Time
	delivering bool   // the final answer is being sent: too late to cancel
	final      []Text // the final answer's parts, once known
	delivered  int    // how many of them were sent
	// reattach is set for a run restored with a container: it carries on
	// in that container instead of starting a new one.
	reattach bool
}

// cancelData is the callback data of a run's cancel button.
const cancelData = "cancel:"

// buttons are the inline buttons of j's progress message.
func (j *job) buttons() []Button {
	return []Button{{Text: "cancel", Data: cancelData + j.id}}
}

// route picks project and engine for m. A non-empty reply means m starts no
// run and the user should read reply instead.
func (o *Orchestrator) route(m Message) (*job, string) {
	d := o.parseDirectives(m.Text)
	p, ok := o.projectFor(m, d.project)
	if !ok {
		return nil, "This chat is not linked to a project. Add its chat_id to a [projects.<name>] table in the config."
	}
	repliedEngine, resume, _ := o.resumeFromReply(m)
	name := o.chooseEngine(m, d, p, repliedEngine)
	if name != repliedEngine {
		resume = ""
	}
	eng := o.engineFor(name)
	if eng == nil {
		return nil, fmt.Sprintf("The engine %q is not available in this build.", name)
	}
	if strings.TrimSpace(d.prompt) == "" {
		if d.engine != "" || d.project != "" {
			return nil, "Write the prompt after the directive, e.g. /" + name + " fix the failing test."
		}
		return nil, "Send a text message: it becomes the agent's prompt."
	}
	j := &job{
		id:      newRunID(),
		msg:     m,
		project: p,
		engine:  eng,
		session: sessionKey(m, p.Name, name),
		prompt:  d.prompt,
		resume:  resume,
	}
	j.queue = o.queueKey(j)
	return j, ""
}

// projectFor finds the project of m: the one named by a directive, else
// the one routed from its chat, else (in a private chat) the default.
func (o *Orchestrator) projectFor(m Message, named string) (Project, bool) {
	if named != "" {
		return o.project(named)
	}
	if m.ThreadID != 0 {
		for _, p := range o.opts.Projects {
			if p.ChatID == m.ChatID && p.TopicID == m.ThreadID {
				return p, true
			}
		}
	}
	for _, p := range o.opts.Projects {
		if p.ChatID != 0 && p.ChatID == m.ChatID && p.TopicID == 0 {
			return p, true
		}
	}
	if m.Private && o.opts.DefaultProject != "" {
		return o.project(o.opts.DefaultProject)
	}
	return Project{}, false
}

func newRunID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Stats counts the runs in flight and the messages waiting, behind another
// run of their session or for a free run slot. Safe for concurrent use.
func (o *Orchestrator) Stats() (running, queued int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, q := range o.queues {
		if len(q.jobs) == 0 {
			continue
		}
		queued += len(q.jobs) - 1
		if q.jobs[0].waiting {
			queued++
		} else {
			running++
		}
	}
	return running, queued
}
