package orchestrator

import (
	"context"
	"io"
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
	// Reattach carries on the run in container name from its first line,
	// writing stdin (nil for none) to the live stdin of an interactive
	// run's container; sandbox.ErrNotFound when there is no such container.
	Reattach(ctx context.Context, name string, stdin io.Reader, onLine func([]byte)) (sandbox.Result, error)
	// RemoveContainer removes a container kept after its run (Spec.Keep).
	RemoveContainer(ctx context.Context, name string) error
}

// canKeepRuns reports whether runs in flight can outlive this
// orchestrator: their records are kept and their containers reattached.
func (o *Orchestrator) canKeepRuns() bool { return o.opts.Runs != nil && o.opts.Reattacher != nil }

// Drain stops the bridge's runs as its policy says and returns once every
// run was detached, finished or stopped and its users told; messages that
// arrive from then on are answered "restarting", in Handle itself. Messages
// still waiting for their turn keep their records and run after the
// restart (without a RunStore their senders are told to send them again).
// ctx bounds the wait of DrainWait (the drain timeout). Drain ends with
// Close; call Close again once nothing calls Handle any more.
func (o *Orchestrator) Drain(ctx context.Context) { o.drain(ctx, o.opts.Drain) }

// Handover stops this orchestrator so that another of the same instance
// takes over (a config reload): it drains as DrainDetach whatever the drain
// policy, for the next orchestrator to reattach the runs; when they cannot
// be kept, they finish first (DrainWait, within ctx).
func (o *Orchestrator) Handover(ctx context.Context) {
	policy := DrainDetach
	if !o.canKeepRuns() {
		policy = DrainWait
	}
	o.drain(ctx, policy)
}

// drain is Drain with the given policy.
func (o *Orchestrator) drain(ctx context.Context, policy string) {
	if o.lt.draining.Swap(true) {
		o.Close()
		return
	}
	running, queued := o.Stats()
	o.log.Info("draining", "policy", policy, "running", running, "queued", queued)
	switch {
	case policy == DrainDetach && o.canKeepRuns():
		o.opts.Reattacher.Detach()
	case policy == DrainWait:
		if deadline, ok := ctx.Deadline(); ok {
			note := drainWaitNote(time.Until(deadline))
			for _, p := range o.sup.running() {
				p.note(note)
			}
		}
		o.waitForRuns(ctx)
	}
	o.Close()
}

// waitForRuns waits until no run is in its container, or ctx ends.
func (o *Orchestrator) waitForRuns(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if len(o.sup.running()) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			o.log.Warn("drain timeout: stopping the runs left", "running", len(o.sup.running()))
			return
		case <-tick.C:
		}
	}
}

// takeWhileStopping handles a message that arrives while the bridge
// drains or closes: a prompt is kept for the next bridge (holdForNext),
// so its update can be confirmed without losing it; a command is answered
// "restarting". Everything is answered in line: no goroutine may start.
func (o *Orchestrator) takeWhileStopping(ctx context.Context, m Message) {
	if reply := o.in.missed(m); reply != "" {
		o.replies.inLine(ctx, m, reply)
		return
	}
	if isCommand(m.Text) || len(m.Files) > 0 {
		o.replies.inLine(ctx, m, restarting)
		return
	}
	r, reply := o.router.route(m)
	if reply != "" {
		o.replies.inLine(ctx, m, reply)
		return
	}
	r.accepted = time.Now()
	o.holdForNext(ctx, r)
}

// holdForNext keeps a message that was accepted too late to run in this
// bridge: its record is written before Handle returns (so its update is
// confirmed only once it is kept), and a placeholder that the next bridge
// turns into the progress message tells the user it runs once the bridge
// is back. Without a RunStore the user is asked to send it again.
func (o *Orchestrator) holdForNext(ctx context.Context, r *run) {
	if !o.book.enabled() {
		o.replies.inLine(ctx, r.msg, restarting)
		return
	}
	o.book.keep(r)
	o.log.Info("message kept for the next bridge", "run", r.id, "chat", r.msg.ChatID)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	id, err := o.opts.Chat.Send(ctx, Outgoing{
		ChatID: r.msg.ChatID, ThreadID: r.msg.ThreadID, ReplyTo: r.msg.MessageID, Text: heldText(r.engine.Name()), Buttons: r.buttons(),
	})
	if err != nil {
		o.log.Warn("send placeholder of a kept message", "run", r.id, "chat", r.msg.ChatID, "err", err)
		return
	}
	o.book.setProgress(r, id)
}
