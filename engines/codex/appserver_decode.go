package codex

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/untether-go/untether/engines"
)

// warningActionID is the one warning action app-server's warning
// notifications update.
const warningActionID = "codex-warning"

// errMethodNotFound is JSON-RPC's "method not found", the refusal of a
// server request the bridge does not serve.
const errMethodNotFound = -32601

// maxPreviewLines bounds the -/+ lines of a file change's preview.
const maxPreviewLines = 8

// rpcMessage is any JSON-RPC message app-server writes: a response (id and
// result or error), a request (id and method) or a notification (method).
type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

// appThread is the part of a thread/start or thread/resume result, and of
// thread/started, the protocol reads.
type appThread struct {
	Thread struct {
		ID    string `json:"id"`
		Model string `json:"model"`
	} `json:"thread"`
	Model string `json:"model"`
}

// appTurn is the part of turn/start's result, turn/started and
// turn/completed the protocol reads.
type appTurn struct {
	Turn struct {
		ID     string     `json:"id"`
		Status string     `json:"status"`
		Error  *wireError `json:"error"`
	} `json:"turn"`
}

// appItem is a ThreadItem of app-server; its type says which fields are set.
type appItem struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Status string `json:"status"`

	// agentMessage, plan
	Text string `json:"text"`
	// commandExecution
	Command          string  `json:"command"`
	AggregatedOutput *string `json:"aggregatedOutput"`
	ExitCode         *int64  `json:"exitCode"`
	// fileChange
	Changes []appChange `json:"changes"`
	// mcpToolCall; Tool is also the collabAgentToolCall's and the
	// dynamicToolCall's tool.
	Server    string     `json:"server"`
	Tool      string     `json:"tool"`
	Error     *wireError `json:"error"`
	Namespace string     `json:"namespace"`
	Success   *bool      `json:"success"`
	// collabAgentToolCall
	Prompt string `json:"prompt"`
	// webSearch
	Query  string          `json:"query"`
	Action json.RawMessage `json:"action"`
}

type appChange struct {
	Path string `json:"path"`
	Kind struct {
		Type string `json:"type"` // add, delete, update
	} `json:"kind"`
	Diff string `json:"diff"`
}

// Decode implements engines.Protocol. Responses to the client's requests
// start the session and send the prompt; server requests for approval
// become Asks, any other server request is refused at once with a JSON-RPC
// error so that codex never waits for it; notifications become actions
// and, at turn/completed, the Completed. Notifications the protocol does
// not read are ignored. A line that is not a JSON-RPC message, a response
// to an id the client never used, or an item of unknown type is an error.
// After the Completed, lines yield no events (refusals are still written).
func (p *protocol) Decode(line []byte) ([]engines.Event, []byte, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, nil, nil
	}
	var m rpcMessage
	if err := engines.UnmarshalLenient(line, &m); err != nil {
		return nil, nil, fmt.Errorf("decode codex app-server line: %w", err)
	}
	hasID := len(m.ID) > 0 && string(m.ID) != "null"
	switch {
	case m.Method != "" && hasID:
		return p.serverRequest(&m)
	case m.Method != "":
		evs, err := p.notification(&m)
		return evs, nil, err
	case hasID && (m.Result != nil || m.Error != nil):
		return p.response(&m)
	}
	return nil, nil, errors.New("decode codex app-server line: not a JSON-RPC message")
}

// response handles the answer to one of the client's requests.
func (p *protocol) response(m *rpcMessage) ([]engines.Event, []byte, error) {
	id, err := strconv.Atoi(string(m.ID))
	if err != nil || id < idInitialize {
		return nil, nil, fmt.Errorf("decode codex app-server line: response to unknown request %s", engines.Clip(string(m.ID), 40))
	}
	failed := ""
	if m.Error != nil {
		failed = engines.FirstNonBlank(m.Error.Message, fmt.Sprintf("error %d", m.Error.Code))
	}
	switch id {
	case idInitialize:
		if failed != "" {
			return p.fail("codex app-server refused to start: " + failed), nil, nil
		}
		return nil, nil, nil
	case idThread:
		return p.threadReady(m.Result, failed)
	case idTurn:
		if failed != "" {
			return p.fail("codex refused the prompt: " + failed), nil, nil
		}
		var r appTurn
		if err := engines.UnmarshalLenient(m.Result, &r); err != nil {
			return nil, nil, fmt.Errorf("decode codex turn/start result: %w", err)
		}
		if p.turn == "" {
			p.turn = r.Turn.ID
		}
		return nil, nil, nil
	}
	// turn/interrupt: codex reports the interruption in turn/completed.
	return nil, nil, nil
}

