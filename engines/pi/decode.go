package pi

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

// IDs of the actions that stand for the session's own work rather than a
// tool call.
const (
	retryID      = "api-retry"
	compactionID = "compaction"
)

// ignoredType reports whether lines of type t carry nothing the bridge
// shows: lifecycle markers, partial tool output and session bookkeeping.
// (Streaming deltas, message_update, carry the answer as it is written:
// see draft.go.)
func ignoredType(t string) bool {
	switch t {
	case "agent_start", "turn_start", "turn_end",
		"tool_execution_update", "queue_update", "session_info_changed",
		"thinking_level_changed", "model_changed", "agent_settled":
		return true
	}
	return false
}

// wireLine is the union of the event shapes `pi --mode json` prints. Each
// type fills only its own fields; the rest stay zero. Large objects are kept
// raw and decoded only for the types that need them.
type wireLine struct {
	Type string `json:"type"`

	// session
	ID  string `json:"id"`
	CWD string `json:"cwd"`

	// message_start, message_end
	Message json.RawMessage `json:"message"`
	// message_update
	Update wireUpdate `json:"assistantMessageEvent"`

	// tool_execution_start, tool_execution_end
	ToolCallID string          `json:"toolCallId"`
	ToolName   string          `json:"toolName"`
	Args       json.RawMessage `json:"args"`
	Result     json.RawMessage `json:"result"`
	IsError    bool            `json:"isError"`

	// auto_retry_start, auto_retry_end
	Attempt      int     `json:"attempt"`
	MaxAttempts  int     `json:"maxAttempts"`
	DelayMS      float64 `json:"delayMs"`
	ErrorMessage string  `json:"errorMessage"`
	Success      bool    `json:"success"`
	FinalError   string  `json:"finalError"`

	// agent_end (newer CLIs), compaction_start, compaction_end
	WillRetry *bool  `json:"willRetry"`
	Reason    string `json:"reason"`
	Aborted   bool   `json:"aborted"`
}

// wireMessage is an agent message; only assistant messages matter here.
type wireMessage struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	Provider     string          `json:"provider"`
	Model        string          `json:"model"`
	StopReason   string          `json:"stopReason"`
	ErrorMessage string          `json:"errorMessage"`
	Usage        struct {
		Input     int64 `json:"input"`
		Output    int64 `json:"output"`
		CacheRead int64 `json:"cacheRead"`
		Cost      struct {
			Total float64 `json:"total"`
		} `json:"cost"`
	} `json:"usage"`
}

// wireBlock is one content block: text, thinking, toolCall or image.
type wireBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// decoder holds what one run's stream has told so far.
type decoder struct {
	session  string
	cwd      string
	model    string // "provider/model" of the last assistant message
	started  bool
	done     bool
	stop     string // stopReason of the last assistant message
	answer   string // text of the last assistant message
	lastText string // last non-empty assistant text: the answer if the last message has none
	failure  string // sentence for the last failed request, or for retries given up
	retry    string // title of the retry warning, kept for its completion
	usage    engines.Usage
	actions  map[string]engines.Action
	anon     int    // counter for tool events that arrive without an id
	lastRole string // role of the last message that ended
	draft    draft  // the answer as it is written
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
		return nil, fmt.Errorf("decode pi line: %w", err)
	}
	switch l.Type {
	case "session", "message_start", "message_update", "message_end", "tool_execution_start", "tool_execution_end",
		"auto_retry_start", "auto_retry_end", "compaction_start", "auto_compaction_start",
		"compaction_end", "auto_compaction_end", "agent_end":
	case "":
		return nil, errors.New("decode pi line: no type")
	default:
		if ignoredType(l.Type) {
			return nil, nil
		}
		return nil, fmt.Errorf("decode pi line: unknown type %q", engines.Clip(l.Type, 40))
	}
	if d.done {
		return nil, nil
	}
	switch l.Type {
	case "session":
		return d.start(&l), nil
	case "message_start":
		d.noteModel(l.Message)
	case "message_update":
		return d.draft.update(&l.Update), nil
	case "message_end":
		reported := d.message(l.Message)
		var evs []engines.Event
		if d.lastRole == "assistant" {
			evs = append(evs, d.draft.whole(d.answer)...)
		}
		if reported {
			evs = append(evs, engines.UsageUpdate{Model: d.model, Usage: d.usage})
		}
		if len(evs) > 0 {
			return evs, nil
		}
	case "tool_execution_start":
		if a, ok := d.toolStarted(&l); ok {
			return []engines.Event{a}, nil
		}
	case "tool_execution_end":
		if a, ok := d.toolCompleted(&l); ok {
			return []engines.Event{a}, nil
		}
	case "auto_retry_start":
		return []engines.Event{d.retryStarted(&l)}, nil
	case "auto_retry_end":
		return d.retryEnded(&l), nil
	case "compaction_start", "auto_compaction_start":
		return []engines.Event{compactionStarted(&l)}, nil
	case "compaction_end", "auto_compaction_end":
		return []engines.Event{compactionEnded(&l)}, nil
	case "agent_end":
		return d.agentEnd(&l), nil
	}
	return nil, nil
}

