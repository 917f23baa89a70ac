package orchestrator

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/untether-go/untether/engines"
)

// conversation is an interactive run's two-way link with its engine: the
// engine's Protocol, the live stdin the run writes to for its whole life,
// and the requests (Asks) that wait for the chat's answer. The run's
// stream goroutine feeds it lines; button presses, replies and timeouts
// answer its Asks from other goroutines.
//
// Across a restart it carries on from the run's record: the next bridge
// decodes the run's output again from its first line, and skips the
// writes and the answers the record says were made.
type conversation struct {
	r     *run
	proto engines.Protocol
	plan  string // the run's plan mode: PlanOff, PlanOn or PlanAuto

	mu     sync.Mutex
	stdin  *liveInput
	writes int // protocol writes made (Open's and Decode's), as recorded
	made   int // protocol writes met in this bridge's decode
	asks   []*ask
	ended  bool     // the engine's answer came: no more asks
	notes  []string // what the final answer must say (timeouts)
	stopBy int64    // the user whose denial ended the run, 0 for none
}

// askState is where a request is in its life.
type askState string

const (
	askOpen      askState = "open"
	askAnswered  askState = "answered"
	askTimedOut  askState = "timed_out"
	askWithdrawn askState = "withdrawn"
)

// ask is one request of the engine to the chat.
type ask struct {
	seq   int // 1-based, in the run: the key its buttons carry
	ask   engines.Ask
	msgID int64
	asked time.Time
	state askState
	reply engines.Reply
	// outcome is what its message says once it is settled.
	outcome string
	// seen is set once this bridge decoded the request (a restored one
	// waits for its replay before it can be answered).
	seen  bool
	timer *time.Timer
	// early is a press that came before the replay reached the request.
	early *pressed
}

type pressed struct {
	choice string
	user   int64
	text   string
}

// AskRecord is an Ask as the run record keeps it.
type AskRecord struct {
	Seq       int           `json:"seq"`
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	Title     string        `json:"title"`
	MessageID int64         `json:"message_id,omitempty"`
	Asked     time.Time     `json:"asked"`
	State     string        `json:"state"`
	Reply     engines.Reply `json:"reply,omitzero"`
}

func newConversation(r *run, proto engines.Protocol, plan string) *conversation {
	return &conversation{r: r, proto: proto, plan: plan}
}

// restoreFrom takes the record's writes and asks: the replay skips them.
func (c *conversation) restoreFrom(rec RunRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = rec.Writes
	for _, a := range rec.Asks {
		restored := &ask{
			seq: a.Seq, msgID: a.MessageID, asked: a.Asked, state: askState(a.State), reply: a.Reply,
			ask: engines.Ask{ID: a.ID, Kind: engines.AskKind(a.Kind), Title: a.Title},
		}
		c.asks = append(c.asks, restored)
		if restored.state == askOpen {
			// Its timeout runs from now on, even if the replay never
			// reaches it: a request is never left hanging.
			c.armLocked(restored)
		}
	}
}

// records is what the run record keeps of the conversation. c.mu is held.
func (c *conversation) recordsLocked() (writes int, out []AskRecord) {
	for _, a := range c.asks {
		out = append(out, AskRecord{
			Seq: a.seq, ID: a.ask.ID, Kind: string(a.ask.Kind), Title: a.ask.Title, MessageID: a.msgID,
			Asked: a.asked, State: string(a.state), Reply: a.reply,
		})
	}
	return c.writes, out
}

// begin returns the run's stdin with the protocol's opening in it (unless
// a restored run made it already).
func (c *conversation) begin() (io.Reader, error) {
	c.mu.Lock()
	c.stdin = newLiveInput()
	b, err := c.proto.Open()
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("open the engine's protocol: %w", err)
	}
	c.write(b)
	return c.stdin, nil
}

// write sends a protocol write unless the replay shows it was made before.
func (c *conversation) write(b []byte) {
	if len(b) == 0 {
		return
	}
	c.mu.Lock()
	c.made++
	if c.made <= c.writes {
		c.mu.Unlock()
		return
	}
	c.stdin.Write(b)
	c.writes = c.made
	c.mu.Unlock()
	c.r.sup.book.setConversation(c.r)
}