// threadReady handles the result of thread/start or thread/resume: the
// session starts, and the prompt goes out as turn/start.
func (p *protocol) threadReady(result json.RawMessage, failed string) ([]engines.Event, []byte, error) {
	if failed != "" {
		if p.req.Resume != "" {
			return p.fail(fmt.Sprintf("codex could not resume thread %s: %s", p.req.Resume, failed)), nil, nil
		}
		return p.fail("codex could not start a thread: " + failed), nil, nil
	}
	var r appThread
	if err := engines.UnmarshalLenient(result, &r); err != nil {
		return nil, nil, fmt.Errorf("decode codex thread result: %w", err)
	}
	if !engines.ValidID(r.Thread.ID) {
		return nil, nil, fmt.Errorf("decode codex thread result: thread id %q", engines.Clip(r.Thread.ID, 64))
	}
	evs := p.start(r.Thread.ID, engines.FirstNonBlank(r.Model, r.Thread.Model))
	if p.dec.done {
		return evs, nil, nil
	}
	write, err := p.turnStart(r.Thread.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("encode codex turn/start: %w", err)
	}
	return evs, write, nil
}

// start emits Started once; unlike `codex exec`, app-server names the model.
func (p *protocol) start(thread, model string) []engines.Event {
	if p.dec.started {
		return nil
	}
	p.dec.started, p.dec.thread = true, thread
	return []engines.Event{engines.Started{Engine: name, Resume: thread, Model: model}}
}

// fail ends the run with an error the chat shows.
func (p *protocol) fail(msg string) []engines.Event {
	if p.dec.done {
		return nil
	}
	evs := p.withdrawAll()
	p.dec.done = true
	return append(evs, engines.Completed{Error: engines.Clip(humanError(msg), maxErrorLen), Resume: p.dec.thread})
}

// notification handles a notification from app-server.
func (p *protocol) notification(m *rpcMessage) ([]engines.Event, error) {
	if p.dec.done {
		return nil, nil
	}
	switch m.Method {
	case "thread/started":
		var r appThread
		if err := engines.UnmarshalLenient(m.Params, &r); err != nil || !engines.ValidID(r.Thread.ID) {
			return nil, fmt.Errorf("decode codex thread/started: thread id %q (%v)", engines.Clip(r.Thread.ID, 64), err)
		}
		return p.start(r.Thread.ID, r.Thread.Model), nil
	case "turn/started":
		var r appTurn
		if err := engines.UnmarshalLenient(m.Params, &r); err != nil {
			return nil, fmt.Errorf("decode codex turn/started: %w", err)
		}
		if p.turn == "" {
			p.turn = r.Turn.ID
		}
		return nil, nil
	case "item/agentMessage/delta":
		var r struct {
			ItemID string `json:"itemId"`
			Delta  string `json:"delta"`
		}
		if err := engines.UnmarshalLenient(m.Params, &r); err != nil {
			return nil, fmt.Errorf("decode codex agent message delta: %w", err)
		}
		return p.dec.draft.delta(r.ItemID, r.Delta), nil
	case "item/started":
		return p.itemEvent(m.Params, engines.PhaseStarted)
	case "item/completed":
		return p.itemEvent(m.Params, engines.PhaseCompleted)
	case "thread/tokenUsage/updated":
		var r struct {
			TokenUsage struct {
				Total struct {
					InputTokens       int64 `json:"inputTokens"`
					CachedInputTokens int64 `json:"cachedInputTokens"`
					OutputTokens      int64 `json:"outputTokens"`
				} `json:"total"`
			} `json:"tokenUsage"`
		}
		if err := engines.UnmarshalLenient(m.Params, &r); err != nil {
			return nil, fmt.Errorf("decode codex token usage: %w", err)
		}
		t := r.TokenUsage.Total
		p.usage = usage{input: t.InputTokens, cached: t.CachedInputTokens, output: t.OutputTokens}
		return nil, nil
	case "turn/completed":
		return p.turnCompleted(m.Params)
	case "error":
		var r struct {
			Error wireError `json:"error"`
		}
		if err := engines.UnmarshalLenient(m.Params, &r); err != nil {
			return nil, fmt.Errorf("decode codex error notification: %w", err)
		}
		return p.dec.streamError(r.Error.Message), nil
	case "warning":
		var r struct {
			Message string `json:"message"`
		}
		if err := engines.UnmarshalLenient(m.Params, &r); err != nil || strings.TrimSpace(r.Message) == "" {
			return nil, err
		}
		return []engines.Event{engines.Action{ID: warningActionID, Kind: engines.KindWarning,
			Title: engines.OneLine(r.Message, maxTitleLen), Phase: engines.PhaseUpdated}}, nil
	case "serverRequest/resolved":
		return p.resolved(m.Params)
	}
	// configWarning (codex warns on every start that bubblewrap, which the
	// full-access sandbox does not use, is missing), status changes, and
	// the rest of app-server's many notifications say nothing a chat needs.
	return nil, nil
}

