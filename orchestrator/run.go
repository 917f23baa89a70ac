package orchestrator

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/sandbox"
)

// runState is where a run is in its life. A run moves forward only:
//
//	queued → waiting (for a run slot) → starting → running → delivering → done
//
// A run that the bridge's stop catches before its container started is
// held (its record stays for the next bridge); one whose container goes on
// without the bridge is detached. A cancel is a mark, not a state: the run
// goes on to delivering its "cancelled" answer.
type runState int

const (
	stateQueued     runState = iota // accepted, until it has its turn and a slot
	stateWaiting                    // its turn came; it waits for a free run slot
	stateStarting                   // it holds a slot; its container is being made
	stateRunning                    // its container runs; its progress is live
	stateDelivering                 // its final answer is being sent: too late to cancel
	stateHeld                       // left, not started, for the next bridge
	stateDetached                   // left running in its container for the next bridge
	stateDone                       // out of its queue
)

var stateNames = [...]string{"queued", "waiting", "starting", "running", "delivering", "held", "detached", "done"}

func (s runState) String() string { return stateNames[s] }

// run is one accepted message waiting for, or running as, an agent run.
// Its goroutine (supervisor.supervise) drives it through its states.
type run struct {
	// Set by the router (or from a record), read-only afterwards.
	id      string
	msg     Message
	project Project
	engine  engines.Engine
	// session is the key of the conversation: its stored resume token.
	session string
	// queue is the key of the FIFO the run waits in: the session in chat
	// mode; in stateless mode the resumed session, or the run alone.
	queue  string
	prompt string
	// resume is a session id taken from the message replied to; it wins
	// over the conversation's stored session.
	resume string
	// branch, when set, runs r in the project's worktree of that branch.
	branch string
	// cont continues the engine's latest CLI session in the project
	// (/continue), when resume is empty.
	cont bool

	// Set by supervisor.adopt (reattach by Restore), read-only once the
	// run is enqueued.
	sup      *supervisor
	accepted time.Time
	// reattach is set for a run restored with a container: it carries on
	// in that container instead of starting a new one.
	reattach bool
	// restored is the record a restored run was rebuilt from, nil for a
	// new one.
	restored *RunRecord
	// conv is set (under mu) by buildSpec for an interactive run; the
	// run's goroutine reads it freely, others through conversation().
	conv *conversation
	// ctx ends when the run is cancelled or the bridge shuts down.
	ctx    context.Context
	cancel context.CancelFunc
	// announced is closed once the first message was sent (or could not
	// be); turn is closed when the run is first in its queue, or when a
	// cancel takes it out of its queue while it waits behind another.
	announced chan struct{}
	turn      chan struct{}

	mu          sync.Mutex
	state       runState
	cancelledBy int64        // the user who cancelled the run, 0 for none
	prog        *runProgress // set once the run's container starts
	// The fields of its RunRecord, changed only through the runbook.
	progressID int64
	container  string
	started    time.Time
	final      []Text // the final answer's parts, once known
	delivered  int    // how many of them were sent
	// workdir is the host folder mounted at /workspace, once buildSpec
	// chose it: the project's, or its worktree's.
	workdir string

	// meter follows what r spends (budget.go); outcome is how r ended,
	// for the cost ledger, set by its goroutine when it concludes.
	meter   runMeter
	outcome string
	// hint is a line above the error of a run its engine failed in a
	// known way (view_hint.go), set when it concludes.
	hint string
	// used is the resource footer of r's final answer, once its container
	// ended; owned by the run's goroutine.
	used string
	// killedNote says that the OOM killer ended one of r's processes while
	// the run went on (killedForMemory); owned by the run's goroutine.
	killedNote string
}

// cancelData is the callback data of a run's cancel button.
const cancelData = "cancel:"

// buttons are the inline buttons of r's progress message.
func (r *run) buttons() []Button {
	return []Button{{Text: "cancel", Data: cancelData + r.id}}
}

func (r *run) logger() *slog.Logger {
	return r.sup.log.With("run", r.id, "chat", r.msg.ChatID, "project", r.project.Name, "engine", r.engine.Name())
}

func (r *run) setState(s runState) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
}

func (r *run) getState() runState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// markCancelled records that user cancelled r; false when r is delivering
// its answer already.
func (r *run) markCancelled(user int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == stateDelivering {
		return false
	}
	r.cancelledBy = user
	return true
}

// stop ends r once it was marked cancelled: an interactive run's agent is
// first asked to end its turn (its protocol's interrupt), and its container
// is stopped if it has not within StopGrace; any other run is stopped at
// once.
func (r *run) stop() {
	if c := r.conversation(); c != nil && c.interrupt() {
		grace := r.sup.opts.StopGrace
		if grace <= 0 {
			grace = defaultInterruptGrace
		}
		time.AfterFunc(grace, r.cancel) // a no-op once the run is over
		return
	}
	r.cancel()
}

// defaultInterruptGrace is how long an interrupted agent has to end its
// turn when no StopGrace is set.
const defaultInterruptGrace = 5 * time.Second

func (r *run) cancelled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cancelledBy != 0
}

