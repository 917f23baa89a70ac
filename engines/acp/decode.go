package acp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/untether-go/untether/engines"
)

// maxErrorLen bounds Completed.Error; maxStderrLines and maxStderrLen bound
// how much of stderr an error quotes.
const (
	maxErrorLen                  = 1000
	maxStderrLines, maxStderrLen = 3, 500
)

// resumeActionID and modelActionID are the warnings that the session
// could not be resumed, or the model not selected.
const (
	resumeActionID = "acp-resume"
	modelActionID  = "acp-model"
)

// Decode implements engines.Protocol. Blank lines carry nothing. A line
// that is not a JSON-RPC message is an error. After the turn's Completed,
// lines yield no events, but requests of the agent are still refused.
func (p *protocol) Decode(line []byte) ([]engines.Event, []byte, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, nil, nil
	}
	var m message
	if err := engines.UnmarshalLenient(line, &m); err != nil {
		return nil, nil, fmt.Errorf("decode %s acp line: %w", p.cfg.Engine, err)
	}
	hasID := len(m.ID) > 0 && !bytes.Equal(m.ID, []byte("null"))
	switch {
	case m.Method != "" && hasID:
		return p.agentRequest(&m)
	case m.Method != "":
		if m.Method == "session/update" && !p.done {
			evs, err := p.sessionUpdate(m.Params)
			return evs, nil, err
		}
		return nil, nil, nil
	case hasID && (m.Result != nil || m.Error != nil):
		return p.response(&m)
	}
	return nil, nil, fmt.Errorf("decode %s acp line: not a JSON-RPC message", p.cfg.Engine)
}

// response handles the agent's response to one of the client's requests.
func (p *protocol) response(m *message) ([]engines.Event, []byte, error) {
	id, err := strconv.ParseInt(string(m.ID), 10, 64)
	method, known := p.calls[id]
	if err != nil || !known {
		return nil, nil, fmt.Errorf("decode %s acp line: response to unknown request %s", p.cfg.Engine, engines.Clip(string(m.ID), 40))
	}
	delete(p.calls, id)
	if p.done {
		return nil, nil, nil
	}
	switch method {
	case "initialize":
		return p.initialized(m)
	case "session/new":
		return p.sessionReady(m, "")
	case "session/load":
		if m.Error != nil {
			warn := p.warning(fmt.Sprintf("could not resume session %s (%s); started a new session", p.cfg.Resume, rpcMessage(m.Error)))
			evs, w, err := p.newSession()
			return append([]engines.Event{warn}, evs...), w, err
		}
		return p.sessionReady(m, p.cfg.Resume)
	case "session/set_config_option", "session/set_model":
		return p.modelSet(m)
	case "session/prompt":
		return p.completed(m), nil, nil
	}
	return nil, nil, nil
}

// initialized starts or loads the session once the agent said whether it
// can load one.
func (p *protocol) initialized(m *message) ([]engines.Event, []byte, error) {
	if m.Error != nil {
		return p.fail("could not start: " + rpcMessage(m.Error)), nil, nil
	}
	var r initializeResult
	if err := engines.UnmarshalLenient(m.Result, &r); err != nil {
		return nil, nil, fmt.Errorf("decode %s acp initialize result: %w", p.cfg.Engine, err)
	}
	p.loadable = r.AgentCapabilities.LoadSession
	if p.cfg.Resume == "" {
		return p.newSession()
	}
	if !p.loadable {
		warn := p.warning(fmt.Sprintf("cannot resume session %s: %s does not load sessions over ACP; started a new session", p.cfg.Resume, p.cfg.Engine))
		evs, w, err := p.newSession()
		return append([]engines.Event{warn}, evs...), w, err
	}
	w, err := p.request("session/load", loadSessionParams{SessionID: p.cfg.Resume, Cwd: p.cfg.Cwd, McpServers: []any{}})
	return nil, w, err
}

