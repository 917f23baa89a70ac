package codex

import "github.com/untether-go/untether/engines"

// draft is the agent message being written, for Text events. `codex exec
// --json` tells each message whole (item.completed of agent_message), the
// app-server also as it streams (item/agentMessage/delta, by item id).
type draft struct {
	item string // the message the text belongs to
	text string
	last string // the text of the last Text event
}

// delta adds streamed text to item's message; another item starts afresh.
func (d *draft) delta(item, text string) []engines.Event {
	if item != d.item {
		d.item, d.text = item, ""
	}
	d.text += text
	return d.emit()
}

// whole takes item's message once it completed.
func (d *draft) whole(item, text string) []engines.Event {
	d.item, d.text = item, text
	return d.emit()
}

// emit returns the text as a Text event, unless it is blank or unchanged.
func (d *draft) emit() []engines.Event {
	if d.text == d.last || len(d.text) == 0 {
		return nil
	}
	d.last = d.text
	return []engines.Event{engines.Text{Text: d.text}}
}
