package opencode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/untether-go/untether/engines"
)

// maxErrorLen bounds Completed.Error: a chat shows a sentence, not a report.
const maxErrorLen = 1000

// maxStderrLines and maxStderrLen bound how much of stderr an error quotes.
const maxStderrLines, maxStderrLen = 3, 500

// wireLine is the union of the line shapes `opencode run --format json`
// prints: {"type", "timestamp", "sessionID", "part" | "error"}. Each type
// fills only its own fields; the rest stay zero.
type wireLine struct {
	Type      string    `json:"type"`
	SessionID string    `json:"sessionID"`
	Part      wirePart  `json:"part"`
	Error     wireError `json:"error"`
}

// wirePart is opencode's message part: step-start, step-finish, text,
// reasoning or tool.
type wirePart struct {
	ID        string `json:"id"`
	SessionID string `json:"sessionID"`
	Type      string `json:"type"`

	// text, reasoning
	Text string `json:"text"`

	// tool
	Tool   string    `json:"tool"`
	CallID string    `json:"callID"`
	State  wireState `json:"state"`

	// step-finish
	Reason string     `json:"reason"`
	Tokens wireTokens `json:"tokens"`
	Cost   float64    `json:"cost"`
}

// wireState is a tool part's state; the stream prints a tool once it is
// completed or failed.
type wireState struct {
	Status   string          `json:"status"`
	Input    json.RawMessage `json:"input"`
	Output   string          `json:"output"`
	Error    string          `json:"error"`
	Title    string          `json:"title"`
	Metadata struct {
		// Exit is the shell's exit status of a bash call; a failing
		// command still has status "completed".
		Exit   *int   `json:"exit"`
		Output string `json:"output"`
	} `json:"metadata"`
}

// wireTokens is one step's usage. Input excludes cached tokens; reasoning
// tokens are counted apart from output.
type wireTokens struct {
	Input     int64 `json:"input"`
	Output    int64 `json:"output"`
	Reasoning int64 `json:"reasoning"`
	Cache     struct {
		Read int64 `json:"read"`
	} `json:"cache"`
}

// wireError is a session error: {"name": "APIError", "data": {...}}.
type wireError struct {
	Name string `json:"name"`
	Data struct {
		Message    string `json:"message"`
		StatusCode int    `json:"statusCode"`
	} `json:"data"`
}

// decoder holds what one run's stream has told so far. The stream has no
// end line (newer CLIs add "done"), so Finish builds the Completed event of
// a normal run from this state and the exit status.
type decoder struct {
	session  string
	started  bool
	done     bool
	lastText string // text of the last non-empty text part: the answer
	apiError string // sentence of the last error line
	usage    engines.Usage
	actions  map[string]engines.Phase
	anon     int // counter for tool parts that arrive without an id
}

func newDecoder() *decoder {
	return &decoder{actions: make(map[string]engines.Phase)}
}

// Decode implements engines.Decoder. Blank lines carry nothing and are not
// errors. A field of an unexpected JSON type is left zero rather than losing
// the whole line; a line that is not JSON or has no known type is an error.
// After the Completed event every further line yields no events.
func (d *decoder) Decode(line []byte) ([]engines.Event, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, nil
	}
	var l wireLine
	if err := engines.UnmarshalLenient(line, &l); err != nil {
		return nil, fmt.Errorf("decode opencode line: %w", err)
	}
	switch l.Type {
	case "step_start", "step_finish", "text", "reasoning", "tool_use", "error", "done":
	case "":
		return nil, errors.New("decode opencode line: no type")
	default:
		return nil, fmt.Errorf("decode opencode line: unknown type %q", engines.Clip(l.Type, 40))
	}
	if d.done {
		return nil, nil
	}
	id := l.SessionID
	if id == "" {
		id = l.Part.SessionID
	}
	evs := d.noteSession(id)
	switch l.Type {
	case "step_finish":
		if d.step(&l.Part) {
			evs = append(evs, engines.UsageUpdate{Usage: d.usage})
		}
	case "text":
		// Each text event is a part whole: the answer as it stands.
		if text := strings.TrimSpace(l.Part.Text); text != "" {
			if text != d.lastText {
				evs = append(evs, engines.Text{Text: text})
			}
			d.lastText = text
		}
	case "tool_use":
		if a, ok := d.tool(&l.Part); ok {
			evs = append(evs, a)
		}
	case "error":
		d.apiError = errorSentence(&l.Error)
	case "done":
		evs = append(evs, d.complete())
	}
	return evs, nil
}

// noteSession records the session id every line carries and emits Started
// the first time one is known.
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

// step adds one finished step (one model request) to the run's usage and
// reports whether it spent tokens (or money).
func (d *decoder) step(p *wirePart) bool {
	d.usage.InputTokens += p.Tokens.Input
	d.usage.OutputTokens += p.Tokens.Output + p.Tokens.Reasoning
	d.usage.CachedTokens += p.Tokens.Cache.Read
	d.usage.CostUSD += p.Cost
	d.usage.Turns++
	return p.Tokens.Input+p.Tokens.Output+p.Tokens.Reasoning+p.Tokens.Cache.Read > 0 || p.Cost > 0
}

// errorSentence is the human sentence an error line stands for.
func errorSentence(e *wireError) string {
	msg := strings.TrimSpace(e.Data.Message)
	switch {
	case e.Name == "APIError" && msg != "" && e.Data.StatusCode != 0:
		msg = fmt.Sprintf("API error %d: %s", e.Data.StatusCode, msg)
	case e.Name == "APIError" && msg != "":
		msg = "API error: " + msg
	case msg != "":
	case e.Name == "MessageOutputLengthError":
		msg = "the model's answer hit its output length limit"
	case e.Name == "MessageAbortedError":
		msg = "opencode aborted the run"
	case e.Name != "":
		msg = "opencode failed (" + engines.OneLine(e.Name, 60) + ")"
	default:
		msg = "opencode reported an error"
	}
	return engines.Clip(msg, maxErrorLen)
}

// complete turns the "done" line of newer CLIs into Completed: the run went
// idle, and its error line, if any, says why it failed.
func (d *decoder) complete() engines.Completed {
	d.done = true
	c := engines.Completed{Resume: d.session, Usage: d.usage}
	switch {
	case d.apiError != "":
		c.Error = d.apiError
	case d.lastText == "":
		c.Error = "opencode finished without an answer"
	default:
		c.OK, c.Answer = true, d.lastText
	}
	return c
}

// Finish implements engines.Decoder. It is how a normal run completes, since
// the stream has no end line: a clean exit after a text part and without an
// error line is a success with that text as the answer; anything else is a
// failure saying why.
func (d *decoder) Finish(exit engines.Exit) []engines.Event {
	if d.done {
		return nil
	}
	d.done = true
	c := engines.Completed{Resume: d.session, Usage: d.usage}
	if exit.Code == 0 && strings.TrimSpace(exit.Cause) == "" && d.apiError == "" && d.lastText != "" {
		c.OK, c.Answer = true, d.lastText
		return []engines.Event{c}
	}
	c.Error = engines.Clip(d.exitError(exit), maxErrorLen)
	return []engines.Event{c}
}

// exitError is the sentence a failed run stands for, most specific first.
func (d *decoder) exitError(exit engines.Exit) string {
	tail := engines.StderrTail(exit.StderrTail, maxStderrLines, maxStderrLen, nil)
	return engines.ExitError(name, exit, d.apiError, tail)
}
