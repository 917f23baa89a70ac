package orchestrator

import (
	"context"
	"errors"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
)

// Drafts: while a run in a private chat writes its answer (engines.Text),
// the answer so far is shown as a draft of the chat (Drafter), at most
// every draftInterval, the newest text winning; the final answer is sent as
// a message all the same, and the progress message lives on as everywhere.
// Groups and forum topics get no drafts: their progress message is edited
// in place. The draft's id is the user's message, so the user's Stop under
// it (Message.StoppedDraft) names the run, which is cancelled as /cancel
// would. A transport that cannot show drafts (ErrNoDrafts: off in the
// config, or refused by the server) ends drafting for the run, silently.

// draftInterval is the most often a run's draft changes; the transport
// paces it within the chat's limits too. A shorter ProgressInterval (tests)
// shortens it.
const draftInterval = time.Second

// draftUnits bounds a draft's text in UTF-16 units, under Telegram's 4096.
const draftUnits = 4000

// runDraft streams one run's answer as a draft.
type runDraft struct {
	to   Drafter
	r    *run
	from Draft // chat, thread and id; Text is filled by flush

	mu     sync.Mutex
	newest string // the answer so far, as the engine last told it

	dirty chan struct{}
	quit  chan struct{}
	done  chan struct{}
	shown string // owned by loop: the text of the last draft
	off   bool   // owned by loop: drafts cannot be shown
}

// newDraft returns the draft of r, nil when r's answer is not streamed: not
// a private chat, a transport without drafts, or no message to name it.
func (r *run) newDraft() *runDraft {
	to, ok := r.sup.opts.Chat.(Drafter)
	if !ok || !r.msg.Private || r.msg.MessageID == 0 {
		return nil
	}
	return &runDraft{
		to:    to,
		r:     r,
		from:  Draft{ChatID: r.msg.ChatID, ThreadID: r.msg.ThreadID, ID: r.msg.MessageID},
		dirty: make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// take notes the newest answer text among evs. Called from the stream's
// goroutine; d may be nil.
func (d *runDraft) take(evs []engines.Event) {
	if d == nil {
		return
	}
	text := ""
	for _, ev := range evs {
		if t, ok := ev.(engines.Text); ok {
			text = t.Text
		}
	}
	if text == "" {
		return
	}
	d.mu.Lock()
	d.newest = text
	d.mu.Unlock()
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// start runs the draft loop; stop ends it (no draft is shown after stop
// returned). Both are called once, by the run's goroutine; d may be nil.
func (d *runDraft) start() {
	if d == nil {
		return
	}
	d.r.sup.lt.addChild()
	go d.loop()
}

func (d *runDraft) stop() {
	if d == nil {
		return
	}
	close(d.quit)
	<-d.done
}

func (d *runDraft) loop() {
	defer d.r.sup.lt.done()
	defer close(d.done)
	interval := min(draftInterval, d.r.sup.opts.ProgressInterval)
	pace(d.quit, d.dirty, interval, nil, nil, func() bool { return d.off }, d.flush)
}

// flush shows the newest text when it changed.
func (d *runDraft) flush() {
	d.mu.Lock()
	text := d.newest
	d.mu.Unlock()
	if text == d.shown || d.off {
		return
	}
	s := d.r.sup
	dr := d.from
	dr.Text = draftText(s.opts.Render, text)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.lt.ctx), sendTimeout)
	defer cancel()
	if err := d.to.Draft(ctx, dr); err != nil {
		d.off = true
		if !errors.Is(err, ErrNoDrafts) {
			s.log.Warn("show the answer as a draft", "run", d.r.id, "err", err)
		}
		return
	}
	d.shown = text
}

// draftText is how a draft shows the Markdown answer so far: rendered like
// the final answer when render is set, and only its last part when it is
// longer than a message; else plain, its end.
func draftText(render func(markdown string, maxUnits int) []Text, md string) Text {
	if render != nil {
		if parts := render(md, draftUnits); len(parts) > 0 {
			return parts[len(parts)-1]
		}
	}
	return plainText(tailUnits(md, draftUnits))
}

// tailUnits is the end of s within n UTF-16 units, led by "…" when cut.
func tailUnits(s string, n int) string {
	if utf16Len(s) <= n {
		return s
	}
	units := 1 // the "…"
	i := len(s)
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if units+utf16.RuneLen(r) > n {
			break
		}
		units += utf16.RuneLen(r)
		i -= size
	}
	return "…" + s[i:]
}

// stopDraft cancels the run whose draft the user stopped, as /cancel
// does: the run answers "Cancelled.". A Stop of a run that ended already
// does nothing.
func (c *commands) stopDraft(m Message) {
	for _, r := range c.sup.here(m.ChatID, m.ThreadID) {
		if r.msg.MessageID != m.StoppedDraft {
			continue
		}
		if c.sup.cancel(r, m.UserID) {
			c.log.Info("run stopped from its draft", "run", r.id, "chat", m.ChatID)
		}
		return
	}
	c.log.Info("stop of a draft whose run has ended", "chat", m.ChatID, "draft", m.StoppedDraft)
}
