package amp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/untether-go/untether/engines"
)

// maxErrorLen bounds Completed.Error: a chat shows a sentence, not a report.
const maxErrorLen = 1000

// maxStderrLines and maxStderrLen bound how much of stderr an error quotes.
const maxStderrLines, maxStderrLen = 3, 500

// wireLine is the union of the stream-json line shapes the decoder reads.
// Each line type fills only its own fields; the rest stay zero.
type wireLine struct {
	Type      string `json:"type"`
	Subtype   string `json:"subtype"`
	SessionID string `json:"session_id"`

	// system/init
	CWD string `json:"cwd"`

	// assistant, user
	Message         wireMessage `json:"message"`
	ParentToolUseID string      `json:"parent_tool_use_id"`

	// result
	IsError    bool            `json:"is_error"`
	Result     string          `json:"result"`
	Error      json.RawMessage `json:"error"`
	NumTurns   int             `json:"num_turns"`
	DurationMS float64         `json:"duration_ms"`
}

// wireMessage is the Anthropic message inside assistant and user lines.
// Content is an array of blocks, or a plain string.
type wireMessage struct {
	Content json.RawMessage `json:"content"`
	Usage   wireUsage       `json:"usage"`
}

// wireBlock is one content block: text, thinking, tool_use or tool_result.
type wireBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

type wireUsage struct {
	InputTokens          int64 `json:"input_tokens"`
	OutputTokens         int64 `json:"output_tokens"`
	CacheReadInputTokens int64 `json:"cache_read_input_tokens"`
}

// decoder holds what one run's stream has told so far.
type decoder struct {
	session  string
	cwd      string
	started  bool
	done     bool
	lastText string        // last top-level assistant text: the answer if no result comes
	usage    engines.Usage // token counts summed over the assistant messages
	crash    string        // last "Error: ..." line that was not JSON
	tools    *engines.Tools
	shown    string // the text of the last Text event
}

func newDecoder() *decoder {
	return &decoder{tools: engines.NewTools("amp")}
}

// Decode implements engines.Decoder. Blank lines carry nothing and are not
// errors. Anything before the first '{' of a line is skipped: a crashing
// CLI writes terminal escape codes before its JSON. A field of an unexpected
// JSON type is left zero rather than losing the whole line; a line that is
// not JSON or has no known type is an error. After the Completed event
// every further line yields no events.
func (d *decoder) Decode(line []byte) ([]engines.Event, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, nil
	}
	data := line
	if i := bytes.IndexByte(data, '{'); i > 0 {
		data = data[i:]
	}
	var l wireLine
	if err := engines.UnmarshalLenient(data, &l); err != nil {
		d.noteCrash(line)
		return nil, fmt.Errorf("decode amp line: %w", err)
	}
	switch l.Type {
	case "system", "assistant", "user", "result":
	case "":
		return nil, errors.New("decode amp line: no type")
	default:
		return nil, fmt.Errorf("decode amp line: unknown type %q", engines.Clip(l.Type, 40))
	}
	if d.done {
		return nil, nil
	}
	if l.Type == "system" && l.Subtype == "init" {
		return d.start(&l), nil
	}
	evs := d.noteSession(l.SessionID)
	switch l.Type {
	case "assistant":
		evs = append(evs, d.assistant(&l)...)
	case "user":
		evs = append(evs, d.user(&l)...)
	case "result":
		evs = append(evs, d.result(&l))
	}
	return evs, nil
}

// noteCrash remembers a line that is not JSON when it reads as the CLI's
// own error message, such as "Error: Unexpected error inside Amp CLI.".
func (d *decoder) noteCrash(line []byte) {
	const maxScan = 4096 // an error message is short; a 10 MB line is not one
	line = line[:min(len(line), maxScan)]
	text := engines.OneLine(strings.ToValidUTF8(engines.StripANSI(string(line)), "\uFFFD"), maxDetailLen)
	if strings.HasPrefix(text, "Error:") {
		d.crash = text
	}
}

// start handles system/init: the first one starts the thread, later ones
// are ignored. Amp names no model.
func (d *decoder) start(l *wireLine) []engines.Event {
	if d.started {
		return nil
	}
	if d.session == "" {
		d.session = l.SessionID
	}
	if d.session == "" {
		return nil
	}
	d.started = true
	d.cwd = l.CWD
	var meta map[string]string
	if l.CWD != "" {
		meta = map[string]string{"cwd": l.CWD}
	}
	return []engines.Event{engines.Started{Engine: name, Resume: d.session, Meta: meta}}
}

// noteSession records the thread id carried by every line and emits
// Started from it when the init line was lost.
func (d *decoder) noteSession(id string) []engines.Event {
	if d.session == "" {
		d.session = id
	}
	if d.started || d.session == "" {
		return nil
	}
	d.started = true
	return []engines.Event{engines.Started{Engine: name, Resume: d.session}}
}

