package orchestrator

import (
	"time"

	"github.com/untether-go/untether/sandbox"
)

// defaultStallAfter is Options.StallAfter's default.
const defaultStallAfter = 5 * time.Minute

// busyStallFactor stretches StallAfter while a command or tool runs: a
// build or a test suite is silent for longer than an agent thinking.
const busyStallFactor = 3

// stallTicker ticks when the run's silence should be looked at: often
// enough to say so soon after StallAfter, rarely enough that a long
// silence edits the progress message at most a few times a minute. It
// never ticks when stall notices are off.
func (p *runProgress) stallTicker() *time.Ticker {
	after := p.r.sup.opts.StallAfter
	if after < 0 {
		t := time.NewTicker(time.Hour)
		t.Stop()
		return t
	}
	return time.NewTicker(min(max(after/5, 100*time.Millisecond), 30*time.Second))
}

// checkStall says on the progress message that the engine has been silent
// past its StallAfter, with what its container uses now; the notice goes
// when the engine speaks again (apply). Called by the edit loop.
func (p *runProgress) checkStall() {
	opts := p.r.sup.opts
	quiet := time.Since(time.Unix(0, p.lastEvent.Load()))
	limit := opts.StallAfter
	if p.view.busy() {
		limit *= busyStallFactor
	}
	if quiet < limit {
		return
	}
	var u sandbox.Usage
	known := false
	if opts.Usage != nil {
		u, known = opts.Usage.Usage(p.r.containerName())
	}
	if p.view.setStall(stallNote(quiet, u, known)) {
		p.touch()
	}
}

// containerName is the name of r's container, "" before it has one.
func (r *run) containerName() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.container
}
