package codex

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

// errorActionID is the one warning action every top-level error event
// updates, as retries repeat them.
const errorActionID = "codex-error"

// wireLine is the union of the `codex exec --json` line shapes the decoder
// reads. Each line type fills only its own fields; the rest stay zero.
type wireLine struct {
	Type string `json:"type"`

	ThreadID string    `json:"thread_id"` // thread.started
	Message  string    `json:"message"`   // error
	Error    wireError `json:"error"`     // turn.failed
	Usage    wireUsage `json:"usage"`     // turn.completed
	Item     wireItem  `json:"item"`      // item.started, item.updated, item.completed

	// request_user_input
	CallID    string         `json:"call_id"`
	Questions []wireQuestion `json:"questions"`
}

type wireError struct {
	Message string `json:"message"`
}

// wireUsage holds the thread's cumulative token counts.
type wireUsage struct {
	InputTokens       int64 `json:"input_tokens"`
	CachedInputTokens int64 `json:"cached_input_tokens"`
	OutputTokens      int64 `json:"output_tokens"`
}

type wireQuestion struct {
	Header   string `json:"header"`
	Question string `json:"question"`
}

// wireItem is one thread item; its type says which fields are set.
type wireItem struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Status string `json:"status"`

	// agent_message, reasoning, plan
	Text string `json:"text"`
	// error
	Message string `json:"message"`
	// command_execution
	Command          string `json:"command"`
	AggregatedOutput string `json:"aggregated_output"`
	ExitCode         *int64 `json:"exit_code"`
	// file_change
	Changes []wireChange `json:"changes"`
	// mcp_tool_call; Tool is also the collab_tool_call's tool.
	Server string     `json:"server"`
	Tool   string     `json:"tool"`
	Error  *wireError `json:"error"`
	// collab_tool_call
	Prompt string `json:"prompt"`
	// web_search
	Query  string          `json:"query"`
	Action json.RawMessage `json:"action"`
	// todo_list
	Items []wireTodo `json:"items"`
}

type wireChange struct {
	Path string `json:"path"`
	Kind string `json:"kind"`
}

type wireTodo struct {
	Text      string `json:"text"`
	Completed bool   `json:"completed"`
}

// decoder holds what one run's stream has told so far.
type decoder struct {
	thread    string
	started   bool
	done      bool
	answer    string // text of the last agent_message: the final answer
	plan      string // text of the last plan item: the answer when no message came
	lastError string // message of the last top-level error event
	completed map[string]bool
	anon      int   // counter for items that arrive without an id
	draft     draft // the answer as it is written
}

func newDecoder() *decoder {
	return &decoder{completed: make(map[string]bool)}
}

// Decode implements engines.Decoder. Blank lines carry nothing and are not
// errors. A field of an unexpected JSON type is left zero rather than losing
// the whole line; a line that is not JSON, has no known type or carries an
// item of unknown type is an error. After the Completed event every further
// line yields no events.
func (d *decoder) Decode(line []byte) ([]engines.Event, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, nil
	}
	var l wireLine
	if err := engines.UnmarshalLenient(line, &l); err != nil {
		return nil, fmt.Errorf("decode codex line: %w", err)
	}
	var phase engines.Phase
	switch l.Type {
	case "turn.started", "item.plan.delta":
		// No payload worth showing: turn.started precedes every item, and
		// plan deltas are repeated in the plan item that follows.
		return nil, nil
	case "thread.started", "turn.completed", "turn.failed", "error", "request_user_input":
	case "item.started":
		phase = engines.PhaseStarted
	case "item.updated":
		phase = engines.PhaseUpdated
	case "item.completed":
		phase = engines.PhaseCompleted
	case "":
		return nil, errors.New("decode codex line: no type")
	default:
		return nil, fmt.Errorf("decode codex line: unknown type %q", engines.Clip(l.Type, 40))
	}
	if phase != "" && !knownItem(l.Item.Type) {
		if l.Item.Type == "" {
			return nil, fmt.Errorf("decode codex line: %s without an item type", l.Type)
		}
		return nil, fmt.Errorf("decode codex line: unknown item type %q", engines.Clip(l.Item.Type, 40))
	}
	if l.Type == "thread.started" && !engines.ValidID(l.ThreadID) {
		return nil, fmt.Errorf("decode codex line: thread.started with thread id %q", engines.Clip(l.ThreadID, 64))
	}
	if d.done {
		return nil, nil
	}
	switch l.Type {
	case "thread.started":
		return d.start(l.ThreadID), nil
	case "turn.completed":
		return []engines.Event{d.turnCompleted(l.Usage)}, nil
	case "turn.failed":
		return []engines.Event{d.turnFailed(l.Error.Message)}, nil
	case "error":
		return d.streamError(l.Message), nil
	case "request_user_input":
		return inputRequest(&l), nil
	}
	return d.item(&l.Item, phase), nil
}

