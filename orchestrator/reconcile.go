package orchestrator

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// reconcileTimeout bounds Reconcile's calls to the sandbox.
const reconcileTimeout = time.Minute

// Reconcile removes the containers of this instance that no restored run
// carries on in (taken holds the run ids Restore returned), and tells the
// chat — the forum topic too — of each one that had not ended that its
// run was stopped. Other instances' containers are never touched. It needs
// Containers and Reattacher; without them it does nothing. Call it once,
// after Restore.
func (o *Orchestrator) Reconcile(ctx context.Context, taken map[string]bool) {
	if o.opts.Containers == nil || o.opts.Reattacher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
	defer cancel()
	list, err := o.opts.Containers.Containers(ctx, o.opts.Instance)
	if err != nil {
		o.log.Warn("list containers left from before", "err", err)
		return
	}
	for _, c := range list {
		run := runOf(c, o.opts.Instance)
		if taken[run] || (c.Warm && o.opts.Warmer != nil) {
			continue // a restored run carries on in it, or the sandbox keeps it ready
		}
		if err := o.opts.Reattacher.RemoveContainer(ctx, c.ID); err != nil {
			o.log.Warn("remove a container left from before", "container", c.Name, "err", err)
			continue
		}
		o.log.Info("removed a container left from before", "container", c.Name, "run", run, "state", c.State)
		chat, err := strconv.ParseInt(c.Labels[sandbox.LabelChat], 10, 64)
		if err != nil || chat == 0 || c.State == "exited" {
			continue // an ended run's container: its answer was delivered
		}
		topic, _ := strconv.ParseInt(c.Labels[sandbox.LabelTopic], 10, 64)
		text := fmt.Sprintf("The bridge restarted while a run was in progress (run %s); it was stopped. Send the message again.", run)
		if _, err := o.opts.Chat.Send(ctx, Outgoing{ChatID: chat, ThreadID: topic, Text: plainText(text)}); err != nil {
			o.log.Warn("tell a chat its run was stopped", "chat", chat, "err", err)
		}
	}
}