// start handles the session header, the first line of a json-mode run: the
// first one starts the session, later ones are ignored.
func (d *decoder) start(l *wireLine) []engines.Event {
	if d.started || l.ID == "" {
		return nil
	}
	d.started = true
	d.session, d.cwd = l.ID, l.CWD
	var meta map[string]string
	if l.CWD != "" {
		meta = map[string]string{"cwd": l.CWD}
	}
	return []engines.Event{engines.Started{Engine: name, Resume: d.session, Meta: meta}}
}

// noteModel records the model of an assistant message as it starts, so a
// run interrupted mid-answer still names its model.
func (d *decoder) noteModel(raw json.RawMessage) {
	var m wireMessage
	if engines.UnmarshalLenient(raw, &m) == nil && m.Role == "assistant" {
		d.setModel(&m)
		d.draft.reset()
	}
}

func (d *decoder) setModel(m *wireMessage) {
	if m.Model == "" {
		return
	}
	d.model = m.Model
	if m.Provider != "" {
		d.model = m.Provider + "/" + m.Model
	}
}

// message handles a finished message. An assistant message is one model
// request: it adds to the usage, and its stop reason and text decide how
// the run ends if it is the last one. It reports whether the message
// spent tokens (or money).
func (d *decoder) message(raw json.RawMessage) bool {
	var m wireMessage
	d.lastRole = ""
	if engines.UnmarshalLenient(raw, &m) != nil || m.Role != "assistant" {
		return false
	}
	d.lastRole = m.Role
	d.usage.InputTokens += m.Usage.Input
	d.usage.OutputTokens += m.Usage.Output
	d.usage.CachedTokens += m.Usage.CacheRead
	d.usage.CostUSD += m.Usage.Cost.Total
	d.setModel(&m)
	d.stop = m.StopReason
	d.answer = messageText(m.Content)
	if d.answer != "" {
		d.lastText = d.answer
	}
	switch m.StopReason {
	case "error":
		d.failure = apiError(m.ErrorMessage)
	case "aborted":
		d.failure = "pi aborted the request"
		if msg := strings.TrimSpace(m.ErrorMessage); msg != "" {
			d.failure = engines.Clip(msg, maxErrorLen)
		}
	default:
		d.usage.Turns++
		d.failure = ""
	}
	return m.Usage.Input+m.Usage.Output+m.Usage.CacheRead > 0 || m.Usage.Cost.Total > 0
}

// messageText joins the text blocks of a message's content, the way pi
// prints an answer in text mode; thinking and tool calls are left out.
func messageText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return ""
	}
	var blocks []wireBlock
	if engines.UnmarshalLenient(raw, &blocks) != nil {
		return ""
	}
	var parts []string
	for _, b := range blocks {
		if b.Type == "text" && strings.TrimSpace(b.Text) != "" {
			parts = append(parts, b.Text)
		}
	}
	return strings.TrimSpace(strings.Join(parts, "\n"))
}

// apiError is the sentence for a failed model request; pi's message is the
// provider's status and text, such as "401 invalid x-api-key".
func apiError(msg string) string {
	msg = strings.TrimSpace(msg)
	switch {
	case msg == "":
		return "pi's model request failed"
	case strings.HasPrefix(strings.ToLower(msg), "api error"):
		return engines.Clip(msg, maxErrorLen)
	}
	return engines.Clip("API error: "+msg, maxErrorLen)
}

