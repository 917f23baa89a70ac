package orchestrator

import (
	"context"
	"slices"
	"time"

	"github.com/untether-go/untether/engines"
)

// queue holds the jobs of one session: they run one after another, in the
// order their messages arrived. Guarded by Orchestrator.mu.
type queue struct {
	jobs    []*job
	running bool
}

// sendTimeout bounds one chat call made on behalf of a run.
const sendTimeout = time.Minute

// enqueue appends j to its session's queue, announces it in the chat, and
// starts the session's worker when it is idle. It is false once Close was
// called: j is then not queued (see holdForNext).
func (o *Orchestrator) enqueue(j *job) bool {
	j.announced = make(chan struct{})
	j.ctx, j.cancel = context.WithCancel(o.ctx)
	if j.accepted.IsZero() {
		j.accepted = time.Now()
	}
	// Recorded before Handle returns, so the update is never marked handled
	// without the message being kept somewhere.
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	o.mu.Unlock()
	o.record(j)
	o.mu.Lock()
	if o.closed {
		// Recorded: the caller holds it for the next bridge.
		o.mu.Unlock()
		return false
	}
	o.jobs[j.id] = j
	q := o.queues[j.queue]
	if q == nil {
		q = &queue{}
		o.queues[j.queue] = q
	}
	ahead := len(q.jobs)
	q.jobs = append(q.jobs, j)
	start := !q.running
	q.running = true
	o.wg.Add(1)
	if start {
		o.wg.Add(1)
	}
	o.mu.Unlock()

	go o.announce(j, ahead)
	if start {
		go o.work(j.queue, q)
	}
	return true
}

// announce sends the message that later becomes j's progress message: the
// user sees at once that the bridge took the message.
func (o *Orchestrator) announce(j *job, ahead int) {
	defer o.wg.Done()
	defer close(j.announced)
	t := placeholderText(j.engine.Name(), ahead)
	// A bridge that closes withdraws the placeholder if it is still
	// queued: the record keeps the message, and the next bridge announces
	// it. A send already on the wire completes, so no placeholder is left
	// behind unknown.
	ctx, cancel := context.WithTimeout(o.ctx, sendTimeout)
	defer cancel()
	if j.progressID != 0 { // restored: its message exists
		if j.reattach {
			return // the progress view replaces it soon
		}
		if err := o.opts.Chat.Edit(ctx, j.msg.ChatID, j.progressID, t, j.buttons()); err != nil {
			o.log.Warn("edit progress message", "run", j.id, "chat", j.msg.ChatID, "err", err)
		}
		return
	}
	id, err := o.opts.Chat.Send(ctx, Outgoing{
		ChatID: j.msg.ChatID, ThreadID: j.msg.ThreadID, ReplyTo: j.msg.MessageID, Text: t,
		Buttons: j.buttons(),
	})
	if err != nil {
		o.log.Warn("send progress message", "run", j.id, "chat", j.msg.ChatID, "err", err)
		return
	}
	o.mu.Lock() // cancelCommand reads it before j is announced
	j.progressID = id
	o.mu.Unlock()
	o.record(j)
}

// work runs the jobs of one session until its queue is empty.
func (o *Orchestrator) work(key string, q *queue) {
	defer o.wg.Done()
	for {
		o.mu.Lock()
		if len(q.jobs) == 0 {
			q.running = false
			delete(o.queues, key)
			o.mu.Unlock()
			return
		}
		j := q.jobs[0]
		o.mu.Unlock()

		o.execute(j)

		o.mu.Lock()
		q.jobs = q.jobs[1:]
		delete(o.jobs, j.id)
		o.mu.Unlock()
		j.cancel()
	}
}

// cancelJob cancels j on behalf of user. A job still waiting behind
// another leaves its queue at once and is answered "cancelled"; a running
// one is stopped by its context and answered when its container is gone.
// It reports false when j had already ended.
func (o *Orchestrator) cancelJob(j *job, user int64) bool {
	o.mu.Lock()
	if o.jobs[j.id] != j || j.delivering {
		o.mu.Unlock()
		return false
	}
	j.cancelledBy = user
	q := o.queues[j.queue]
	i := slices.Index(q.jobs, j)
	behind := i > 0 && !o.closed // once closed, the queue's worker holds it
	if behind {
		q.jobs = slices.Delete(q.jobs, i, i+1)
		delete(o.jobs, j.id)
		o.wg.Add(1)
	}
	o.mu.Unlock()
	j.cancel()
	o.log.Info("run cancelled", "run", j.id, "chat", j.msg.ChatID, "user", user)
	if behind {
		go func() {
			defer o.wg.Done()
			<-j.announced
			p := newProgress(o, j, time.Now())
			o.finish(j, p, engines.Completed{Error: cancelledBeforeStart}, o.log.With("run", j.id))
		}()
	}
	return true
}
