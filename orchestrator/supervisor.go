package orchestrator

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// sendTimeout bounds one chat call made on behalf of a run.
const sendTimeout = time.Minute

// supervisor owns the runs in flight: it queues them per session (FIFO),
// starts one goroutine per run that drives the run's state machine (see
// run.go), hands out the run slots, and answers for the runs: lookups,
// cancel, counts. Safe for concurrent use.
type supervisor struct {
	opts     *Options // read-only
	log      *slog.Logger
	lt       *lifetime
	book     *runbook
	sessions *sessions
	router   *router
	slots    *slots // nil without a cap
	desk     *desk  // sends a run's outbox
	bud      *budget

	// deliverPause is the first pause before a final answer's part is
	// tried again (see run.sendPartPatiently).
	deliverPause time.Duration

	mu     sync.Mutex
	queues map[string]*queue // by queue key
	runs   map[string]*run   // accepted and not yet finished, by run id
}

// queue holds the runs of one session: they run one after another, in the
// order their messages arrived. The first has its turn. Guarded by
// supervisor.mu.
type queue struct {
	runs []*run
}

func newSupervisor(opts *Options, log *slog.Logger, lt *lifetime, book *runbook, s *sessions, rt *router) *supervisor {
	return &supervisor{
		opts: opts, log: log, lt: lt, book: book, sessions: s, router: rt,
		slots:        newSlots(opts.MaxConcurrentRuns),
		deliverPause: 5 * time.Second,
		queues:       map[string]*queue{},
		runs:         map[string]*run{},
	}
}

// adopt makes r a run of s: before enqueue, or before delivering a
// restored answer.
func (s *supervisor) adopt(r *run) {
	if r.sup == s {
		return
	}
	r.sup = s
	r.announced = make(chan struct{})
	r.turn = make(chan struct{})
	r.ctx, r.cancel = context.WithCancel(s.lt.ctx)
	if r.accepted.IsZero() {
		r.accepted = time.Now()
	}
}

// enqueue records r, appends it to its session's queue, announces it in
// the chat and starts its goroutine. It is false once Close was called: r
// is then not queued (see Orchestrator.holdForNext).
func (s *supervisor) enqueue(r *run) bool {
	s.adopt(r)
	if s.lt.isClosed() {
		return false
	}
	s.book.keep(r)
	if !s.lt.add(2) {
		return false // recorded: the caller holds it for the next bridge
	}
	s.mu.Lock()
	s.runs[r.id] = r
	q := s.queues[r.queue]
	if q == nil {
		q = &queue{}
		s.queues[r.queue] = q
	}
	ahead := len(q.runs)
	q.runs = append(q.runs, r)
	if ahead == 0 {
		close(r.turn)
	}
	s.mu.Unlock()

	go s.announce(r, ahead)
	go s.supervise(r)
	return true
}

// supervise is r's goroutine: it waits for r's turn in its queue, carries
// r out, and passes the turn on.
func (s *supervisor) supervise(r *run) {
	defer s.lt.done()
	defer r.cancel()
	<-r.announced
	// Runs of a session go one at a time, also when the bridge stops: each
	// is then held (or told) in turn, as they arrived.
	<-r.turn
	if !s.queued(r) { // cancel took it out of its queue
		log := r.logger()
		r.finish(r.newProgress(time.Now()), failure(cancelledBeforeStart), log)
		return
	}
	r.execute()
	s.leave(r)
}

