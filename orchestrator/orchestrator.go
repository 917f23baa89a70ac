package orchestrator

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Orchestrator is the facade over the core's parts: it wires them in New
// and passes each message to the part whose job it is. Handle feeds it;
// Close stops it.
type Orchestrator struct {
	opts Options // normalized by New; read-only, the parts share it
	log  *slog.Logger

	lt      *lifetime
	in      *intake
	router  *router
	cmds    *commands
	sup     *supervisor
	book    *runbook
	desk    *desk
	bud     *budget
	replies replier
}

// New returns an Orchestrator; it starts no goroutine until Handle is called.
func New(opts Options) (*Orchestrator, error) {
	if err := normalize(&opts); err != nil {
		return nil, fmt.Errorf("new orchestrator: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Orchestrator{opts: opts, log: log, lt: newLifetime()}
	opt := &o.opts
	o.in = newIntake(opt, log)
	o.router = &router{opts: opt}
	o.book = &runbook{store: opt.Runs, reattacher: opt.Reattacher, lt: o.lt, log: log}
	o.replies = replier{chat: opt.Chat, lt: o.lt, log: log}
	sessions := newSessions(opt.Sessions, opt.SessionMode)
	o.desk = newDesk(opt, log, o.lt, o.router, o.replies)
	o.desk.submit = o.submit
	o.sup = newSupervisor(opt, log, o.lt, o.book, sessions, o.router)
	o.sup.desk = o.desk
	o.bud = newBudget(opt)
	o.sup.bud = o.bud
	o.cmds = &commands{
		opts: opt, log: log, lt: o.lt, in: o.in, router: o.router, sup: o.sup,
		sessions: sessions, replies: o.replies, desk: o.desk, bud: o.bud, submit: o.submitWith,
	}
	return o, nil
}

// normalize checks opts and fills in the defaults.
func normalize(opts *Options) error {
	if len(opts.AllowedUsers) == 0 {
		return fmt.Errorf("empty allowlist")
	}
	if opts.Chat == nil || opts.Sandbox == nil || opts.Sessions == nil {
		return fmt.Errorf("chat, sandbox and session store are required")
	}
	if opts.MaxConcurrentRuns < 0 {
		return fmt.Errorf("negative MaxConcurrentRuns %d", opts.MaxConcurrentRuns)
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 2 * time.Second
	}
	if opts.StallAfter == 0 {
		opts.StallAfter = defaultStallAfter
	}
	if opts.ApprovalTimeout <= 0 {
		opts.ApprovalTimeout = 10 * time.Minute
	}
	normalizeFiles(&opts.Files)
	if opts.SessionMode == "" {
		opts.SessionMode = SessionChat
	}
	switch opts.Drain {
	case "":
		opts.Drain = DrainDetach
	case DrainDetach, DrainWait, DrainKill:
	default:
		return fmt.Errorf("unknown drain policy %q", opts.Drain)
	}
	return nil
}

// Close cancels every queued and running run and waits for them to finish
// (their containers stopped and removed, their users told).
func (o *Orchestrator) Close() { o.lt.close() }

// Handle takes one message. It returns once the message is either ignored or
// accepted into its session's queue, so the caller may then record the
// update as handled. Safe for concurrent use.
func (o *Orchestrator) Handle(ctx context.Context, m Message) {
	if !o.in.firstSight(m) {
		o.log.Info("duplicate update ignored", "chat", m.ChatID, "message", m.MessageID, "update", m.UpdateID)
		return
	}
	if m.CallbackID != "" {
		o.cmds.press(ctx, m)
		return
	}
	if o.in.forOtherBot(m.Text) {
		return
	}
	if !o.in.allowed(m.UserID) {
		o.in.ignore(m)
		return
	}
	if m.StoppedDraft != 0 {
		o.cmds.stopDraft(m) // run_draft.go
		return
	}
	if o.lt.stopping() {
		o.takeWhileStopping(ctx, m)
		return
	}
	if reply := o.in.missed(m); reply != "" {
		o.replies.to(m, reply)
		return
	}
	if !o.cmds.listening(m) {
		return
	}
	if len(m.Files) > 0 {
		o.desk.take(m)
		return
	}
	if reply, ok := o.cmds.answerInWords(m); ok {
		if reply != "" {
			o.replies.to(m, reply)
		}
		return
	}
	if reply, ok := o.cmds.do(m); ok {
		if reply != "" {
			o.replies.to(m, reply)
		}
		return
	}
	o.submit(ctx, m)
}

// submit routes m and queues its run, or holds it for the next bridge when
// this one stops meanwhile. Uploads its conversation waits to tell the
// agent about go with it.
func (o *Orchestrator) submit(ctx context.Context, m Message) { o.submitWith(ctx, m, nil) }

// submitWith is submit with edit applied to the run before it is queued.
func (o *Orchestrator) submitWith(ctx context.Context, m Message, edit func(*run)) {
	r, reply := o.router.route(m)
	if reply != "" {
		o.replies.to(m, reply)
		return
	}
	if reason := o.bud.refusal(r.project.Name); reason != "" {
		o.replies.to(m, reason)
		return
	}
	if edit != nil {
		edit(r)
	}
	if notes := o.desk.takePending(r); notes != "" {
		r.prompt += "\n\n" + notes
	}
	if !o.sup.enqueue(r) {
		o.holdForNext(ctx, r)
	}
}

// Commands is the bot's command menu: the built-in commands, then one per
// engine and per project whose name Telegram accepts as a command (project
// names with a "-" still work as directives, they just are not listed).
func (o *Orchestrator) Commands() []Command { return o.cmds.menu() }

// Stats counts the runs in flight and the messages waiting, behind another
// run of their session or for a free run slot. Safe for concurrent use.
func (o *Orchestrator) Stats() (running, queued int) { return o.sup.stats() }

// Trigger starts the run t asks for, as if a message had: it posts what
// started it in the chat (unless t answers a message already there) and
// runs t's prompt as a reply to that. It returns once the run is queued,
// or why it was not. Safe for concurrent use.
func (o *Orchestrator) Trigger(ctx context.Context, t Trigger) error {
	p, ok := o.router.project(t.Project)
	if !ok {
		return fmt.Errorf("trigger %s %s: no project %q", t.Kind, t.ID, t.Project)
	}
	if t.Engine != "" && o.router.engine(t.Engine) == nil {
		return fmt.Errorf("trigger %s %s: no engine %q", t.Kind, t.ID, t.Engine)
	}
	chat, thread := t.ChatID, t.ThreadID
	if chat == 0 {
		chat, thread = p.ChatID, p.TopicID
	}
	if chat == 0 {
		return fmt.Errorf("trigger %s %s: project %s has no chat_id to answer in", t.Kind, t.ID, p.Name)
	}
	if o.lt.stopping() {
		return fmt.Errorf("trigger %s %s: the bridge is stopping", t.Kind, t.ID)
	}
	reply := t.ReplyTo
	if reply == 0 {
		id, err := o.opts.Chat.Send(ctx, Outgoing{ChatID: chat, ThreadID: thread, Text: plainText(triggerText(t))})
		if err != nil {
			return fmt.Errorf("trigger %s %s: post its message: %w", t.Kind, t.ID, err)
		}
		reply = id
	}
	text := "/" + p.Name
	if t.Engine != "" {
		text += " /" + t.Engine
	}
	if t.Branch != "" {
		text += " @" + t.Branch
	}
	m := Message{
		ChatID: chat, ThreadID: thread, MessageID: reply, UserID: t.UserID, Private: chat > 0,
		Text: text + " " + t.Prompt, Sent: time.Now(),
	}
	o.log.Info("run triggered", "kind", t.Kind, "id", t.ID, "project", p.Name, "chat", chat)
	o.submit(ctx, m)
	return nil
}
