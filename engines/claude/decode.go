package claude

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

// syntheticModel marks assistant messages the CLI makes up itself, such as
// the text of an API error; they are never the model's answer.
const syntheticModel = "<synthetic>"

// maxErrorLen bounds Completed.Error: a chat shows a sentence, not a report.
const maxErrorLen = 1000

// maxStderrLines and maxStderrLen bound how much of stderr an error quotes.
const maxStderrLines, maxStderrLen = 3, 500

// ignoredType reports whether lines of type t carry nothing the bridge
// shows: progress pings and control traffic of the SDK protocol. (Raw SSE
// events, of --include-partial-messages, carry the answer as it is
// written: see partial.go.)
func ignoredType(t string) bool {
	switch t {
	case "tool_progress", "tool_use_summary", "auth_status",
		"rate_limit_event", "keep_alive",
		"control_request", "control_response", "control_cancel_request":
		return true
	}
	return false
}

// wireLine is the union of the stream-json line shapes the decoder reads.
// Each line type fills only its own fields; the rest stay zero.
type wireLine struct {
	Type      string `json:"type"`
	Subtype   string `json:"subtype"`
	SessionID string `json:"session_id"`

	// system/init
	CWD            string `json:"cwd"`
	Model          string `json:"model"`
	PermissionMode string `json:"permissionMode"`
	Version        string `json:"claude_code_version"`

	// system/api_retry; Error is also set on synthetic assistant errors.
	Attempt      int     `json:"attempt"`
	MaxRetries   int     `json:"max_retries"`
	RetryDelayMS float64 `json:"retry_delay_ms"`
	ErrorStatus  int     `json:"error_status"`
	Error        string  `json:"error"`

	// assistant, user; stream_event carries a raw SSE event in Event.
	Message           wireMessage `json:"message"`
	Event             wireSSE     `json:"event"`
	ParentToolUseID   string      `json:"parent_tool_use_id"`
	IsAPIErrorMessage bool        `json:"is_api_error_message"`

	// result
	IsError      bool                       `json:"is_error"`
	Result       string                     `json:"result"`
	Errors       []string                   `json:"errors"`
	NumTurns     int                        `json:"num_turns"`
	DurationMS   float64                    `json:"duration_ms"`
	TotalCostUSD float64                    `json:"total_cost_usd"`
	Usage        wireUsage                  `json:"usage"`
	ModelUsage   map[string]json.RawMessage `json:"modelUsage"`
}

// wireMessage is the Anthropic message inside assistant and user lines.
// Content is an array of blocks, or a plain string in echoed user prompts.
type wireMessage struct {
	ID      string          `json:"id"`
	Model   string          `json:"model"`
	Content json.RawMessage `json:"content"`
	Usage   *wireUsage      `json:"usage"`
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
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
}

// decoder holds what one run's stream has told so far.
type decoder struct {
	session  string
	model    string
	cwd      string
	started  bool
	done     bool
	lastText string // last top-level assistant text: the answer if no result comes
	apiError string // text of the last synthetic error message
	tools    *engines.Tools
	spend    spend
	text     textDraft // the answer as it is written
}

func newDecoder() *decoder {
	return &decoder{tools: engines.NewTools("claude")}
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
		return nil, fmt.Errorf("decode claude line: %w", err)
	}
	switch {
	case l.Type == "system", l.Type == "assistant", l.Type == "user", l.Type == "result", l.Type == "stream_event":
	case ignoredType(l.Type):
		return nil, nil
	case l.Type == "":
		return nil, errors.New("decode claude line: no type")
	default:
		return nil, fmt.Errorf("decode claude line: unknown type %q", engines.Clip(l.Type, 40))
	}
	if d.done {
		return nil, nil
	}
	if l.Type == "system" && l.Subtype == "init" {
		return d.start(&l), nil
	}
	evs := d.noteSession(l.SessionID)
	switch l.Type {
	case "system":
		if l.Subtype == "api_retry" {
			evs = append(evs, retryAction(&l))
		}
	case "assistant":
		evs = append(evs, d.assistant(&l)...)
	case "user":
		evs = append(evs, d.user(&l)...)
	case "stream_event":
		evs = append(evs, d.streamed(&l)...)
	case "result":
		evs = append(evs, d.result(&l))
	}
	return evs, nil
}

// start handles system/init: the first one starts the session, later ones
// (which a resumed or multi-prompt stream may repeat) are ignored.
func (d *decoder) start(l *wireLine) []engines.Event {
	if d.started {
		return nil
	}
	d.started = true
	if d.session == "" {
		d.session = l.SessionID
	}
	d.model, d.cwd = l.Model, l.CWD
	var meta map[string]string
	for k, v := range map[string]string{
		"cwd":             l.CWD,
		"version":         l.Version,
		"permission_mode": l.PermissionMode,
	} {
		if v == "" {
			continue
		}
		if meta == nil {
			meta = make(map[string]string)
		}
		meta[k] = v
	}
	return []engines.Event{engines.Started{Engine: name, Resume: d.session, Model: l.Model, Meta: meta}}
}

// noteSession records the session id carried by every line and emits
// Started from it when the init line was lost.
func (d *decoder) noteSession(id string) []engines.Event {
	if d.session == "" {
		d.session = id
	}
	if d.started || d.session == "" {
		return nil
	}
	d.started = true
	return []engines.Event{engines.Started{Engine: name, Resume: d.session, Model: d.model}}
}

