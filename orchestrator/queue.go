package orchestrator

import (
	"context"
	"fmt"
	"time"
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
// starts the session's worker when it is idle.
func (o *Orchestrator) enqueue(j *job) {
	j.announced = make(chan struct{})
	o.mu.Lock()
	q := o.queues[j.session]
	if q == nil {
		q = &queue{}
		o.queues[j.session] = q
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
		go o.work(j.session, q)
	}
}

// announce sends the message that later becomes j's progress message: the
// user sees at once that the bridge took the message.
func (o *Orchestrator) announce(j *job, ahead int) {
	defer o.wg.Done()
	defer close(j.announced)
	s := fmt.Sprintf("starting · %s", j.engine.Name())
	if ahead > 0 {
		s = fmt.Sprintf("queued · %s · %d ahead", j.engine.Name(), ahead)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), sendTimeout)
	defer cancel()
	id, err := o.opts.Chat.Send(ctx, Outgoing{
		ChatID: j.msg.ChatID, ThreadID: j.msg.ThreadID, ReplyTo: j.msg.MessageID, Text: plainText(s),
	})
	if err != nil {
		o.log.Warn("send progress message", "run", j.id, "chat", j.msg.ChatID, "err", err)
		return
	}
	j.progressID = id
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
		o.mu.Unlock()
	}
}
