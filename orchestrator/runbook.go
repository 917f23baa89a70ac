package orchestrator

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/sandbox"
)

// RunRecord is what a restarted bridge needs to carry on a run: who asked,
// where it answers, and its container once started.
type RunRecord struct {
	ChatID    int64     `json:"chat_id"`
	ThreadID  int64     `json:"thread_id,omitempty"`
	MessageID int64     `json:"message_id"`
	UserID    int64     `json:"user_id"`
	Private   bool      `json:"private,omitempty"`
	Accepted  time.Time `json:"accepted"`
	Project   string    `json:"project"`
	Engine    string    `json:"engine"`
	Session   string    `json:"session"`
	Queue     string    `json:"queue"`
	Prompt    string    `json:"prompt"`
	Resume    string    `json:"resume,omitempty"`
	// Branch is the worktree the run works in; Continue marks a /continue.
	Branch     string `json:"branch,omitempty"`
	Continue   bool   `json:"continue,omitempty"`
	ProgressID int64  `json:"progress_id,omitempty"`
	// Container is set once the run's container is being created.
	Container string    `json:"container,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	// Final holds the parts of the final answer once the run ended, and
	// Delivered how many of them were sent: a restored record with Final
	// only gets the rest delivered, so no answer is lost or sent twice.
	Final     []Text `json:"final,omitempty"`
	Delivered int    `json:"delivered,omitempty"`
	// Interactive runs speak the engine's interactive protocol, in plan
	// mode Plan; Writes counts the protocol writes made and Asks the
	// requests to the chat, so that a reattaching bridge neither repeats
	// nor loses one.
	Interactive bool        `json:"interactive,omitempty"`
	Plan        string      `json:"plan,omitempty"`
	Writes      int         `json:"writes,omitempty"`
	Asks        []AskRecord `json:"asks,omitempty"`
}

// RunStore persists the records of the runs in flight. Safe for
// concurrent use; Put and Delete are durable when they return.
type RunStore interface {
	Put(id string, r RunRecord) error
	Delete(id string) error
	All() map[string]RunRecord
}

// runbook owns the runs' records: every change of a field a RunRecord
// holds goes through it, and it writes the record after each. It also
// removes a forgotten run's kept container. Without a RunStore the fields
// still change, and nothing is written. Safe for concurrent use.
type runbook struct {
	store      RunStore   // nil: nothing is persisted
	reattacher Reattacher // nil: no container is kept
	lt         *lifetime
	log        *slog.Logger
}

// enabled reports whether records outlive the bridge.
func (b *runbook) enabled() bool { return b.store != nil }

// keep writes r's record as it is: for a message just accepted, before
// Handle returns, so its update is never confirmed without the message
// being kept somewhere.
func (b *runbook) keep(r *run) { b.put(r) }

// setProgress records the id of r's progress message.
func (b *runbook) setProgress(r *run, id int64) {
	r.mu.Lock()
	r.progressID = id
	r.mu.Unlock()
	b.put(r)
}

// setStarted records r's container and, unless a restored run has it
// already, when it started.
func (b *runbook) setStarted(r *run, container string, started time.Time) {
	r.mu.Lock()
	r.container = container
	if r.started.IsZero() {
		r.started = started
	}
	r.mu.Unlock()
	b.put(r)
}

// setFinal records r's final answer, before any part of it is sent.
func (b *runbook) setFinal(r *run, parts []Text) {
	r.mu.Lock()
	r.final = parts
	r.mu.Unlock()
	b.put(r)
}

// setConversation records what r's conversation did: its writes and the
// state of its requests.
func (b *runbook) setConversation(r *run) { b.put(r) }

// setDelivered records that the first n parts of r's answer were sent.
func (b *runbook) setDelivered(r *run, n int) {
	r.mu.Lock()
	r.delivered = n
	r.mu.Unlock()
	b.put(r)
}

func (b *runbook) put(r *run) {
	if b.store == nil {
		return
	}
	if err := b.store.Put(r.id, r.record()); err != nil {
		b.log.Error("save run record", "run", r.id, "err", err)
	}
}

// forget deletes r's record and removes its kept container.
func (b *runbook) forget(r *run, log *slog.Logger) {
	if b.store == nil {
		return
	}
	if err := b.store.Delete(r.id); err != nil {
		log.Error("delete run record", "err", err)
	}
	r.mu.Lock()
	name := r.container
	r.mu.Unlock()
	if name == "" || b.reattacher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.lt.ctx), sendTimeout)
	defer cancel()
	if err := b.reattacher.RemoveContainer(ctx, name); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
		log.Warn("remove container", "container", name, "err", err)
	}
}

// recorded is one record read back at start.
type recorded struct {
	id string
	r  RunRecord
}

// all returns the stored records, oldest accepted first.
func (b *runbook) all() []recorded {
	if b.store == nil {
		return nil
	}
	var all []recorded
	for id, r := range b.store.All() {
		all = append(all, recorded{id, r})
	}
	slices.SortFunc(all, func(a, b recorded) int { return cmp.Compare(a.r.Accepted.UnixNano(), b.r.Accepted.UnixNano()) })
	return all
}

// record is r's RunRecord as it stands.
func (r *run) record() RunRecord {
	var rec RunRecord
	if c := r.conversation(); c != nil {
		c.mu.Lock()
		rec.Interactive, rec.Plan = true, c.plan
		rec.Writes, rec.Asks = c.recordsLocked()
		c.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.ChatID, rec.ThreadID, rec.MessageID, rec.UserID = r.msg.ChatID, r.msg.ThreadID, r.msg.MessageID, r.msg.UserID
	rec.Private, rec.Accepted, rec.Project, rec.Engine = r.msg.Private, r.accepted, r.project.Name, r.engine.Name()
	rec.Session, rec.Queue, rec.Prompt, rec.Resume, rec.ProgressID = r.session, r.queue, r.prompt, r.resume, r.progressID
	rec.Branch, rec.Continue = r.branch, r.cont
	rec.Container, rec.Started, rec.Final, rec.Delivered = r.container, r.started, r.final, r.delivered
	return rec
}

// runFromRecord rebuilds the run of record rec; p and eng are its project
// and engine as the config has them now (eng may be nil).
func runFromRecord(id string, rec RunRecord, p Project, eng engines.Engine) *run {
	m := Message{ChatID: rec.ChatID, ThreadID: rec.ThreadID, MessageID: rec.MessageID, UserID: rec.UserID, Private: rec.Private}
	r := &run{
		id: id, msg: m, project: p, engine: eng, session: rec.Session, queue: rec.Queue, prompt: rec.Prompt,
		resume: rec.Resume, branch: rec.Branch, cont: rec.Continue, accepted: rec.Accepted,
		progressID: rec.ProgressID, container: rec.Container, started: rec.Started,
		final: rec.Final, delivered: rec.Delivered,
	}
	if len(rec.Final) > 0 {
		r.state = stateDelivering
	}
	r.restored = &rec
	return r
}