// turnCompleted ends the run with the turn's outcome. Token counts are the
// thread's, as `codex exec` reports them.
func (p *protocol) turnCompleted(params json.RawMessage) ([]engines.Event, error) {
	var r appTurn
	if err := engines.UnmarshalLenient(params, &r); err != nil {
		return nil, fmt.Errorf("decode codex turn/completed: %w", err)
	}
	if p.turn != "" && r.Turn.ID != "" && r.Turn.ID != p.turn {
		return nil, nil // another turn of the thread
	}
	evs := p.withdrawAll()
	switch r.Turn.Status {
	case "completed":
		u := wireUsage{InputTokens: p.usage.input, CachedInputTokens: p.usage.cached, OutputTokens: p.usage.output}
		return append(evs, p.dec.turnCompleted(u)), nil
	case "interrupted":
		p.dec.done = true
		return append(evs, engines.Completed{Error: "codex's turn was interrupted", Answer: p.dec.answer, Resume: p.dec.thread}), nil
	}
	msg := ""
	if r.Turn.Error != nil {
		msg = r.Turn.Error.Message
	}
	return append(evs, p.dec.turnFailed(msg)), nil
}

// resolved handles serverRequest/resolved: codex no longer waits for the
// request. After an answer it only confirms it; otherwise (the turn was
// interrupted, the request timed out) the Ask is withdrawn.
func (p *protocol) resolved(params json.RawMessage) ([]engines.Event, error) {
	var r struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if err := engines.UnmarshalLenient(params, &r); err != nil {
		return nil, fmt.Errorf("decode codex serverRequest/resolved: %w", err)
	}
	id, ok := requestKey(r.RequestID)
	if !ok {
		return nil, fmt.Errorf("decode codex serverRequest/resolved: request id %s", engines.Clip(string(r.RequestID), 40))
	}
	a, ok := p.asks[id]
	if !ok || a.closed {
		return nil, nil
	}
	a.closed = true
	return []engines.Event{engines.Withdrawn{ID: id}}, nil
}

// itemEvent handles item/started and item/completed.
func (p *protocol) itemEvent(params json.RawMessage, phase engines.Phase) ([]engines.Event, error) {
	var r struct {
		Item appItem `json:"item"`
	}
	if err := engines.UnmarshalLenient(params, &r); err != nil {
		return nil, fmt.Errorf("decode codex item: %w", err)
	}
	it, known := r.Item.wire()
	if !known {
		if r.Item.Type == "" {
			return nil, errors.New("decode codex item: no item type")
		}
		return nil, fmt.Errorf("decode codex item: unknown item type %q", engines.Clip(r.Item.Type, 40))
	}
	if r.Item.Type == "fileChange" && r.Item.ID != "" {
		// The approval request names the item only: its preview comes
		// from here.
		p.changes[r.Item.ID] = r.Item.Changes
	}
	if it.Type == "" {
		return nil, nil
	}
	return p.dec.item(&it, phase), nil
}

// wire translates an app-server item into the `codex exec` item the
// one-shot decoder describes, so both show the same actions. Items that
// are no step of the agent (the user's own message, context compaction)
// come back with an empty type; known reports whether the type is one of
// app-server's.
func (a *appItem) wire() (it wireItem, known bool) {
	it = wireItem{ID: a.ID, Status: wireStatus(a.Status)}
	switch a.Type {
	case "agentMessage":
		it.Type, it.Text = "agent_message", a.Text
	case "plan":
		it.Type, it.Text = "plan", a.Text
	case "reasoning":
		it.Type = "reasoning"
	case "commandExecution":
		it.Type, it.Command, it.ExitCode = "command_execution", a.Command, a.ExitCode
		if a.AggregatedOutput != nil {
			it.AggregatedOutput = *a.AggregatedOutput
		}
	case "fileChange":
		it.Type = "file_change"
		for _, c := range a.Changes {
			it.Changes = append(it.Changes, wireChange{Path: c.Path, Kind: c.Kind.Type})
		}
	case "mcpToolCall":
		it.Type, it.Server, it.Tool, it.Error = "mcp_tool_call", a.Server, a.Tool, a.Error
	case "dynamicToolCall":
		it.Type, it.Server, it.Tool = "mcp_tool_call", a.Namespace, a.Tool
		if a.Success != nil && !*a.Success {
			it.Error = &wireError{Message: "failed"}
		}
	case "collabAgentToolCall":
		it.Type, it.Tool, it.Prompt = "collab_tool_call", a.Tool, a.Prompt
	case "webSearch":
		it.Type, it.Query, it.Action = "web_search", a.Query, a.Action
	case "userMessage", "hookPrompt", "functionCallOutput", "subAgentActivity", "imageView", "sleep",
		"imageGeneration", "enteredReviewMode", "exitedReviewMode", "contextCompaction":
	default:
		return wireItem{}, false
	}
	return it, true
}

// wireStatus spells app-server's camelCase statuses as `codex exec` does.
func wireStatus(s string) string {
	if s == "inProgress" {
		return "in_progress"
	}
	return s
}

// requestKey is the Ask ID of a JSON-RPC request id: a number's digits or a
// string's text.
func requestKey(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, s != ""
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}