// announce sends the message that later becomes r's progress message: the
// user sees at once that the bridge took the message.
func (s *supervisor) announce(r *run, ahead int) {
	defer s.lt.done()
	defer close(r.announced)
	// A bridge that closes withdraws the placeholder if it is still
	// queued: the record keeps the message, and the next bridge announces
	// it. A send already on the wire completes, so no placeholder is left
	// behind unknown.
	ctx, cancel := context.WithTimeout(s.lt.ctx, sendTimeout)
	defer cancel()
	t := placeholderText(r.engine.Name(), ahead)
	if id := r.progressMsg(); id != 0 { // restored: its message exists
		if r.reattach {
			return // the progress view replaces it soon
		}
		if err := s.opts.Chat.Edit(ctx, r.msg.ChatID, id, t, r.buttons()); err != nil {
			s.log.Warn("edit progress message", "run", r.id, "chat", r.msg.ChatID, "err", err)
		}
		return
	}
	id, err := s.opts.Chat.Send(ctx, Outgoing{
		ChatID: r.msg.ChatID, ThreadID: r.msg.ThreadID, ReplyTo: r.msg.MessageID, Text: t, Buttons: r.buttons(),
	})
	if err != nil {
		s.log.Warn("send progress message", "run", r.id, "chat", r.msg.ChatID, "err", err)
		return
	}
	s.book.setProgress(r, id)
}

// queued reports whether r is still in its queue.
func (s *supervisor) queued(r *run) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[r.id] == r
}

// leave takes r out of its queue and hands the turn to the next run.
func (s *supervisor) leave(r *run) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(r)
	r.setState(stateDone)
}

func (s *supervisor) removeLocked(r *run) {
	if s.runs[r.id] != r {
		return
	}
	delete(s.runs, r.id)
	q := s.queues[r.queue]
	i := slices.Index(q.runs, r)
	q.runs = slices.Delete(q.runs, i, i+1)
	switch {
	case i > 0:
		close(r.turn) // cancelled behind another: its goroutine answers it
	case len(q.runs) == 0:
		delete(s.queues, r.queue)
	default:
		close(q.runs[0].turn)
	}
}

// cancel cancels r on behalf of user. A run still waiting behind another
// leaves its queue at once and is answered "cancelled"; a running one is
// stopped by its context and answered when its container is gone. It
// reports false when r had already ended or is delivering its answer.
func (s *supervisor) cancel(r *run, user int64) bool {
	s.mu.Lock()
	if s.runs[r.id] != r || !r.markCancelled(user) {
		s.mu.Unlock()
		return false
	}
	q := s.queues[r.queue]
	// Once closed, a run behind another is held by its own goroutine.
	behind := slices.Index(q.runs, r) > 0 && !s.lt.isClosed()
	if behind {
		s.removeLocked(r)
	}
	s.mu.Unlock()
	r.stop()
	s.log.Info("run cancelled", "run", r.id, "chat", r.msg.ChatID, "user", user)
	return true
}

// lookup returns the run with id, nil when it is not in flight.
func (s *supervisor) lookup(id string) *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}

// here returns the runs in flight in a chat or forum topic.
func (s *supervisor) here(chat, thread int64) []*run {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*run
	for _, r := range s.runs {
		if r.msg.ChatID == chat && r.msg.ThreadID == thread {
			out = append(out, r)
		}
	}
	return out
}

// stats counts the runs in flight and the messages waiting, behind another
// run of their session or for a free run slot.
func (s *supervisor) stats() (running, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queues {
		queued += len(q.runs) - 1
		if q.runs[0].getState() == stateWaiting {
			queued++
		} else {
			running++
		}
	}
	return running, queued
}

// statusRow is one run of /status.
type statusRow struct {
	r        *run
	queued   bool
	ahead    int
	slotWait bool
	started  time.Time
	steps    int
}

// rowsIn lists the runs and queued messages of a chat or forum topic.
func (s *supervisor) rowsIn(chat, thread int64) []statusRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []statusRow
	for _, q := range s.queues {
		for i, r := range q.runs {
			if r.msg.ChatID != chat || r.msg.ThreadID != thread {
				continue
			}
			waiting := r.getState() == stateWaiting
			row := statusRow{r: r, queued: i > 0 || waiting, ahead: i, slotWait: i == 0 && waiting}
			if p := r.liveProgress(); p != nil {
				row.started, row.steps = p.view.snapshot()
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// running returns the progress of every run that started its container.
func (s *supervisor) running() []*runProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*runProgress
	for _, r := range s.runs {
		if p := r.liveProgress(); p != nil {
			out = append(out, p)
		}
	}
	return out
}
