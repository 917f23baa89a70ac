package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/untether-go/untether/engines"
)

// maxErrorLen bounds Completed.Error: a chat shows a sentence, not a report.
const maxErrorLen = 1000

// wireLine is the union of the stream-json line shapes. Each line type
// fills only its own fields; the rest stay zero.
type wireLine struct {
	Type      string `json:"type"`
	SessionID string `json:"session_id"`
	Model     string `json:"model"`

	// message
	Role    string `json:"role"`
	Content string `json:"content"`
	Delta   bool   `json:"delta"`

	// tool_use, tool_result
	ToolName   string          `json:"tool_name"`
	ToolID     string          `json:"tool_id"`
	Parameters json.RawMessage `json:"parameters"`
	Output     string          `json:"output"`

	// tool_result, result
	Status string    `json:"status"`
	Error  wireError `json:"error"`

	// error
	Severity string `json:"severity"`
	Message  string `json:"message"`

	// result
	Stats wireStats `json:"stats"`
}

type wireError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// wireStats is result.stats. Input is the uncached part of InputTokens,
// Cached the rest.
type wireStats struct {
	InputTokens  int64                     `json:"input_tokens"`
	OutputTokens int64                     `json:"output_tokens"`
	Cached       int64                     `json:"cached"`
	Input        *int64                    `json:"input"`
	DurationMS   float64                   `json:"duration_ms"`
	Models       map[string]wireModelStats `json:"models"`
}

type wireModelStats struct {
	TotalTokens int64 `json:"total_tokens"`
}

// decoder holds what one run's stream has told so far.
type decoder struct {
	session   string
	model     string
	started   bool
	done      bool
	text      strings.Builder // assistant text since the last tool call: the answer
	shown     string          // the text of the last Text event
	lastError string          // message of the last error event of severity "error"
	actions   map[string]engines.Action
	anon      int // counter for tool calls that arrive without an id
	notes     int // counter for error events
}

func newDecoder() *decoder {
	return &decoder{actions: make(map[string]engines.Action)}
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
		return nil, fmt.Errorf("decode gemini line: %w", err)
	}
	switch l.Type {
	case "init", "message", "tool_use", "tool_result", "error", "result":
	case "":
		return nil, errors.New("decode gemini line: no type")
	default:
		return nil, fmt.Errorf("decode gemini line: unknown type %q", engines.Clip(l.Type, 40))
	}
	if d.done {
		return nil, nil
	}
	switch l.Type {
	case "init":
		return d.start(&l), nil
	case "message":
		return d.message(&l), nil
	case "tool_use":
		d.text.Reset()
		if a, ok := d.toolStarted(&l); ok {
			return []engines.Event{a}, nil
		}
	case "tool_result":
		d.text.Reset()
		if a, ok := d.toolCompleted(&l); ok {
			return []engines.Event{a}, nil
		}
	case "error":
		return []engines.Event{d.note(&l)}, nil
	case "result":
		return []engines.Event{d.result(&l)}, nil
	}
	return nil, nil
}

// start handles init, the first line: it carries the session id and model.
// A repeated init is ignored.
func (d *decoder) start(l *wireLine) []engines.Event {
	if d.started || l.SessionID == "" {
		return nil
	}
	d.started = true
	d.session, d.model = l.SessionID, l.Model
	return []engines.Event{engines.Started{Engine: name, Resume: d.session, Model: d.model}}
}

// message collects the assistant's text. The CLI streams it only as deltas
// and has no full-text event, so the answer is their concatenation since the
// last tool call. A message without the delta flag is taken as whole.
// The echoed user prompt is dropped. The text so far is the answer as it
// is written (Text), unless it is blank or unchanged.
func (d *decoder) message(l *wireLine) []engines.Event {
	if l.Role != "assistant" {
		return nil
	}
	if !l.Delta {
		d.text.Reset()
	}
	d.text.WriteString(l.Content)
	text := strings.TrimSpace(d.text.String())
	if text == "" || text == d.shown {
		return nil
	}
	d.shown = text
	return []engines.Event{engines.Text{Text: text}}
}