// onLine decodes one line of the engine's output: the protocol's writes go
// out, asks go to the chat, events to the progress view.
func (c *conversation) onLine(line []byte, p *runProgress) error {
	read := time.Now()
	c.mu.Lock()
	evs, w, err := c.proto.Decode(line)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.write(w)
	shown := evs[:0:0]
	for _, ev := range evs {
		switch e := ev.(type) {
		case engines.Ask:
			c.asked(e, p, read)
		case engines.Withdrawn:
			c.withdraw(e.ID, "the agent withdrew it")
		case engines.Completed:
			shown = append(shown, ev)
			c.end()
		default:
			shown = append(shown, ev)
		}
	}
	if len(shown) > 0 {
		p.apply(shown)
	}
	return nil
}

// asked shows a new request in the chat, or takes up a restored one.
func (c *conversation) asked(e engines.Ask, p *runProgress, read time.Time) {
	r, s := c.r, c.r.sup
	c.mu.Lock()
	if i := slices.IndexFunc(c.asks, func(a *ask) bool { return a.ask.ID == e.ID && !a.seen }); i >= 0 {
		// Restored: answered before (answer again, to the protocol only) or
		// still open (same message and buttons).
		a := c.asks[i]
		a.ask, a.seen = e, true
		if a.state != askOpen {
			c.proto.Answer(a.ask.ID, a.reply)
			c.mu.Unlock()
			return
		}
		early := a.early
		a.early = nil
		c.armLocked(a)
		c.mu.Unlock()
		c.showWaiting(p)
		if early != nil {
			c.answer(a.seq, early.choice, early.user, early.text)
		}
		return
	}
	if c.ended {
		c.mu.Unlock()
		return
	}
	a := &ask{seq: len(c.asks) + 1, ask: e, asked: time.Now(), state: askOpen, seen: true}
	c.asks = append(c.asks, a)
	auto := e.Kind == engines.AskPlan && c.plan == PlanAuto
	c.mu.Unlock()

	buttons := askButtons(r.id, a)
	if auto {
		buttons = nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.lt.ctx), sendTimeout)
	id, err := s.opts.Chat.Send(ctx, Outgoing{
		ChatID: r.msg.ChatID, ThreadID: r.msg.ThreadID, ReplyTo: r.msg.MessageID,
		Text: askText(r.engine.Name(), a, ""), Buttons: buttons,
	})
	cancel()
	if err != nil {
		// The user cannot answer what they cannot see: deny, and say why
		// in the final answer.
		r.logger().Error("send approval request", "err", err)
	} else {
		r.logger().Info("request shown", "ask", e.ID, "kind", e.Kind, "latency", time.Since(read))
	}
	c.mu.Lock()
	a.msgID = id
	if auto {
		c.mu.Unlock()
		c.answer(a.seq, choiceAllow, 0, "")
		return
	}
	if a.state != askOpen {
		// Answered (or withdrawn) while its message was being sent: show
		// how, now that its id is known.
		outcome := a.outcome
		c.mu.Unlock()
		s.book.setConversation(r)
		c.editAsk(a, id, outcome)
		return
	}
	c.armLocked(a)
	c.mu.Unlock()
	s.book.setConversation(r)
	if err != nil {
		c.answer(a.seq, choiceDeny, 0, "The request could not be shown to the user.")
		return
	}
	c.showWaiting(p)
}

// armLocked starts a's timeout, counted from when it was asked.
func (c *conversation) armLocked(a *ask) {
	if a.timer != nil {
		a.timer.Stop()
	}
	timeout := c.r.sup.opts.ApprovalTimeout
	left := max(time.Until(a.asked.Add(timeout)), 0)
	seq := a.seq
	// The timeout's work (an answer, an edit, a notice) runs in a goroutine
	// Close waits for; after Close the run is ended anyway.
	lt := c.r.sup.lt
	a.timer = time.AfterFunc(left, func() { lt.goOwned(func() { c.timeout(seq) }) })
}