// retryStarted reports an API error pi retries as a warning; every retry
// updates the same action.
func (d *decoder) retryStarted(l *wireLine) engines.Action {
	title := "API error"
	if msg := engines.OneLine(l.ErrorMessage, 60); msg != "" {
		title += " (" + msg + ")"
	}
	if l.Attempt > 0 {
		title += fmt.Sprintf(", retry %d", l.Attempt)
		if l.MaxAttempts > 0 {
			title += fmt.Sprintf("/%d", l.MaxAttempts)
		}
	}
	d.retry = title
	a := engines.Action{ID: retryID, Kind: engines.KindWarning, Title: title, Phase: engines.PhaseUpdated}
	if l.DelayMS > 0 {
		delay := time.Duration(l.DelayMS * float64(time.Millisecond))
		a.Detail = "retrying in " + delay.Round(100*time.Millisecond).String()
	}
	return a
}

// retryEnded closes the retry warning. Retries that gave up end the run:
// pi stops there and exits 0.
func (d *decoder) retryEnded(l *wireLine) []engines.Event {
	title := d.retry
	if title == "" {
		title = "API error"
	}
	a := engines.Action{ID: retryID, Kind: engines.KindWarning, Title: title, Phase: engines.PhaseCompleted, OK: l.Success}
	if l.Success {
		a.Detail = "recovered"
		return []engines.Event{a}
	}
	if msg := strings.TrimSpace(l.FinalError); msg != "" {
		d.failure = apiError(msg)
	}
	if d.failure == "" {
		d.failure = "pi gave up retrying the model request"
	}
	a.Detail = "gave up"
	return []engines.Event{a, d.fail()}
}

// compactionStarted reports pi summarizing the conversation to fit the
// model's context, which can take a while.
func compactionStarted(l *wireLine) engines.Action {
	a := engines.Action{ID: compactionID, Kind: engines.KindNote, Title: "compacting the context", Phase: engines.PhaseStarted}
	if l.Reason != "" {
		a.Detail = engines.OneLine(l.Reason, 60)
	}
	return a
}

func compactionEnded(l *wireLine) engines.Action {
	a := engines.Action{ID: compactionID, Kind: engines.KindNote, Title: "compacting the context", Phase: engines.PhaseCompleted}
	a.OK = !l.Aborted && strings.TrimSpace(l.ErrorMessage) == ""
	switch {
	case l.ErrorMessage != "":
		a.Detail = engines.OneLine(l.ErrorMessage, 300)
	case l.Aborted:
		a.Detail = "aborted"
	}
	return a
}

// agentEnd handles the end of one agent run. A run whose last request
// stopped normally is the answer. A failed request may still be retried
// (pi announces that with auto_retry_start after agent_end), so it ends the
// run only when the line says no retry follows; otherwise auto_retry_end
// or the end of the stream does.
func (d *decoder) agentEnd(l *wireLine) []engines.Event {
	if l.WillRetry != nil && *l.WillRetry {
		return nil
	}
	switch {
	case d.stop == "stop", d.stop == "length":
		return []engines.Event{d.succeed()}
	case d.stop == "aborted", d.stop == "error" && l.WillRetry != nil:
		return []engines.Event{d.fail()}
	}
	return nil
}

// completion is the Completed event with what every ending shares.
func (d *decoder) completion() engines.Completed {
	d.done = true
	return engines.Completed{Resume: d.session, Model: d.model, Usage: d.usage}
}

func (d *decoder) succeed() engines.Completed {
	c := d.completion()
	c.OK, c.Answer = true, d.answer
	if c.Answer == "" {
		c.Answer = d.lastText
	}
	return c
}

func (d *decoder) fail() engines.Completed {
	c := d.completion()
	c.Error = d.failure
	if c.Error == "" {
		c.Error = "pi reported an error"
	}
	return c
}

// Finish implements engines.Decoder: when the stream ended without the run
// completing it synthesizes Completed from the exit status. A clean exit
// after a normally stopped answer counts as success.
func (d *decoder) Finish(exit engines.Exit) []engines.Event {
	if d.done {
		return nil
	}
	if exit.Code == 0 && strings.TrimSpace(exit.Cause) == "" && (d.stop == "stop" || d.stop == "length") {
		return []engines.Event{d.succeed()}
	}
	c := d.completion()
	c.Error = engines.Clip(d.exitError(exit), maxErrorLen)
	return []engines.Event{c}
}

// exitError is the sentence an early end stands for, most specific first.
// pi exits 0 after a failed request in json mode, so the request's error
// comes before the exit code.
func (d *decoder) exitError(exit engines.Exit) string {
	tail := engines.StderrTail(exit.StderrTail, maxStderrLines, maxStderrLen, nil)
	return engines.ExitError(name, exit, d.failure, tail)
}
