// Package orchestrator is the daemon's core: it takes chat messages, checks
// the allowlist, routes each chat to a project and an engine, keeps one
// session per conversation, queues runs per session, runs them in the
// sandbox and turns their events into progress and final messages.
//
// It declares the small interfaces it consumes (Chat, Sandbox,
// SessionStore) and imports no adapter: no telego, no podman bindings, no
// TOML, no cobra. Only cmd/untether wires adapters to it.
package orchestrator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
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
	// ReplyToText is the text of the message this one replies to, if any.
	ReplyToText string
}

// Outgoing is a message to send.
type Outgoing struct {
	ChatID   int64
	ThreadID int64
	// ReplyTo is the message answered; 0 for none.
	ReplyTo int64
	Text    Text
}

// Chat is the transport the orchestrator writes to. Implementations pace
// and retry on their own; an error means the message could not be
// delivered. Safe for concurrent use.
type Chat interface {
	Send(ctx context.Context, m Outgoing) (messageID int64, err error)
	// Edit replaces a message's text; an edit to the same text succeeds.
	Edit(ctx context.Context, chatID, messageID int64, t Text) error
	Delete(ctx context.Context, chatID, messageID int64) error
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
}

// ChatStore keeps per-chat settings (the engine chosen with /agent) across
// restarts. Safe for concurrent use.
type ChatStore interface {
	Engine(key string) (engine string, ok bool)
	SetEngine(key, engine string) error
}

// Project is a directory routed from a chat.
type Project struct {
	Name          string
	Path          string
	ChatID        int64
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

	Engines  map[string]engines.Engine
	Chat     Chat
	Sandbox  Sandbox
	Sessions SessionStore
	// Chats is optional: without it /agent cannot change a chat's engine.
	Chats  ChatStore
	Logger *slog.Logger
}

// Orchestrator owns the runs. Handle feeds it; Close stops it.
type Orchestrator struct {
	opts Options
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	slots  *slots // nil without a cap

	mu       sync.Mutex
	queues   map[string]*queue // by session key
	seen     map[msgKey]struct{}
	seenFIFO []msgKey
	ignored  map[int64]bool // users not on the allowlist, logged once
}

type msgKey struct{ chat, msg int64 }

// maxSeen bounds the memory of handled messages kept for deduplication.
const maxSeen = 10000

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
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Orchestrator{
		opts: opts, log: log, ctx: ctx, cancel: cancel,
		slots:   newSlots(opts.MaxConcurrentRuns),
		queues:  map[string]*queue{},
		seen:    map[msgKey]struct{}{},
		ignored: map[int64]bool{},
	}, nil
}

// Close cancels every queued and running run and waits for them to finish
// (their containers stopped and removed, their users told).
func (o *Orchestrator) Close() {
	o.cancel()
	o.wg.Wait()
}

// Handle takes one message. It returns once the message is either ignored or
// accepted into its session's queue, so the caller may then record the
// update as handled. Safe for concurrent use.
func (o *Orchestrator) Handle(ctx context.Context, m Message) {
	if !slices.Contains(o.opts.AllowedUsers, m.UserID) {
		o.ignore(m)
		return
	}
	if !o.firstSight(m) {
		o.log.Info("duplicate message ignored", "chat", m.ChatID, "message", m.MessageID)
		return
	}
	if o.ctx.Err() != nil {
		return
	}
	job, reply := o.route(m)
	if reply != "" {
		o.sendLater(Outgoing{ChatID: m.ChatID, ThreadID: m.ThreadID, ReplyTo: m.MessageID, Text: plainText(reply)})
		return
	}
	o.enqueue(job)
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

// firstSight records m and reports whether it had not been seen before.
func (o *Orchestrator) firstSight(m Message) bool {
	k := msgKey{m.ChatID, m.MessageID}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.seen[k]; dup {
		return false
	}
	o.seen[k] = struct{}{}
	o.seenFIFO = append(o.seenFIFO, k)
	if len(o.seenFIFO) > maxSeen {
		delete(o.seen, o.seenFIFO[0])
		o.seenFIFO = o.seenFIFO[1:]
	}
	return true
}

// sendLater sends m from an owned goroutine, so Handle never waits on the
// chat for replies that start no run.
func (o *Orchestrator) sendLater(m Outgoing) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), time.Minute)
		defer cancel()
		if _, err := o.opts.Chat.Send(ctx, m); err != nil {
			o.log.Warn("send reply", "chat", m.ChatID, "err", err)
		}
	}()
}

// job is one accepted message waiting for, or running as, a run.
type job struct {
	id      string
	msg     Message
	project Project
	engine  engines.Engine
	session string // key of the conversation
	prompt  string
	// resume is a session id taken from the message replied to; it wins
	// over the conversation's stored session.
	resume string

	// announced is closed once the first message was sent; progressID is
	// then its id, or 0 when it could not be sent.
	announced  chan struct{}
	progressID int64
	// waiting is set while the job, first in its queue, waits for a run
	// slot. Guarded by Orchestrator.mu.
	waiting bool
}

// route picks project and engine for m. A non-empty reply means m starts no
// run and the user should read reply instead.
func (o *Orchestrator) route(m Message) (*job, string) {
	if reply, ok := o.agentCommand(m, m.Text); ok {
		return nil, reply
	}
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
	return &job{
		id:      newRunID(),
		msg:     m,
		project: p,
		engine:  eng,
		session: sessionKey(m, name),
		prompt:  d.prompt,
		resume:  resume,
	}, ""
}

// projectFor finds the project of m: the one named by a directive, else
// the one routed from its chat, else (in a private chat) the default.
func (o *Orchestrator) projectFor(m Message, named string) (Project, bool) {
	if named != "" {
		return o.project(named)
	}
	for _, p := range o.opts.Projects {
		if p.ChatID != 0 && p.ChatID == m.ChatID {
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