// assistant handles one assistant line, a whole API message: tool calls
// become started actions, text is remembered as the fallback answer,
// thinking is dropped, and its token counts add to the run's usage.
func (d *decoder) assistant(l *wireLine) []engines.Event {
	u := l.Message.Usage
	d.usage.InputTokens += u.InputTokens
	d.usage.OutputTokens += u.OutputTokens
	d.usage.CachedTokens += u.CacheReadInputTokens
	var evs []engines.Event
	var texts []string
	for _, b := range blocks(l.Message.Content) {
		switch b.Type {
		case "text":
			// A subagent's text is its report to the parent, not the answer.
			if text := strings.TrimSpace(b.Text); text != "" && l.ParentToolUseID == "" {
				d.lastText = text
				texts = append(texts, text)
			}
		case "tool_use":
			if a, ok := d.toolStarted(b); ok {
				evs = append(evs, a)
			}
		}
	}
	// Amp prints each API message whole: its text is the answer as it
	// stands, ahead of the message's tool calls.
	if text := strings.Join(texts, "\n\n"); text != "" && text != d.shown {
		d.shown = text
		evs = append([]engines.Event{engines.Text{Text: text}}, evs...)
	}
	return evs
}

// user handles one user line: each tool_result completes its action. The
// echoed prompt is dropped.
func (d *decoder) user(l *wireLine) []engines.Event {
	var evs []engines.Event
	for _, b := range blocks(l.Message.Content) {
		if b.Type != "tool_result" {
			continue
		}
		if a, ok := d.toolCompleted(b); ok {
			evs = append(evs, a)
		}
	}
	return evs
}

// blocks returns the content blocks of a message. A string content is one
// text block.
func blocks(raw json.RawMessage) []wireBlock {
	return engines.ContentBlocks(raw, func(s string) wireBlock { return wireBlock{Type: "text", Text: s} })
}

// result turns the final result line into Completed. The result carries no
// token counts and no cost; the usage is the sum of the assistant messages'.
func (d *decoder) result(l *wireLine) engines.Completed {
	d.done = true
	if l.SessionID != "" {
		d.session = l.SessionID
	}
	u := d.usage
	u.Turns = l.NumTurns
	u.Duration = time.Duration(l.DurationMS * float64(time.Millisecond))
	c := engines.Completed{
		OK:     l.Subtype == "success" && !l.IsError,
		Resume: d.session,
		Usage:  u,
	}
	if c.OK {
		c.Answer = l.Result
		if strings.TrimSpace(c.Answer) == "" {
			c.Answer = d.lastText
		}
		return c
	}
	c.Error = resultError(l)
	return c
}

// resultError is the sentence a failed result stands for.
func resultError(l *wireLine) string {
	msg := cleanError(errorText(l.Error))
	if msg == "" {
		msg = cleanError(l.Result)
	}
	if msg == "" {
		msg = subtypeError(l.Subtype)
	}
	return engines.Clip(msg, maxErrorLen)
}

// errorText reads a result's error, a string or an object with a message.
func errorText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if raw[0] == '"' && engines.UnmarshalLenient(raw, &s) == nil {
		return s
	}
	var obj struct {
		Message string `json:"message"`
		Error   struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if raw[0] == '{' && engines.UnmarshalLenient(raw, &obj) == nil {
		if obj.Message != "" {
			return obj.Message
		}
		return obj.Error.Message
	}
	return ""
}

// subtypeError describes a result subtype that came without any text.
func subtypeError(subtype string) string {
	switch subtype {
	case "error_during_execution":
		return "amp failed during execution (error_during_execution)"
	case "", "success":
		return "amp reported an error"
	}
	return "amp failed (" + engines.OneLine(subtype, 60) + ")"
}

// Finish implements engines.Decoder: when the stream ended without a result
// line it synthesizes Completed from the exit status. A clean exit after a
// final text counts as success with that text as the answer.
func (d *decoder) Finish(exit engines.Exit) []engines.Event {
	if d.done {
		return nil
	}
	d.done = true
	c := engines.Completed{Resume: d.session, Usage: d.usage}
	if exit.Code == 0 && strings.TrimSpace(exit.Cause) == "" && d.lastText != "" {
		c.OK = true
		c.Answer = d.lastText
		return []engines.Event{c}
	}
	c.Error = engines.Clip(d.exitError(exit), maxErrorLen)
	return []engines.Event{c}
}

// exitError is the sentence an early end stands for, most specific first.
func (d *decoder) exitError(exit engines.Exit) string {
	// Amp reports some crashes on stdout; stderr says more when it says
	// anything.
	detail := engines.StderrTail(engines.StripANSI(exit.StderrTail), maxStderrLines, maxStderrLen, nil)
	if detail == "" {
		detail = d.crash
	}
	return engines.ExitError(name, exit, "", detail)
}
