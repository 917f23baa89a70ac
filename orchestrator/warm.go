package orchestrator

import (
	"context"
	"strings"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/sandbox"
)

// Warm has the Warmer make a container ahead for each project's default
// engine, in the mode its runs start in (interactive when the project has
// approvals on and the engine can ask), so that the first message there
// does not wait for one; the sandbox makes the next one as each run
// claims its own. Call it after Reconcile, which would take the new
// containers for orphans otherwise. Without a Warmer it does nothing.
func (o *Orchestrator) Warm(ctx context.Context) {
	if o.opts.Warmer == nil {
		return
	}
	for _, p := range o.opts.Projects {
		name := cmpOr(p.DefaultEngine, o.opts.DefaultEngine)
		eng, ok := o.opts.Engines[name]
		if !ok {
			continue
		}
		spec, err := baseSpec(&o.opts, p, name, Workspace{Path: p.Path})
		if err != nil {
			continue // its runs say why
		}
		if _, ok := eng.(engines.Interactive); ok && p.Approvals {
			spec.LiveStdin = true
		}
		if err := o.opts.Warmer.Warm(ctx, spec); err != nil {
			o.log.Warn("make a warm container", "project", p.Name, "engine", name, "err", err)
		}
	}
}

// runOf is the id of the run a container of this instance is for: its
// label, else its name, which the run gave it (a warm container a run
// claimed cannot be labelled after it was made; see containerSpec). ""
// for a warm container no run claimed yet.
func runOf(c sandbox.Container, instance string) string {
	if id := c.Labels[sandbox.LabelRun]; id != "" || c.Warm {
		return id
	}
	id, _ := strings.CutPrefix(c.Name, "untether-"+instance+"-")
	return id
}