// conversation is r's conversation with its engine, nil unless r is an
// interactive run that started.
func (r *run) conversation() *conversation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conv
}

// progressMsg is the id of r's progress message, 0 while there is none.
func (r *run) progressMsg() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.progressID
}

// liveProgress is r's progress once its container started, else nil.
func (r *run) liveProgress() *runProgress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prog
}

// execute carries out r, first in its queue: slot, container, stream,
// progress, final answer.
func (r *run) execute() {
	s := r.sup
	log := r.logger()
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if started.IsZero() {
		started = time.Now()
	}
	p := r.newProgress(started)

	if s.lt.stopping() {
		r.hold(p, log)
		return
	}
	if r.ctx.Err() != nil {
		r.finish(p, failure(cancelledBeforeStart), log)
		return
	}
	if reason := s.bud.refusal(r.project.Name); reason != "" && !r.reattach {
		r.finish(p, failure(reason), log)
		return
	}
	spec, req, specErr := r.buildSpec()
	if specErr != nil && !r.reattach {
		r.finish(p, failure(specErr.Error()), log)
		return
	}
	if r.reattach {
		// The run goes on in its container whatever the config says now.
		spec.Name = r.container
	}

	waited, ok := r.takeSlot(p, log)
	if !ok {
		return
	}
	r.setState(stateStarting)
	if waited {
		p.view.setStarted(time.Now()) // show the run's time, not the wait's
	}
	started, _ = p.view.snapshot()
	r.mu.Lock()
	r.prog, r.state = p, stateRunning
	r.mu.Unlock()
	s.book.setStarted(r, spec.Name, started)
	p.start()
	if waited {
		p.touch() // replace the "waiting" notice with the progress view
	}
	res, dec, err := r.stream(spec, specErr, p, log, req.Resume != "")
	s.slots.release()
	if errors.Is(err, errNoSpec) {
		p.stop()
		r.finish(p, failure(specErr.Error()), log)
		return
	}
	r.conclude(spec, p, res, dec, err, log)
}

// conclude answers r once its container is gone (or never came).
func (r *run) conclude(spec sandbox.Spec, p *runProgress, res sandbox.Result, dec engines.Decoder, err error, log *slog.Logger) {
	s := r.sup
	if errors.Is(err, sandbox.ErrDetached) {
		if r.conv != nil {
			r.conv.close(true)
		}
		r.detached(p, log)
		return
	}
	if r.conv != nil {
		r.conv.close(false)
	}
	if err != nil {
		log.Error("run failed to start", "err", err)
		p.stop()
		msg := sandboxError(err, spec.Image, r.engine.Name())
		if r.ctx.Err() != nil { // cancelled while its container was made
			msg = r.cause(sandbox.Result{Cancelled: true})
			r.outcome = OutcomeCancelled
		}
		r.finish(p, failure(msg), log)
		return
	}
	log.Info("run ended", "exit", res.ExitCode, "oom", res.OOMKilled, "timeout", res.TimedOut,
		"cancelled", res.Cancelled, "duration", res.Duration.Round(time.Millisecond))
	own := p.view.engineCompleted()
	p.apply(dec.Finish(engines.Exit{Code: res.ExitCode, StderrTail: res.StderrTail, Cause: r.cause(res)}))
	p.stop()

	if !s.opts.HideUsage {
		r.used = usageLine(res.Usage, res.Duration)
	}
	if r.killedNote = killedForMemory(res, r.project.Limits.MemoryBytes); r.killedNote != "" {
		log.Warn("a process of the run was killed for memory", "oom_kills", res.Usage.OOMKills)
	}
	c := p.view.completion()
	if r.conv != nil {
		c = r.conv.settled(c)
	}
	r.outcome = outcome(res, own, c)
	if r.outcome == OutcomeError || r.outcome == OutcomeCrash {
		r.hint = failureHint(r.engine.Name(), c.Error, res.StderrTail)
	}
	if err := s.sessions.save(r, c.Resume); err != nil {
		log.Error("save session", "err", err)
	}
	r.finish(p, c, log)
}

// cause explains why the sandbox ended r early (see cause).
func (r *run) cause(res sandbox.Result) string {
	if stop := r.budgetStop(); stop != "" && res.Cancelled {
		return stop
	}
	return cause(res, r.project.Limits, r.sup.lt.shuttingDown())
}

// takeSlot takes a run slot for r; ok is false when r was cancelled or
// the bridge began to stop meanwhile, and r was then held or answered.
func (r *run) takeSlot(p *runProgress, log *slog.Logger) (waited, ok bool) {
	s := r.sup
	var err error
	if r.reattach {
		s.slots.take() // its container runs already: it holds a slot
	} else {
		waited, err = r.waitForSlot(log)
	}
	if err == nil && (r.ctx.Err() != nil || s.lt.stopping()) {
		// A slot came free just as the run was cancelled or the bridge
		// began to stop: pass it on. (A shutdown cancels the runs one by
		// one: the bridge's context ends first.)
		s.slots.release()
		err = context.Canceled
	}
	switch {
	case err == nil:
		return waited, true
	case s.lt.stopping():
		r.hold(p, log)
	default:
		r.finish(p, failure(cancelledBeforeStart), log)
	}
	return waited, false
}