func (p *protocol) newSession() ([]engines.Event, []byte, error) {
	w, err := p.request("session/new", newSessionParams{Cwd: p.cfg.Cwd, McpServers: []any{}})
	return nil, w, err
}

// sessionReady selects the model, when the run asks for one, or sends the
// prompt, once the session exists. id is the session loaded; a new
// session's id is in the result.
func (p *protocol) sessionReady(m *message, id string) ([]engines.Event, []byte, error) {
	if m.Error != nil {
		return p.fail("could not start a session: " + rpcMessage(m.Error)), nil, nil
	}
	var r sessionResult
	if err := engines.UnmarshalLenient(m.Result, &r); err != nil && !bytes.Equal(bytes.TrimSpace(m.Result), []byte("null")) {
		return nil, nil, fmt.Errorf("decode %s acp session result: %w", p.cfg.Engine, err)
	}
	if id == "" {
		id = r.SessionID
	}
	if !engines.ValidID(id) {
		return p.fail("started a session without a usable id"), nil, nil
	}
	p.session, p.model = id, r.model()
	if p.cfg.Model == "" || p.cfg.Model == p.model {
		return p.prompt(nil)
	}
	var w []byte
	var err error
	switch {
	case r.hasModelOption():
		w, err = p.request("session/set_config_option", setConfigOptionParams{SessionID: id, ConfigID: "model", Value: p.cfg.Model})
	case r.Models.CurrentModelID != "":
		w, err = p.request("session/set_model", setModelParams{SessionID: id, ModelID: p.cfg.Model})
	default:
		return p.prompt(p.modelWarning("the agent offers no choice of model"))
	}
	return nil, w, err
}

// modelSet sends the prompt once the model was selected, or not.
func (p *protocol) modelSet(m *message) ([]engines.Event, []byte, error) {
	if m.Error != nil {
		return p.prompt(p.modelWarning(rpcMessage(m.Error)))
	}
	p.model = p.cfg.Model
	return p.prompt(nil)
}

func (p *protocol) modelWarning(why string) []engines.Event {
	title := fmt.Sprintf("could not select model %s (%s); using %s", p.cfg.Model, why, engines.FirstNonBlank(p.model, "the default model"))
	return []engines.Event{engines.Action{ID: modelActionID, Kind: engines.KindWarning, Title: engines.OneLine(title, maxTitleLen), Phase: engines.PhaseCompleted}}
}

// prompt emits Started after evs and sends the turn's prompt.
func (p *protocol) prompt(evs []engines.Event) ([]engines.Event, []byte, error) {
	w, err := p.request("session/prompt", promptParams{SessionID: p.session, Prompt: []textContent{{Type: "text", Text: p.cfg.Prompt}}})
	if err != nil {
		return nil, nil, err
	}
	p.prompted, p.started = true, true
	return append(evs, engines.Started{Engine: p.cfg.Engine, Resume: p.session, Model: p.model}), w, nil
}

// completed ends the turn at the session/prompt response.
func (p *protocol) completed(m *message) []engines.Event {
	evs := p.withdrawAll()
	if m.Error != nil {
		return append(evs, p.complete(false, rpcMessage(m.Error)))
	}
	var r promptResult
	if err := engines.UnmarshalLenient(m.Result, &r); err != nil {
		return append(evs, p.complete(false, "sent an unreadable end of turn"))
	}
	p.usage.InputTokens = r.Usage.InputTokens
	p.usage.OutputTokens = r.Usage.OutputTokens + r.Usage.ThoughtTokens
	p.usage.CachedTokens = r.Usage.CachedReadTokens
	switch r.StopReason {
	case "end_turn":
		if p.answer.text() == "" {
			return append(evs, p.complete(false, "finished without an answer"))
		}
		return append(evs, p.complete(true, ""))
	case "cancelled":
		return append(evs, p.complete(false, "was cancelled"))
	case "max_tokens":
		return append(evs, p.complete(false, "stopped: the model's answer hit its output length limit"))
	case "max_turn_requests":
		return append(evs, p.complete(false, "stopped: the turn reached its limit of model requests"))
	case "refusal":
		return append(evs, p.complete(false, "stopped: the model refused"))
	}
	return append(evs, p.complete(false, "stopped ("+engines.OneLine(r.StopReason, 40)+")"))
}

