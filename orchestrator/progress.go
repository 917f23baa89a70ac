package orchestrator

import (
	"context"
	"time"

	"github.com/untether-go/untether/engines"
)

// progress keeps a run's progress message current with its view: an edit
// at most every ProgressInterval, and only when the text changed.
type progress struct {
	o    *Orchestrator
	j    *job
	view *progressView

	dirty   chan struct{}
	quit    chan struct{}
	done    chan struct{}
	running bool   // start was called; owned by the run's goroutine
	last    string // text of the last edit; owned by loop
}

func newProgress(o *Orchestrator, j *job, started time.Time) *progress {
	return &progress{
		o: o, j: j, view: newProgressView(j.engine.Name(), started),
		dirty: make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// start runs the edit loop; stop ends it. Both are called once, by the
// run's goroutine.
func (p *progress) start() {
	p.running = true
	p.o.wg.Add(1)
	go p.loop()
}

func (p *progress) stop() {
	if !p.running {
		return
	}
	p.running = false
	close(p.quit)
	<-p.done
}

// apply folds events into the view. Called from the sandbox's stream
// goroutine.
func (p *progress) apply(evs []engines.Event) {
	if p.view.apply(evs) {
		p.touch()
	}
}

// touch asks the edit loop to show the current view.
func (p *progress) touch() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

func (p *progress) loop() {
	defer p.o.wg.Done()
	defer close(p.done)
	p.last = "\x00" // never equal to a rendered text: the first change is shown
	var lastEdit time.Time
	var timer *time.Timer
	var due <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-p.quit:
			return
		case <-p.dirty:
			if due != nil {
				continue
			}
			wait := p.o.opts.ProgressInterval - time.Since(lastEdit)
			if wait <= 0 {
				p.flush()
				lastEdit = time.Now()
				continue
			}
			timer = time.NewTimer(wait)
			due = timer.C
		case <-due:
			due = nil
			p.flush()
			lastEdit = time.Now()
		}
	}
}

// flush edits the progress message when its text changed.
func (p *progress) flush() {
	if p.j.progressID == 0 {
		return
	}
	t := p.view.render()
	if t.S == p.last {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.o.ctx), sendTimeout)
	defer cancel()
	if err := p.o.opts.Chat.Edit(ctx, p.j.msg.ChatID, p.j.progressID, t, p.j.buttons()); err != nil {
		p.o.log.Warn("edit progress message", "run", p.j.id, "err", err)
		return
	}
	p.last = t.S
}

// finalTexts renders j's final answer (see finalTexts).
func (o *Orchestrator) finalTexts(j *job, p *progress, c engines.Completed) []Text {
	resumeLine := ""
	if o.opts.ShowResumeLine && c.Resume != "" {
		resumeLine = j.engine.ResumeLine(c.Resume)
	}
	return finalTexts(finalView{
		header: p.view.header(finalState(c)), runID: j.id, resumeLine: resumeLine, render: o.opts.Render,
	}, c)
}
