package orchestrator

import (
	"fmt"
	"sync"
	"time"

	"github.com/untether-go/untether/engines"
)

// shownActions is how many of the latest actions a progress message lists.
const shownActions = 5

// progressView is what a run's progress message shows: the events folded
// so far, rendered on demand. It does no I/O (runProgress edits the
// message). Safe for concurrent use.
type progressView struct {
	engine string

	mu        sync.Mutex
	started   time.Time
	model     string
	actions   []engines.Action // in order of first appearance, latest state
	completed *engines.Completed
	note      string // a last line for the user, e.g. about a restart
	stall     string // the stall notice, "" while the engine is not silent
}

func newProgressView(engine string, started time.Time) *progressView {
	return &progressView{engine: engine, started: started}
}

// apply folds events into the view; false when none of them is one it
// shows. The answer as it is written (engines.Text) is not: it goes to a
// draft, if anywhere, and must not make the progress message busy.
func (v *progressView) apply(evs []engines.Event) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	shown := false
	for _, ev := range evs {
		switch e := ev.(type) {
		case engines.Started:
			v.model = e.Model
		case engines.Action:
			v.upsert(e)
		case engines.Completed:
			if v.completed == nil {
				c := e
				v.completed = &c
			}
		case engines.Text:
			continue
		}
		shown = true
	}
	return shown
}

func (v *progressView) upsert(a engines.Action) {
	for i := range v.actions {
		if v.actions[i].ID == a.ID {
			if a.Title == "" {
				a.Title = v.actions[i].Title
			}
			if a.Kind == "" {
				a.Kind = v.actions[i].Kind
			}
			v.actions[i] = a
			return
		}
	}
	v.actions = append(v.actions, a)
}

// setStarted sets the time the header counts from.
func (v *progressView) setStarted(t time.Time) {
	v.mu.Lock()
	v.started = t
	v.mu.Unlock()
}

// setNote sets the view's last line.
func (v *progressView) setNote(note string) {
	v.mu.Lock()
	v.note = note
	v.mu.Unlock()
}

// setStall sets the stall notice ("" clears it); false when it was
// already that.
func (v *progressView) setStall(s string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stall == s {
		return false
	}
	v.stall = s
	return true
}

// busy reports whether a command, tool or subagent the engine started has
// not completed: the engine is then silent while it waits for it.
func (v *progressView) busy() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, a := range v.actions {
		switch a.Kind {
		case engines.KindCommand, engines.KindTool, engines.KindSubagent:
			if a.Phase != engines.PhaseCompleted {
				return true
			}
		}
	}
	return false
}

// snapshot returns when the run started and how many steps it took.
func (v *progressView) snapshot() (started time.Time, steps int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.started, len(v.actions)
}

// completion is the run's Completed event, with the model filled in.
func (v *progressView) completion() engines.Completed {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.completed == nil {
		return engines.Completed{Error: "The agent ended without an answer."}
	}
	c := *v.completed
	if c.Model == "" {
		c.Model = v.model
	}
	return c
}

// header is "<state> · <engine> · <elapsed> · step N".
func (v *progressView) header(state string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.headerLocked(state)
}

func (v *progressView) headerLocked(state string) string {
	h := fmt.Sprintf("%s · %s · %s", state, v.engine, formatElapsed(time.Since(v.started)))
	if n := len(v.actions); n > 0 {
		h += fmt.Sprintf(" · step %d", n)
	}
	return h
}

// render is the progress message: header, latest actions, note.
func (v *progressView) render() Text {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b textBuilder
	b.plain(v.headerLocked("working"))
	start := max(0, len(v.actions)-shownActions)
	for _, a := range v.actions[start:] {
		b.plain("\n")
		writeAction(&b, a)
	}
	if v.stall != "" {
		b.plain("\n\n" + v.stall)
	}
	if v.note != "" {
		b.plain("\n\n" + v.note)
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