// assistant handles one assistant line: tool calls become started actions,
// text is remembered as the fallback answer, thinking is dropped.
func (d *decoder) assistant(l *wireLine) []engines.Event {
	synthetic := l.Message.Model == syntheticModel || l.IsAPIErrorMessage
	var evs []engines.Event
	for _, b := range blocks(l.Message.Content) {
		switch b.Type {
		case "text":
			text := strings.TrimSpace(b.Text)
			switch {
			case text == "":
			case synthetic:
				d.apiError = text
			case l.ParentToolUseID == "":
				// A subagent's text is its report to the parent, not the answer.
				d.lastText = text
				if t, ok := d.text.block(l.Message.ID, text); ok {
					evs = append(evs, t)
				}
			}
		case "tool_use":
			if a, ok := d.toolStarted(b); ok {
				evs = append(evs, a)
			}
		}
	}
	if synthetic && d.apiError == "" && l.Error != "" {
		d.apiError = "API error: " + engines.OneLine(l.Error, 200)
	}
	if !synthetic {
		if u, ok := d.spend.note(l.Message, d.model); ok {
			evs = append(evs, u)
		}
	}
	return evs
}

// user handles one user line: each tool_result completes its action.
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

// blocks returns the content blocks of a message. A string content (an
// echoed prompt, or an older CLI) is one text block.
func blocks(raw json.RawMessage) []wireBlock {
	return engines.ContentBlocks(raw, func(s string) wireBlock { return wireBlock{Type: "text", Text: s} })
}

// retryAction reports a retried API error as a warning; every retry updates
// the same action.
func retryAction(l *wireLine) engines.Action {
	title := "API error"
	if l.ErrorStatus != 0 {
		title += fmt.Sprintf(" %d", l.ErrorStatus)
	}
	if l.Error != "" {
		title += " (" + engines.OneLine(l.Error, 60) + ")"
	}
	if l.Attempt > 0 {
		title += fmt.Sprintf(", retry %d", l.Attempt)
		if l.MaxRetries > 0 {
			title += fmt.Sprintf("/%d", l.MaxRetries)
		}
	}
	a := engines.Action{ID: "api-retry", Kind: engines.KindWarning, Title: title, Phase: engines.PhaseUpdated}
	if l.RetryDelayMS > 0 {
		delay := time.Duration(l.RetryDelayMS * float64(time.Millisecond))
		a.Detail = "retrying in " + delay.Round(100*time.Millisecond).String()
	}
	return a
}

// result turns the final result line into Completed.
func (d *decoder) result(l *wireLine) engines.Completed {
	d.done = true
	if l.SessionID != "" {
		d.session = l.SessionID
	}
	c := engines.Completed{
		OK:     l.Subtype == "success" && !l.IsError,
		Resume: d.session,
		Model:  resultModel(l.ModelUsage, d.model),
		Usage: engines.Usage{
			InputTokens:  l.Usage.InputTokens,
			OutputTokens: l.Usage.OutputTokens,
			CachedTokens: l.Usage.CacheReadInputTokens,
			CostUSD:      l.TotalCostUSD,
			Turns:        l.NumTurns,
			Duration:     time.Duration(l.DurationMS * float64(time.Millisecond)),
		},
	}
	if c.OK {
		c.Answer = l.Result
		if strings.TrimSpace(c.Answer) == "" {
			c.Answer = d.lastText
		}
		return c
	}
	c.Error = d.resultError(l)
	return c
}

// resultModel names the model that did the work: the only key of modelUsage,
// else the session's model when it is among several keys, else the first
// key in sorted order, else the session's model.
func resultModel(usage map[string]json.RawMessage, sessionModel string) string {
	if len(usage) == 0 {
		return sessionModel
	}
	if _, ok := usage[sessionModel]; ok && sessionModel != "" {
		return sessionModel
	}
	keys := make([]string, 0, len(usage))
	for k := range usage {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys[0]
}

// resultError is the sentence a failed result stands for.
func (d *decoder) resultError(l *wireLine) string {
	msg := strings.TrimSpace(l.Result)
	if msg == "" {
		msg = d.apiError
	}
	if msg == "" {
		var errs []string
		for _, e := range l.Errors {
			if e = strings.TrimSpace(e); e != "" {
				errs = append(errs, e)
			}
		}
		msg = strings.Join(errs, "; ")
	}
	if msg == "" {
		msg = subtypeError(l.Subtype)
	}
	return engines.Clip(msg, maxErrorLen)
}

// subtypeError describes a result subtype that came without any text.
func subtypeError(subtype string) string {
	switch subtype {
	case "error_max_turns":
		return "claude stopped at its turn limit (error_max_turns)"
	case "error_max_budget_usd":
		return "claude stopped at its budget limit (error_max_budget_usd)"
	case "error_during_execution":
		return "claude failed during execution (error_during_execution)"
	case "", "success":
		return "claude reported an error"
	}
	return "claude failed (" + engines.OneLine(subtype, 60) + ")"
}

// Finish implements engines.Decoder: when the stream ended without a result
// line it synthesizes Completed from the exit status. A clean exit after a
// final text counts as success with that text as the answer.
func (d *decoder) Finish(exit engines.Exit) []engines.Event {
	if d.done {
		return nil
	}
	d.done = true
	c := engines.Completed{Resume: d.session, Model: d.model}
	if exit.Code == 0 && strings.TrimSpace(exit.Cause) == "" && d.apiError == "" && d.lastText != "" {
		c.OK = true
		c.Answer = d.lastText
		return []engines.Event{c}
	}
	c.Error = engines.Clip(d.exitError(exit), maxErrorLen)
	return []engines.Event{c}
}

// exitError is the sentence an early end stands for, most specific first.
func (d *decoder) exitError(exit engines.Exit) string {
	tail := engines.StderrTail(exit.StderrTail, maxStderrLines, maxStderrLen, nil)
	return engines.ExitError(name, exit, d.apiError, tail)
}
