package pi

import "github.com/untether-go/untether/engines"

// The answer as it is written: pi streams each assistant message as
// message_update lines whose assistantMessageEvent is a text_start,
// text_delta or text_end of a content block (and the like for thinking and
// tool calls), then prints it whole in message_end:
//
//	{"type":"message_update","assistantMessageEvent":{"type":"text_delta","contentIndex":0,"delta":"Done. Create","partial":{…}},"message":{…}}

// wireUpdate is a message_update's assistantMessageEvent.
type wireUpdate struct {
	Type         string `json:"type"`
	ContentIndex int    `json:"contentIndex"`
	Delta        string `json:"delta"`
}

// draft is the text of the assistant message being written.
type draft struct {
	text   string
	blocks int    // text blocks started in the message
	last   string // the text of the last Text event
}

// reset starts a new assistant message.
func (d *draft) reset() { d.text, d.blocks = "", 0 }

// update takes a streamed event: text blocks join with a newline, as
// messageText joins them.
func (d *draft) update(u *wireUpdate) []engines.Event {
	switch u.Type {
	case "text_start":
		if d.blocks > 0 && d.text != "" {
			d.text += "\n"
		}
		d.blocks++
	case "text_delta":
		d.text += u.Delta
		return d.emit()
	}
	return nil
}

// whole takes the text of a finished assistant message, for streams that
// carried no deltas of it.
func (d *draft) whole(text string) []engines.Event {
	if text == "" {
		return nil
	}
	d.text = text
	return d.emit()
}

// emit returns the text as a Text event, unless it is empty or unchanged.
func (d *draft) emit() []engines.Event {
	if d.text == "" || d.text == d.last {
		return nil
	}
	d.last = d.text
	return []engines.Event{engines.Text{Text: d.text}}
}