// complete builds the one Completed event; failure is a phrase after the
// engine's name ("was cancelled").
func (p *protocol) complete(ok bool, failure string) engines.Completed {
	p.done = true
	c := engines.Completed{OK: ok, Resume: p.session, Model: p.model, Usage: p.usage, Answer: p.answer.text()}
	if !ok {
		c.Error = engines.Clip(p.cfg.Engine+" "+failure, maxErrorLen)
	}
	return c
}

// fail ends a run whose handshake failed.
func (p *protocol) fail(failure string) []engines.Event {
	return []engines.Event{p.complete(false, failure)}
}

func (p *protocol) warning(title string) engines.Action {
	return engines.Action{ID: resumeActionID, Kind: engines.KindWarning, Title: engines.OneLine(title, maxTitleLen), Phase: engines.PhaseCompleted}
}

func rpcMessage(e *rpcError) string {
	if msg := engines.OneLine(e.Message, maxErrorLen); msg != "" {
		return msg
	}
	return "error " + strconv.Itoa(e.Code)
}

// agentRequest answers the agent's requests: permission requests become
// Asks, anything else (fs/*, terminal/*) is refused.
func (p *protocol) agentRequest(m *message) ([]engines.Event, []byte, error) {
	if m.Method != "session/request_permission" || p.done {
		w, err := errorResponse(m.ID, codeMethodNotFound, "untether does not serve "+engines.Clip(m.Method, 80))
		return nil, w, err
	}
	var r permissionParams
	if err := engines.UnmarshalLenient(m.Params, &r); err != nil {
		return nil, nil, fmt.Errorf("decode %s acp permission request: %w", p.cfg.Engine, err)
	}
	id := requestID(m.ID)
	if _, seen := p.asks[id]; seen {
		return nil, nil, fmt.Errorf("decode %s acp permission request: repeated id %s", p.cfg.Engine, id)
	}
	p.asks[id] = &ask{rawID: m.ID, toolCall: r.ToolCall.ToolCallID, options: r.Options}
	p.askOrder = append(p.askOrder, id)
	return []engines.Event{p.newAsk(id, &r)}, nil, nil
}

// requestID is the JSON-RPC id as the Ask's id: a string's text, a number's
// digits.
func requestID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// closeAsks closes the requests about a tool call that has finished: the
// agent had its answer.
func (p *protocol) closeAsks(toolCall string) {
	for _, id := range p.askOrder {
		if a := p.asks[id]; a.toolCall == toolCall {
			a.closed = true
		}
	}
}

// withdrawAll withdraws every request still open when the turn ends.
func (p *protocol) withdrawAll() []engines.Event {
	var evs []engines.Event
	for _, id := range p.askOrder {
		if a := p.asks[id]; !a.closed {
			a.closed = true
			evs = append(evs, engines.Withdrawn{ID: id})
		}
	}
	return evs
}

// Finish implements engines.Protocol: a stream that ended before the
// turn's end withdraws its open requests and completes as a failure.
func (p *protocol) Finish(exit engines.Exit) []engines.Event {
	if p.done {
		return nil
	}
	evs := p.withdrawAll()
	p.done = true
	c := engines.Completed{Resume: p.session, Model: p.model, Usage: p.usage, Answer: p.answer.text()}
	tail := engines.StderrTail(exit.StderrTail, maxStderrLines, maxStderrLen, nil)
	failure := ""
	if exit.Code == 0 && strings.TrimSpace(exit.Cause) == "" {
		failure = p.cfg.Engine + " ended before its turn did"
		if tail != "" {
			failure += ": " + tail
		}
	}
	c.Error = engines.Clip(engines.ExitError(p.cfg.Engine, exit, failure, tail), maxErrorLen)
	return append(evs, c)
}