// waitForSlot takes a run slot for r. While it waits, r counts as queued
// and its progress message says so. It fails only when r is cancelled or
// the bridge shuts down; waited reports whether r had to wait.
func (r *run) waitForSlot(log *slog.Logger) (waited bool, err error) {
	s := r.sup
	err = s.slots.acquire(r.ctx, func() {
		waited = true
		r.setState(stateWaiting)
		log.Info("run waiting for a free slot", "limit", s.opts.MaxConcurrentRuns)
		id := r.progressMsg()
		if id == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.lt.ctx), sendTimeout)
		defer cancel()
		t := slotWaitText(r.engine.Name(), s.opts.MaxConcurrentRuns)
		if err := s.opts.Chat.Edit(ctx, r.msg.ChatID, id, t, r.buttons()); err != nil {
			log.Warn("edit progress message", "err", err)
		}
	})
	if waited {
		r.setState(stateStarting) // or on to held or cancelled
	}
	return waited, err
}

// errNoSpec: a restored run's container never started, and the config no
// longer lets the run be started anew (specErr says why, to the user).
var errNoSpec = errors.New("no container spec for a restored run")

// stream runs r in its container and feeds its lines to p. A restored run
// goes on in the container it had; when that never started it starts anew
// from spec, unless specErr says the config no longer allows it
// (errNoSpec).
func (r *run) stream(spec sandbox.Spec, specErr error, p *runProgress, log *slog.Logger, resumed bool) (sandbox.Result, engines.Decoder, error) {
	s := r.sup
	var dec engines.Decoder
	var undecoded int
	var onLine func([]byte)
	if c := r.conv; c != nil {
		dec = protocolFinish{c.proto}
		onLine = func(line []byte) {
			if err := c.onLine(line, p); err != nil {
				undecoded++
			}
		}
	} else {
		dec = r.engine.NewDecoder()
		onLine = func(line []byte) {
			evs, derr := dec.Decode(line)
			if derr != nil {
				undecoded++
				return
			}
			p.apply(evs)
		}
	}
	defer func() {
		if undecoded > 0 {
			log.Warn("stream lines skipped", "count", undecoded)
		}
	}()
	if r.reattach {
		log.Info("run reattaching", "container", spec.Name, "interactive", r.conv != nil)
		var stdin io.Reader
		if r.conv != nil {
			in, err := r.conv.begin()
			if err != nil {
				return sandbox.Result{}, dec, err
			}
			stdin = in
		}
		res, err := s.opts.Reattacher.Reattach(r.ctx, spec.Name, stdin, onLine)
		if !errors.Is(err, sandbox.ErrNotFound) {
			return res, dec, err
		}
		if specErr != nil {
			log.Warn("container of the restored run never started, and it cannot start anew", "err", specErr)
			return res, dec, errNoSpec
		}
		log.Info("container of the restored run never started: starting it anew")
	}
	if r.conv != nil {
		r.conv.fresh()
		in, err := r.conv.begin()
		if err != nil {
			return sandbox.Result{}, dec, err
		}
		spec.Stdin, spec.LiveStdin = in, true
	}
	log.Info("run starting", "container", spec.Name, "resume", resumed, "interactive", r.conv != nil)
	r.placement(&spec, p, log)
	res, err := s.opts.Sandbox.Run(r.ctx, spec, onLine)
	return res, dec, err
}

// protocolFinish is the Decoder of an interactive run once its stream
// ended: the lines went through the conversation.
type protocolFinish struct{ p engines.Protocol }

func (d protocolFinish) Decode([]byte) ([]engines.Event, error) {
	return nil, errors.New("an interactive run's lines go through its conversation")
}

func (d protocolFinish) Finish(exit engines.Exit) []engines.Event { return d.p.Finish(exit) }

// detached leaves r to the next bridge: its record stays, and its
// progress message says the run carries on.
func (r *run) detached(p *runProgress, log *slog.Logger) {
	log.Info("run detached: the next bridge reattaches to it")
	r.setState(stateDetached)
	p.view.setNote(detachedNote)
	p.stop()
	p.flush()
}

// hold leaves r, not started, for the next bridge, telling its user;
// without a RunStore the user is asked to send it again instead.
func (r *run) hold(p *runProgress, log *slog.Logger) {
	s := r.sup
	if r.cancelled() {
		r.finish(p, failure(cancelledBeforeStart), log)
		return
	}
	if !s.book.enabled() {
		r.finish(p, failure(notRunShutdown), log)
		return
	}
	log.Info("run held for the next bridge")
	r.setState(stateHeld)
	id := r.progressMsg()
	if id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.lt.ctx), sendTimeout)
	defer cancel()
	if err := s.opts.Chat.Edit(ctx, r.msg.ChatID, id, heldText(r.engine.Name()), r.buttons()); err != nil {
		log.Warn("edit progress message", "err", err)
	}
}

func failure(msg string) engines.Completed {
	return engines.Completed{OK: false, Error: msg}
}
