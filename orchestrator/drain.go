package orchestrator

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// Drain policies: what a stopping bridge does with the runs in flight.
const (
	// DrainDetach leaves the containers running; the next bridge of the
	// instance reattaches to them and delivers their answers.
	DrainDetach = "detach"
	// DrainWait waits up to the drain timeout, then stops what is left.
	DrainWait = "wait"
	// DrainKill stops every run at once.
	DrainKill = "kill"
)

// Reattacher is a sandbox whose runs can outlive the bridge: see
// sandbox/podman.Runner for the contract.
type Reattacher interface {
	// Detach makes every run in flight return sandbox.ErrDetached and
	// leave its container running.
	Detach()
	// Reattach carries on the run in container name from its first line;
	// sandbox.ErrNotFound when there is no such container.
	Reattach(ctx context.Context, name string, onLine func([]byte)) (sandbox.Result, error)
	// RemoveContainer removes a container kept after its run (Spec.Keep).
	RemoveContainer(ctx context.Context, name string) error
}

// RunRecord is what a restarted bridge needs to carry on a run: who asked,
// where it answers, and its container once started.
type RunRecord struct {
	ChatID     int64     `json:"chat_id"`
	ThreadID   int64     `json:"thread_id,omitempty"`
	MessageID  int64     `json:"message_id"`
	UserID     int64     `json:"user_id"`
	Private    bool      `json:"private,omitempty"`
	Accepted   time.Time `json:"accepted"`
	Project    string    `json:"project"`
	Engine     string    `json:"engine"`
	Session    string    `json:"session"`
	Queue      string    `json:"queue"`
	Prompt     string    `json:"prompt"`
	Resume     string    `json:"resume,omitempty"`
	ProgressID int64     `json:"progress_id,omitempty"`
	// Container is set once the run's container is being created.
	Container string    `json:"container,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	// Final holds the parts of the final answer once the run ended, and
	// Delivered how many of them were sent: a restored record with Final
	// only gets the rest delivered, so no answer is lost or sent twice.
	Final     []Text `json:"final,omitempty"`
	Delivered int    `json:"delivered,omitempty"`
}

// RunStore persists the records of the runs in flight. Safe for
// concurrent use; Put and Delete are durable when they return.
type RunStore interface {
	Put(id string, r RunRecord) error
	Delete(id string) error
	All() map[string]RunRecord
}

// record persists j's record; a no-op without a RunStore.
func (o *Orchestrator) record(j *job) {
	if o.opts.Runs == nil {
		return
	}
	o.mu.Lock()
	r := RunRecord{
		ChatID: j.msg.ChatID, ThreadID: j.msg.ThreadID, MessageID: j.msg.MessageID, UserID: j.msg.UserID,
		Private: j.msg.Private, Accepted: j.accepted, Project: j.project.Name, Engine: j.engine.Name(),
		Session: j.session, Queue: j.queue, Prompt: j.prompt, Resume: j.resume, ProgressID: j.progressID,
		Container: j.container, Started: j.started, Final: j.final, Delivered: j.delivered,
	}
	o.mu.Unlock()
	if err := o.opts.Runs.Put(j.id, r); err != nil {
		o.log.Error("save run record", "run", j.id, "err", err)
	}
}

// forget deletes j's record and removes its kept container.
func (o *Orchestrator) forget(j *job, log *slog.Logger) {
	if o.opts.Runs == nil {
		return
	}
	if err := o.opts.Runs.Delete(j.id); err != nil {
		log.Error("delete run record", "err", err)
	}
	o.mu.Lock()
	name := j.container
	o.mu.Unlock()
	if name == "" || o.opts.Reattacher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), sendTimeout)
	defer cancel()
	if err := o.opts.Reattacher.RemoveContainer(ctx, name); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
		log.Warn("remove container", "container", name, "err", err)
	}
}

// keepsRuns reports whether runs in flight outlive this bridge.
func (o *Orchestrator) keepsRuns() bool {
	return o.opts.Runs != nil && o.opts.Reattacher != nil && o.opts.Drain == DrainDetach
}

// stopping reports whether the bridge takes no new runs: it drains or
// closes.
func (o *Orchestrator) stopping() bool { return o.draining.Load() || o.ctx.Err() != nil }

// Drain stops the bridge's runs as its policy says and returns once every
// run was detached, finished or stopped and its users told; messages that
// arrive from then on are answered "restarting", in Handle itself. Messages
// still waiting for their turn keep their records and run after the
// restart (without a RunStore their senders are told to send them again).
// ctx bounds the wait of DrainWait (the drain timeout). Drain ends with
// Close; call Close again once nothing calls Handle any more.
func (o *Orchestrator) Drain(ctx context.Context) {
	if o.draining.Swap(true) {
		o.Close()
		return
	}
	running, queued := o.Stats()
	o.log.Info("draining", "policy", o.opts.Drain, "running", running, "queued", queued)
	switch {
	case o.keepsRuns():
		o.opts.Reattacher.Detach()
	case o.opts.Drain == DrainWait:
		if deadline, ok := ctx.Deadline(); ok {
			o.noteRunning(drainWaitNote(time.Until(deadline)))
		}
		o.waitForRuns(ctx)
	}
	o.Close()
}

// noteRunning adds note to the progress message of every running run.
func (o *Orchestrator) noteRunning(note string) {
	o.mu.Lock()
	var progs []*progress
	for _, j := range o.jobs {
		if j.prog != nil {
			progs = append(progs, j.prog)
		}
	}
	o.mu.Unlock()
	for _, p := range progs {
		p.view.setNote(note)
		p.touch()
	}
}

// waitForRuns waits until no run is in its container, or ctx ends.
func (o *Orchestrator) waitForRuns(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if o.active() == 0 {
			return
		}
		select {
		case <-ctx.Done():
			o.log.Warn("drain timeout: stopping the runs left", "running", o.active())
			return
		case <-tick.C:
		}
	}
}

// active counts the jobs that started a run.
func (o *Orchestrator) active() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, j := range o.jobs {
		if j.prog != nil {
			n++
		}
	}
	return n
}

// takeWhileStopping handles a message that arrives while the bridge
// drains or closes: a prompt is kept for the next bridge (holdForNext),
// so its update can be confirmed without losing it; a command is answered
// "restarting". Everything is answered in line: no goroutine may start.
func (o *Orchestrator) takeWhileStopping(ctx context.Context, m Message) {
	if reply := o.in.missed(m); reply != "" {
		o.replyInLine(ctx, m, reply)
		return
	}
	if o.isCommand(m.Text) {
		o.replyInLine(ctx, m, restarting)
		return
	}
	j, reply := o.router.route(m)
	if reply != "" {
		o.replyInLine(ctx, m, reply)
		return
	}
	j.accepted = time.Now()
	o.holdForNext(ctx, j)
}

// holdForNext keeps a message that was accepted too late to run in this
// bridge: its record is written before Handle returns (so its update is
// confirmed only once it is kept), and a placeholder that the next bridge
// turns into the progress message tells the user it runs once the bridge
// is back. Without a RunStore the user is asked to send it again.
func (o *Orchestrator) holdForNext(ctx context.Context, j *job) {
	if o.opts.Runs == nil {
		o.replyInLine(ctx, j.msg, restarting)
		return
	}
	o.record(j)
	o.log.Info("message kept for the next bridge", "run", j.id, "chat", j.msg.ChatID)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	id, err := o.opts.Chat.Send(ctx, Outgoing{
		ChatID: j.msg.ChatID, ThreadID: j.msg.ThreadID, ReplyTo: j.msg.MessageID, Text: heldText(j.engine.Name()), Buttons: j.buttons(),
	})
	if err != nil {
		o.log.Warn("send placeholder of a kept message", "run", j.id, "chat", j.msg.ChatID, "err", err)
		return
	}
	o.mu.Lock()
	j.progressID = id
	o.mu.Unlock()
	o.record(j)
}

// hold leaves a job that had not started for the next bridge, telling its
// user; without a RunStore the user is asked to send it again instead.
func (o *Orchestrator) hold(j *job, p *progress, log *slog.Logger) {
	o.mu.Lock()
	cancelled := j.cancelledBy != 0
	o.mu.Unlock()
	if cancelled {
		o.finish(j, p, failure(j, cancelledBeforeStart), log)
		return
	}
	if o.opts.Runs == nil {
		o.finish(j, p, failure(j, notRunShutdown), log)
		return
	}
	log.Info("run held for the next bridge")
	if j.progressID == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), sendTimeout)
	defer cancel()
	if err := o.opts.Chat.Edit(ctx, j.msg.ChatID, j.progressID, heldText(j.engine.Name()), j.buttons()); err != nil {
		log.Warn("edit progress message", "err", err)
	}
}

// Restore carries on the runs recorded by the previous bridge of this
// instance: it reattaches to their containers (or reads what they wrote
// while no bridge ran) and requeues the messages that had not started, in
// the order they arrived. Call it once, before the first Handle. It returns
// the ids of the runs it took over; their containers are not orphans.
func (o *Orchestrator) Restore() map[string]bool {
	taken := map[string]bool{}
	if o.opts.Runs == nil {
		return taken
	}
	type entry struct {
		id string
		r  RunRecord
	}
	var all []entry
	for id, r := range o.opts.Runs.All() {
		all = append(all, entry{id, r})
	}
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.r.Accepted.UnixNano(), b.r.Accepted.UnixNano()) })
	for _, e := range all {
		if o.restore(e.id, e.r) {
			taken[e.id] = true
		}
	}
	return taken
}

// restore requeues one recorded run; false when it was only cleaned up.
func (o *Orchestrator) restore(id string, r RunRecord) bool {
	log := o.log.With("run", id, "chat", r.ChatID, "project", r.Project, "engine", r.Engine)
	m := Message{ChatID: r.ChatID, ThreadID: r.ThreadID, MessageID: r.MessageID, UserID: r.UserID, Private: r.Private}
	o.in.markSeen(m)
	p, okProject := o.router.project(r.Project)
	eng := o.opts.Engines[r.Engine]
	j := &job{
		id: id, msg: m, project: p, engine: eng, session: r.Session, queue: r.Queue, prompt: r.Prompt,
		resume: r.Resume, progressID: r.ProgressID, accepted: r.Accepted, container: r.Container,
		started: r.Started, final: r.Final, delivered: r.Delivered, delivering: len(r.Final) > 0,
	}
	switch {
	case len(r.Final) > 0:
		log.Info("run ended before the restart: delivering its answer", "parts", len(r.Final), "delivered", r.Delivered)
		o.goOwned(func() { o.deliver(j, nil, log) })
		return false
	case !o.in.allowed(r.UserID):
		log.Warn("recorded run's user is no longer on the allowlist: dropped", "user", r.UserID)
		o.forget(j, log)
		return false
	case !okProject || eng == nil:
		log.Warn("recorded run's project or engine is gone from the config")
		o.forget(j, log)
		o.reply(m, "The bridge restarted with a config that no longer has this project or engine, so this message was dropped.")
		return false
	case r.Container != "" && o.opts.Reattacher == nil:
		log.Warn("recorded run cannot be reattached by this sandbox")
		o.forget(j, log)
		o.reply(m, "The bridge restarted and this run was stopped with it. Send the message again.")
		return false
	}
	j.reattach = r.Container != ""
	log.Info("run restored", "reattach", j.reattach)
	o.enqueue(j)
	return true
}
