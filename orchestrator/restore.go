package orchestrator

// Restore carries on the runs recorded by the previous bridge of this
// instance: it reattaches to their containers (or reads what they wrote
// while no bridge ran) and requeues the messages that had not started, in
// the order they arrived. Call it once, before the first Handle. It returns
// the ids of the runs it took over; their containers are not orphans.
func (o *Orchestrator) Restore() map[string]bool {
	taken := map[string]bool{}
	for _, e := range o.book.all() {
		if o.restore(e.id, e.r) {
			taken[e.id] = true
		}
	}
	return taken
}

// restore requeues one recorded run; false when it was only cleaned up.
func (o *Orchestrator) restore(id string, rec RunRecord) bool {
	log := o.log.With("run", id, "chat", rec.ChatID, "project", rec.Project, "engine", rec.Engine)
	p, okProject := o.router.project(rec.Project)
	eng := o.router.engine(rec.Engine)
	r := runFromRecord(id, rec, p, eng)
	o.in.markSeen(r.msg)
	o.sup.adopt(r)
	switch {
	case len(rec.Final) > 0:
		log.Info("run ended before the restart: delivering its answer", "parts", len(rec.Final), "delivered", rec.Delivered)
		o.lt.goOwned(func() { r.deliver(nil, log) })
		return false
	case !o.in.allowed(rec.UserID):
		log.Warn("recorded run's user is no longer on the allowlist: dropped", "user", rec.UserID)
		o.book.forget(r, log)
		return false
	case !okProject || eng == nil:
		log.Warn("recorded run's project or engine is gone from the config")
		o.book.forget(r, log)
		o.replies.to(r.msg, "The bridge restarted with a config that no longer has this project or engine, so this message was dropped.")
		return false
	case rec.Container != "" && o.opts.Reattacher == nil:
		log.Warn("recorded run cannot be reattached by this sandbox")
		o.book.forget(r, log)
		o.replies.to(r.msg, "The bridge restarted and this run was stopped with it. Send the message again.")
		return false
	}
	r.reattach = rec.Container != ""
	log.Info("run restored", "reattach", r.reattach)
	o.sup.enqueue(r)
	return true
}
