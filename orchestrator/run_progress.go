package orchestrator

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/untether-go/untether/engines"
)

// runProgress keeps a run's progress message current with its view: an
// edit at most every Options.ProgressInterval, and only when the text
// changed.
type runProgress struct {
	view  *progressView
	r     *run
	draft *runDraft // the answer as a draft, nil when not streamed

	dirty   chan struct{}
	quit    chan struct{}
	done    chan struct{}
	running bool   // start was called; owned by the run's goroutine
	last    string // text of the last edit; owned by loop
	// lastEvent is when the engine last said something (unix nanoseconds);
	// see run_stall.go.
	lastEvent atomic.Int64
}

func (r *run) newProgress(started time.Time) *runProgress {
	return &runProgress{
		view:  newProgressView(r.engine.Name(), started),
		r:     r,
		draft: r.newDraft(),
		dirty: make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// start runs the edit loop; stop ends it. Both are called once, by the
// run's goroutine.
func (p *runProgress) start() {
	p.running = true
	p.lastEvent.Store(time.Now().UnixNano())
	p.r.sup.lt.addChild()
	go p.loop()
	p.draft.start()
}

func (p *runProgress) stop() {
	if !p.running {
		return
	}
	p.running = false
	p.draft.stop()
	close(p.quit)
	<-p.done
}

// apply folds events into the view. Called from the sandbox's stream
// goroutine.
func (p *runProgress) apply(evs []engines.Event) {
	p.r.observeUsage(evs)
	p.draft.take(evs)
	p.lastEvent.Store(time.Now().UnixNano())
	changed := p.view.apply(evs)
	if p.view.setStall("") || changed {
		p.touch()
	}
}

// note sets the view's last line and shows it.
func (p *runProgress) note(s string) {
	p.view.setNote(s)
	p.touch()
}

// touch asks the edit loop to show the current view.
func (p *runProgress) touch() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

func (p *runProgress) loop() {
	defer p.r.sup.lt.done()
	defer close(p.done)
	p.last = "\x00" // never equal to a rendered text: the first change is shown
	stall := p.stallTicker()
	defer stall.Stop()
	pace(p.quit, p.dirty, p.r.sup.opts.ProgressInterval, stall.C, p.checkStall, func() bool { return false }, p.flush)
}

// flush edits the progress message when its text changed.
func (p *runProgress) flush() {
	r, s := p.r, p.r.sup
	id := r.progressMsg()
	if id == 0 {
		return
	}
	t := p.view.render()
	if t.S == p.last {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.lt.ctx), sendTimeout)
	defer cancel()
	if err := s.opts.Chat.Edit(ctx, r.msg.ChatID, id, t, r.buttons()); err != nil {
		s.log.Warn("edit progress message", "run", r.id, "err", err)
		return
	}
	p.last = t.S
}
