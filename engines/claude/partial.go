package claude

import (
	"github.com/untether-go/untether/engines"
)

// With --include-partial-messages the CLI prints each raw SSE event of the
// API as a stream_event line, the answer's text_delta among them, before the
// whole block arrives as an assistant line:
//
//	{"type":"stream_event","event":{"type":"message_start","message":{"id":"msg_…",…}},"parent_tool_use_id":null,…}
//	{"type":"stream_event","event":{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}},…}
//	{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Done. Create"}},…}
//
// The decoder turns them into Text events (the message's text so far);
// without them, each assistant text block is one Text.

// wireSSE is the raw SSE event of a stream_event line.
type wireSSE struct {
	Type         string       `json:"type"`
	Index        int          `json:"index"`
	Message      wireMessage  `json:"message"`       // message_start
	ContentBlock wireBlock    `json:"content_block"` // content_block_start
	Delta        wireSSEDelta `json:"delta"`         // content_block_delta
}

type wireSSEDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// textDraft is the text of the agent's current API message, as the stream
// tells it.
type textDraft struct {
	message  string // the API message the text belongs to
	text     string
	blocks   int  // text blocks of the message so far
	streamed bool // the stream carries deltas: whole blocks add nothing
	last     string
}

// streamed handles a stream_event line. Subagents' events are skipped: their
// text is not the answer.
func (d *decoder) streamed(l *wireLine) []engines.Event {
	if l.ParentToolUseID != "" {
		return nil
	}
	t := &d.text
	switch e := l.Event; e.Type {
	case "message_start":
		t.message, t.text, t.blocks = e.Message.ID, "", 0
	case "content_block_start":
		if e.ContentBlock.Type == "text" {
			t.streamed = true
			t.startBlock()
		}
	case "content_block_delta":
		if e.Delta.Type == "text_delta" && e.Delta.Text != "" {
			t.streamed = true
			t.text += e.Delta.Text
			return t.emit()
		}
	}
	return nil
}

// startBlock separates a message's text blocks by a blank line.
func (t *textDraft) startBlock() {
	if t.blocks > 0 && t.text != "" {
		t.text += "\n\n"
	}
	t.blocks++
}

// block takes a whole text block of message id (an assistant line) when
// the stream carries no deltas.
func (t *textDraft) block(id, text string) (engines.Event, bool) {
	if t.streamed {
		return nil, false
	}
	if id == "" || id != t.message {
		t.message, t.text, t.blocks = id, "", 0
	}
	t.startBlock()
	t.text += text
	evs := t.emit()
	if len(evs) == 0 {
		return nil, false
	}
	return evs[0], true
}

// emit returns the text as a Text event, unless it is empty or unchanged.
func (t *textDraft) emit() []engines.Event {
	if t.text == "" || t.text == t.last {
		return nil
	}
	t.last = t.text
	return []engines.Event{engines.Text{Text: t.text}}
}