// note reports an error event (a warning such as a detected loop, or an
// error such as the turn limit) as a warning action of its own.
func (d *decoder) note(l *wireLine) engines.Action {
	d.notes++
	msg := engines.OneLine(l.Message, maxTitleLen)
	if msg == "" {
		msg = "gemini reported an error"
	}
	if l.Severity == "error" {
		d.lastError = engines.Clip(cleanError(l.Message), maxErrorLen)
	}
	return engines.Action{
		ID:    fmt.Sprintf("gemini-error-%d", d.notes),
		Kind:  engines.KindWarning,
		Title: msg,
		Phase: engines.PhaseCompleted,
		OK:    l.Severity != "error",
	}
}

// result turns the final result line into Completed.
func (d *decoder) result(l *wireLine) engines.Completed {
	d.done = true
	c := engines.Completed{
		OK:     l.Status == "success",
		Resume: d.session,
		Model:  resultModel(l.Stats.Models, d.model),
		Usage:  usage(&l.Stats),
	}
	if c.OK {
		c.Answer = strings.TrimSpace(d.text.String())
		return c
	}
	c.Error = d.resultError(l)
	return c
}

// usage maps result.stats. The CLI counts no turns and no cost.
func usage(s *wireStats) engines.Usage {
	input := s.InputTokens - s.Cached
	if s.Input != nil {
		input = *s.Input
	}
	return engines.Usage{
		InputTokens:  max(input, 0),
		OutputTokens: s.OutputTokens,
		CachedTokens: s.Cached,
		Duration:     time.Duration(s.DurationMS * float64(time.Millisecond)),
	}
}

// resultModel names the model that did the work: the only key of
// stats.models, else the session's model when it is among several keys,
// else the key with the most tokens, else the session's model.
func resultModel(models map[string]wireModelStats, sessionModel string) string {
	if len(models) == 0 {
		return sessionModel
	}
	if _, ok := models[sessionModel]; ok && sessionModel != "" {
		return sessionModel
	}
	keys := make([]string, 0, len(models))
	for k := range models {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	best := keys[0]
	for _, k := range keys[1:] {
		if models[k].TotalTokens > models[best].TotalTokens {
			best = k
		}
	}
	return best
}

// resultError is the sentence a failed result stands for.
func (d *decoder) resultError(l *wireLine) string {
	msg := cleanError(l.Error.Message)
	if msg == "" {
		msg = d.lastError
	}
	if msg == "" {
		msg = "gemini reported an error"
		if t := engines.OneLine(l.Error.Type, 60); t != "" && t != "unknown" {
			msg += " (" + t + ")"
		}
	}
	return engines.Clip(msg, maxErrorLen)
}

// Finish implements engines.Decoder: when the stream ended without a result
// line it synthesizes a failed Completed. Such a run never counts as a
// success, whatever its exit code: the CLI writes a result on every normal
// end, and a killed run can still exit 0.
func (d *decoder) Finish(exit engines.Exit) []engines.Event {
	if d.done {
		return nil
	}
	d.done = true
	c := engines.Completed{
		Resume: d.session,
		Model:  d.model,
		Error:  engines.Clip(d.exitError(exit), maxErrorLen),
	}
	return []engines.Event{c}
}

// exitError is the sentence an early end stands for, most specific first.
func (d *decoder) exitError(exit engines.Exit) string {
	if reason, ok := engines.StopReason(name, exit); ok {
		return reason
	}
	if d.lastError != "" {
		return d.lastError
	}
	msg := fmt.Sprintf("gemini exited with code %d", exit.Code)
	if exit.Code == 0 {
		msg = "gemini was interrupted before it finished"
	}
	if tail := stderrTail(exit.StderrTail); tail != "" {
		msg += ": " + tail
	}
	return msg
}