// timeout denies an unanswered request.
func (c *conversation) timeout(seq int) {
	msg := fmt.Sprintf("No answer within %s: denied.", formatElapsed(c.r.sup.opts.ApprovalTimeout))
	c.settle(seq, engines.Reply{Text: "The user did not answer in time; the request was denied."}, askTimedOut, 0, msg)
}

// answer carries out a press (or a reply in words) on request seq.
// It returns what the presser is told.
func (c *conversation) answer(seq int, choice string, user int64, text string) string {
	c.mu.Lock()
	i := slices.IndexFunc(c.asks, func(a *ask) bool { return a.seq == seq })
	if i < 0 {
		c.mu.Unlock()
		return "This request is no longer open."
	}
	a := c.asks[i]
	if a.state == askOpen && !a.seen {
		// Restored, and the replay has not reached it yet.
		a.early = &pressed{choice, user, text}
		c.mu.Unlock()
		return "Noted."
	}
	c.mu.Unlock()
	reply, outcome, ok := replyFor(a.ask, choice, text)
	if !ok {
		return "This button is no longer in use."
	}
	return c.settle(seq, reply, askAnswered, user, outcome)
}

// settle answers request seq with reply, once: the protocol's answer goes
// to stdin, the record and the request's message say how it ended.
func (c *conversation) settle(seq int, reply engines.Reply, state askState, user int64, outcome string) string {
	r, s := c.r, c.r.sup
	start := time.Now()
	c.mu.Lock()
	i := slices.IndexFunc(c.asks, func(a *ask) bool { return a.seq == seq })
	if i < 0 || c.asks[i].state != askOpen {
		c.mu.Unlock()
		if i >= 0 && c.asks[i].state == askWithdrawn {
			return "This request was withdrawn."
		}
		return "This request was already answered."
	}
	a := c.asks[i]
	b, err := c.proto.Answer(a.ask.ID, reply)
	if err != nil {
		c.mu.Unlock()
		r.logger().Warn("answer request", "ask", a.ask.ID, "err", err)
		c.withdraw(a.ask.ID, "the agent no longer waits for it")
		return "This request is no longer open."
	}
	c.stdin.Write(b)
	written := time.Since(start)
	a.state, a.reply, a.outcome = state, reply, outcome
	if a.timer != nil {
		a.timer.Stop()
	}
	switch {
	case state == askTimedOut:
		c.notes = append(c.notes, fmt.Sprintf("⏱ %s: %s", a.ask.Title, outcome))
	case !reply.Allow && a.ask.Kind == engines.AskPermission:
		c.notes = append(c.notes, fmt.Sprintf("❌ %s: denied by you.", a.ask.Title))
	}
	if reply.Stop {
		c.stopBy = max(user, 1)
	}
	msgID := a.msgID
	c.mu.Unlock()
	r.logger().Info("request answered", "ask", a.ask.ID, "state", state, "allow", reply.Allow, "latency", written)
	s.book.setConversation(r)
	c.editAsk(a, msgID, outcome)
	c.showWaiting(r.liveProgress())
	if state == askTimedOut {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.lt.ctx), sendTimeout)
		defer cancel()
		if _, err := s.opts.Chat.Send(ctx, Outgoing{ChatID: r.msg.ChatID, ThreadID: r.msg.ThreadID, ReplyTo: msgID,
			Text: plainText(fmt.Sprintf("⏱ %s: %s The agent goes on without it.", a.ask.Title, outcome))}); err != nil {
			r.logger().Warn("send timeout notice", "err", err)
		}
	}
	return outcome
}

