package orchestrator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
)

// shownActions is how many of the latest actions a progress message lists.
const shownActions = 5

// progress follows one run's events and keeps its progress message current:
// an edit at most every ProgressInterval, and only when the text changed.
type progress struct {
	o       *Orchestrator
	j       *job
	started time.Time

	mu        sync.Mutex
	model     string
	actions   []engines.Action // in order of first appearance, latest state
	completed *engines.Completed
	note      string // a last line for the user, e.g. about a restart

	dirty   chan struct{}
	quit    chan struct{}
	done    chan struct{}
	running bool   // start was called; owned by the run's goroutine
	last    string // text of the last edit; owned by loop
}

func newProgress(o *Orchestrator, j *job, started time.Time) *progress {
	return &progress{
		o: o, j: j, started: started,
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
	if len(evs) == 0 {
		return
	}
	p.mu.Lock()
	for _, ev := range evs {
		switch e := ev.(type) {
		case engines.Started:
			p.model = e.Model
		case engines.Action:
			p.upsert(e)
		case engines.Completed:
			if p.completed == nil {
				c := e
				p.completed = &c
			}
		}
	}
	p.mu.Unlock()
	p.touch()
}

// touch asks the edit loop to show the current view.
func (p *progress) touch() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

func (p *progress) upsert(a engines.Action) {
	for i := range p.actions {
		if p.actions[i].ID == a.ID {
			if a.Title == "" {
				a.Title = p.actions[i].Title
			}
			if a.Kind == "" {
				a.Kind = p.actions[i].Kind
			}
			p.actions[i] = a
			return
		}
	}
	p.actions = append(p.actions, a)
}

// snapshot returns when the run started and how many steps it took.
func (p *progress) snapshot() (started time.Time, steps int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started, len(p.actions)
}

// completion is the run's Completed event, with the model filled in.
func (p *progress) completion() engines.Completed {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.completed == nil {
		return engines.Completed{Error: "The agent ended without an answer."}
	}
	c := *p.completed
	if c.Model == "" {
		c.Model = p.model
	}
	return c
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
	t := p.render()
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

// header is "<state> · <engine> · <elapsed> · step N".
func (p *progress) header(state string) string {
	h := fmt.Sprintf("%s · %s · %s", state, p.j.engine.Name(), formatElapsed(time.Since(p.started)))
	if n := len(p.actions); n > 0 {
		h += fmt.Sprintf(" · step %d", n)
	}
	return h
}

func (p *progress) render() Text {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b textBuilder
	b.plain(p.header("working"))
	start := max(0, len(p.actions)-shownActions)
	for _, a := range p.actions[start:] {
		b.plain("\n")
		writeAction(&b, a)
	}
	if p.note != "" {
		b.plain("\n\n" + p.note)
	}
	return b.text()
}

func writeAction(b *textBuilder, a engines.Action) {
	mark := "▸ "
	if a.Phase == engines.PhaseCompleted {
		mark = "✓ "
		if !a.OK {
			mark = "✗ "
		}
	}
	b.plain(mark)
	title := engines.OneLine(a.Title, 200)
	if title == "" {
		title = string(a.Kind)
	}
	if a.Kind == engines.KindCommand {
		b.styled(EntityCode, title)
	} else {
		b.plain(title)
	}
}

// finalTexts renders the final answer: header, body, footer, resume line;
// split into messages that fit Telegram's limit, footer on the last.
func (o *Orchestrator) finalTexts(j *job, p *progress, c engines.Completed) []Text {
	p.mu.Lock()
	state := "done"
	if !c.OK {
		state = "error"
	}
	header := p.header(state)
	p.mu.Unlock()

	body := strings.TrimSpace(c.Answer)
	if !c.OK {
		body = strings.TrimSpace(c.Error)
		if body == "" {
			body = "The agent failed without saying why."
		}
		body += fmt.Sprintf("\n(run %s)", j.id)
	}
	if body == "" {
		body = "(no answer)"
	}

	var foot textBuilder
	if f := footer(c); f != "" {
		foot.plain(f)
	}
	if o.opts.ShowResumeLine && c.Resume != "" {
		if foot.b.Len() > 0 {
			foot.plain("\n")
		}
		foot.styled(EntityCode, j.engine.ResumeLine(c.Resume))
	}

	chunks := o.renderBody(body, c.OK)
	out := make([]Text, 0, len(chunks))
	for i, chunk := range chunks {
		var b textBuilder
		if i == 0 {
			b.styled(EntityBold, header)
			b.plain("\n\n")
		}
		b.append(chunk)
		if i == len(chunks)-1 && foot.b.Len() > 0 {
			b.plain("\n\n")
			b.append(foot.text())
		}
		out = append(out, b.text())
	}
	return out
}

// renderBody turns an answer into message bodies that fit Telegram: the
// agent's Markdown through Options.Render when set, else plain text split
// on paragraph boundaries. Error texts are never Markdown.
func (o *Orchestrator) renderBody(body string, markdown bool) []Text {
	if markdown && o.opts.Render != nil {
		if parts := o.opts.Render(body, maxBodyUnits); len(parts) > 0 {
			return parts
		}
	}
	var out []Text
	for _, s := range splitText(body, maxBodyUnits) {
		out = append(out, plainText(s))
	}
	return out
}

// footer shows what the engine reported: model, cost, tokens.
func footer(c engines.Completed) string {
	var parts []string
	if c.Model != "" {
		parts = append(parts, c.Model)
	}
	if c.Usage.CostUSD > 0 {
		parts = append(parts, fmt.Sprintf("$%.4f", c.Usage.CostUSD))
	}
	if c.Usage.InputTokens > 0 || c.Usage.OutputTokens > 0 {
		parts = append(parts, fmt.Sprintf("%d in / %d out tokens", c.Usage.InputTokens, c.Usage.OutputTokens))
	}
	return strings.Join(parts, " · ")
}

// maxBodyUnits leaves room under Telegram's 4096 UTF-16 units for the
// header and footer around a chunk of the answer.
const maxBodyUnits = 3500

// splitText cuts s into pieces of at most limit UTF-16 units, preferring
// paragraph, then line, then word boundaries.
func splitText(s string, limit int) []string {
	var out []string
	for utf16Len(s) > limit {
		cut := cutPoint(s, limit)
		out = append(out, strings.TrimRight(s[:cut], " \n"))
		s = strings.TrimLeft(s[cut:], " \n")
	}
	return append(out, s)
}

// cutPoint is the byte index where the longest acceptable prefix ends.
func cutPoint(s string, limit int) int {
	units, end := 0, 0
	for i, r := range s {
		n := 1
		if r >= 0x10000 {
			n = 2
		}
		if units+n > limit {
			break
		}
		units += n
		end = i + utf8.RuneLen(r)
	}
	prefix := s[:end]
	for _, sep := range []string{"\n\n", "\n", " "} {
		if i := strings.LastIndex(prefix, sep); i > len(prefix)/2 {
			return i
		}
	}
	return end
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func formatElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