// start handles thread.started: the first one starts the session. The
// stream never names the model, so Started carries none.
func (d *decoder) start(thread string) []engines.Event {
	if d.started {
		return nil
	}
	d.started = true
	d.thread = thread
	return []engines.Event{engines.Started{Engine: name, Resume: thread}}
}

// turnCompleted ends a successful run. Codex reports token counts only, and
// they are cumulative for the thread: a resumed run counts the earlier runs
// too.
func (d *decoder) turnCompleted(u wireUsage) engines.Completed {
	d.done = true
	answer := d.answer
	if strings.TrimSpace(answer) == "" {
		answer = d.plan
	}
	return engines.Completed{
		OK:     true,
		Answer: answer,
		Resume: d.thread,
		Usage: engines.Usage{
			InputTokens:  u.InputTokens,
			OutputTokens: u.OutputTokens,
			CachedTokens: u.CachedInputTokens,
		},
	}
}

// turnFailed ends a failed run with the failure's message, else the last
// error event's.
func (d *decoder) turnFailed(msg string) engines.Completed {
	d.done = true
	if strings.TrimSpace(msg) == "" {
		msg = d.lastError
	}
	text := humanError(msg)
	if text == "" {
		text = "codex reported an error"
	}
	return engines.Completed{Error: engines.Clip(text, maxErrorLen), Resume: d.thread}
}

// streamError handles a top-level error event. Codex prints one before
// turn.failed, but also for errors it recovers from, so it is a warning
// until the turn fails or the process ends without a turn.completed.
func (d *decoder) streamError(msg string) []engines.Event {
	text := humanError(msg)
	if text == "" {
		return nil
	}
	d.lastError = msg
	return []engines.Event{engines.Action{
		ID: errorActionID, Kind: engines.KindWarning, Title: engines.OneLine(text, maxTitleLen), Phase: engines.PhaseUpdated,
	}}
}

// inputRequest shows a question the model asked the user; nobody can answer
// it in a headless run, but it explains what the agent is waiting for.
func inputRequest(l *wireLine) []engines.Event {
	var asked []string
	for _, q := range l.Questions {
		if s := engines.OneLine(q.Question, maxTitleLen); s != "" {
			asked = append(asked, s)
		} else if s := engines.OneLine(q.Header, maxTitleLen); s != "" {
			asked = append(asked, s)
		}
	}
	id := l.CallID
	if id == "" {
		id = "codex-input"
	}
	return []engines.Event{engines.Action{
		ID: id, Kind: engines.KindNote, Title: engines.OneLine("codex asked: "+strings.Join(asked, " / "), maxTitleLen),
		Phase: engines.PhaseUpdated,
	}}
}

// Finish implements engines.Decoder: when the stream ended without
// turn.completed or turn.failed it synthesizes Completed from the exit
// status. A clean exit after an answer counts as success with that answer.
func (d *decoder) Finish(exit engines.Exit) []engines.Event {
	if d.done {
		return nil
	}
	d.done = true
	c := engines.Completed{Resume: d.thread}
	if exit.Code == 0 && strings.TrimSpace(exit.Cause) == "" && d.lastError == "" && strings.TrimSpace(d.answer) != "" {
		c.OK = true
		c.Answer = d.answer
		return []engines.Event{c}
	}
	c.Error = engines.Clip(d.exitError(exit), maxErrorLen)
	return []engines.Event{c}
}

// exitError is the sentence an early end stands for, most specific first.
func (d *decoder) exitError(exit engines.Exit) string {
	tail := engines.StderrTail(exit.StderrTail, maxStderrLines, maxStderrLen, stderrNoise)
	return engines.ExitError(name, exit, humanError(d.lastError), tail)
}