// withdraw closes a request the engine no longer waits for.
func (c *conversation) withdraw(id, why string) {
	c.mu.Lock()
	i := slices.IndexFunc(c.asks, func(a *ask) bool { return a.ask.ID == id && a.state == askOpen })
	if i < 0 {
		c.mu.Unlock()
		return
	}
	a := c.asks[i]
	a.state, a.outcome = askWithdrawn, "Withdrawn: "+why+"."
	if a.timer != nil {
		a.timer.Stop()
	}
	msgID, outcome := a.msgID, a.outcome
	c.mu.Unlock()
	c.r.sup.book.setConversation(c.r)
	c.editAsk(a, msgID, outcome)
	c.showWaiting(c.r.liveProgress())
}

// interrupt asks the agent to end its turn, through the protocol; false
// when it has no way to (or the run is not talking to it any more).
func (c *conversation) interrupt() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stdin == nil || c.ended {
		return false
	}
	b := c.proto.Interrupt()
	if b == nil {
		return false
	}
	_, err := c.stdin.Write(b)
	return err == nil
}

// end is the engine's answer: its stdin ends (the session is over) and
// what is still open is withdrawn.
func (c *conversation) end() {
	c.mu.Lock()
	c.ended = true
	c.stdin.End()
	var open []string
	for _, a := range c.asks {
		if a.state == askOpen {
			open = append(open, a.ask.ID)
		}
	}
	c.mu.Unlock()
	for _, id := range open {
		c.withdraw(id, "the run ended")
	}
}

// close ends the conversation of a run that is over (left is true when its
// container goes on without this bridge: its requests stay open for the
// next one).
func (c *conversation) close(left bool) {
	c.mu.Lock()
	var open []string
	for _, a := range c.asks {
		if a.timer != nil {
			a.timer.Stop()
		}
		if a.state == askOpen {
			open = append(open, a.ask.ID)
		}
	}
	c.mu.Unlock()
	if left {
		return
	}
	for _, id := range open {
		c.withdraw(id, "the run ended")
	}
}

// waiting is the title of the oldest open request, "" when none is open.
func (c *conversation) waiting() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.asks {
		if a.state == askOpen {
			return a.ask.Title
		}
	}
	return ""
}

// showWaiting puts "waiting for approval" on the progress message while a
// request is open.
func (c *conversation) showWaiting(p *runProgress) {
	if p == nil {
		return
	}
	if t := c.waiting(); t != "" {
		p.note(waitingNote(t))
	} else {
		p.note("")
	}
}

// settled is the run's answer with what the conversation adds: a denial
// that stopped the run, requests that timed out.
func (c *conversation) settled(done engines.Completed) engines.Completed {
	c.mu.Lock()
	notes, stopped := slices.Clone(c.notes), c.stopBy != 0
	c.mu.Unlock()
	switch {
	case c.r.cancelled():
		// Interrupted: whatever the agent made of it, the user cancelled.
		done.OK, done.Error = false, "Cancelled."
	case stopped && !done.OK:
		done.Error = "Denied: the run stopped, as you asked."
	}
	if len(notes) > 0 {
		extra := "\n\n" + strings.Join(notes, "\n")
		if done.OK {
			done.Answer = strings.TrimSpace(done.Answer) + extra
		} else {
			done.Error = strings.TrimSpace(done.Error) + extra
		}
	}
	return done
}

// fresh forgets what a record said was done: the run starts anew in a new
// container.
func (c *conversation) fresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes, c.made, c.asks = 0, 0, nil
}

// editAsk shows how request a ended, without its buttons.
func (c *conversation) editAsk(a *ask, msgID int64, outcome string) {
	if msgID == 0 {
		return
	}
	r, s := c.r, c.r.sup
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.lt.ctx), sendTimeout)
	defer cancel()
	if err := s.opts.Chat.Edit(ctx, r.msg.ChatID, msgID, askText(r.engine.Name(), a, outcome), nil); err != nil {
		r.logger().Warn("edit approval request", "err", err)
	}
}

// byMessage finds the open question whose message id is msgID: a reply
// to it answers it in words.
func (c *conversation) byMessage(msgID int64) (seq int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.asks {
		if a.msgID == msgID && a.state == askOpen && a.ask.Kind == engines.AskQuestion {
			return a.seq, true
		}
	}
	return 0, false
}
