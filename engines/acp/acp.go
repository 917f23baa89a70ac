// Package acp is the client side of the Agent Client Protocol (ACP), the
// JSON-RPC 2.0 protocol over stdio that `opencode acp` and `gemini --acp`
// speak, as an engines.Protocol: it encodes the handshake, the prompt, the
// answers to permission requests and the cancel of a turn, and decodes the
// agent's lines into Started, Action, Ask, Withdrawn and Completed events.
// The engine adapters that speak ACP (engines/opencode, engines/gemini)
// build it with NewProtocol.
//
// It is hand-written rather than built on github.com/coder/acp-go-sdk (the
// Go ACP library, v0.13.0 when this was written): the library's connection
// owns the reading and writing (goroutines over an io.Reader and an
// io.Writer, requests that block on a context), which a pure Protocol that
// a reattaching bridge replays line by line cannot use; and its schema
// types are generated unions whose UnmarshalJSON rejects a whole message
// when one field has an unexpected shape, where the adapters read the few
// fields they need leniently (engines.UnmarshalLenient). The part of the
// protocol a client without file system or terminal capabilities needs is
// a handful of messages, written here against the captured transcripts in
// engines/enginetest/captures/opencode.
//
// The client advertises no fs or terminal capability, so the agent reads,
// writes and runs commands itself, inside its container; any request the
// agent makes other than session/request_permission gets a JSON-RPC error.
//
// The package is pure: it never execs, touches the network or the file
// system. It imports only the standard library and the engines package; it
// must not import the orchestrator, a sandbox, an engine adapter or any
// third-party module.
package acp

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/untether-go/untether/engines"
)

// ProtocolVersion is the ACP version the client speaks.
const ProtocolVersion = 1

// DefaultCwd is the session's working directory when Config.Cwd is empty:
// where the sandbox mounts the project.
const DefaultCwd = "/workspace"

// Config is one interactive run.
type Config struct {
	// Engine names the agent in events and errors ("opencode").
	Engine string
	// Prompt is the user's text, sent as the turn's one text block.
	Prompt string
	// Resume is the session to load; empty starts a new session. An agent
	// that cannot load sessions gets a new one, with a warning.
	Resume string
	// Cwd is the session's working directory; DefaultCwd when empty.
	Cwd string
	// Model is selected through the session's "model" config option (or
	// the unstable session/set_model) before the prompt; empty keeps the
	// agent's default. An agent that cannot switch runs its own model, with
	// a warning. Agents that take the model as a flag leave it empty.
	Model string
}

// Option kinds of a permission request, as ACP names them.
const (
	kindAllowOnce    = "allow_once"
	kindAllowAlways  = "allow_always"
	kindRejectOnce   = "reject_once"
	kindRejectAlways = "reject_always"
)

// protocol is one run's ACP client. Its state changes only in Decode,
// Answer and Interrupt; what Decode returns depends on the lines alone, so
// decoding a run's output again from its first line gives the same events
// and writes.
type protocol struct {
	cfg    Config
	nextID int64
	calls  map[int64]string // method of each request in flight, by id

	session  string
	model    string
	loadable bool // the agent advertised loadSession
	prompted bool // session/prompt was written: updates belong to this turn
	started  bool
	done     bool

	answer    answer
	tools     map[string]engines.Action // last action emitted per tool call
	toolCalls map[string]*toolCall      // what is known of each tool call
	names     map[string]string         // tool name per tool call, see toolName
	anon      int
	plan      bool // a plan action was emitted
	usage     engines.Usage

	asks     map[string]*ask
	askOrder []string
}

// ask is a permission request of the agent.
type ask struct {
	rawID    json.RawMessage
	toolCall string
	options  []option
	// replied: Answer or Interrupt wrote the reply; a second one is refused.
	replied bool
	// closed: the stream shows the request is over (its tool ran or failed,
	// or the turn ended); Withdrawn was emitted unless the tool ran.
	closed bool
}

// NewProtocol returns the ACP client of one run.
func NewProtocol(cfg Config) engines.Protocol {
	if cfg.Cwd == "" {
		cfg.Cwd = DefaultCwd
	}
	if cfg.Engine == "" {
		cfg.Engine = "agent"
	}
	return &protocol{
		cfg:       cfg,
		calls:     map[int64]string{},
		tools:     map[string]engines.Action{},
		names:     map[string]string{},
		toolCalls: map[string]*toolCall{},
		asks:      map[string]*ask{},
	}
}

// Open writes initialize; Decode writes session/new or session/load once
// the agent has said what it can.
func (p *protocol) Open() ([]byte, error) {
	if p.nextID != 0 {
		return nil, fmt.Errorf("open %s acp session: already open", p.cfg.Engine)
	}
	return p.request("initialize", initializeParams{
		ProtocolVersion: ProtocolVersion,
		ClientCapabilities: clientCapabilities{
			FS: fsCapabilities{ReadTextFile: false, WriteTextFile: false},
		},
	})
}

// Answer replies to the permission request id with the option the reply
// picks: Reply.Option when set (it must be one of the request's), else the
// first option of the kind the reply means (allow_always for Always,
// allow_once for Allow, reject_once, else reject_always, for a denial).
// ACP carries no reason with a denial, so Reply.Text is not sent; a denial
// with Reply.Stop also cancels the turn.
func (p *protocol) Answer(id string, r engines.Reply) ([]byte, error) {
	a, ok := p.asks[id]
	switch {
	case !ok:
		return nil, fmt.Errorf("answer %s permission request %s: no such request", p.cfg.Engine, id)
	case a.replied:
		return nil, fmt.Errorf("answer %s permission request %s: already answered", p.cfg.Engine, id)
	case a.closed:
		return nil, fmt.Errorf("answer %s permission request %s: the agent no longer waits for it", p.cfg.Engine, id)
	}
	opt, err := pickOption(a.options, r)
	if err != nil {
		return nil, fmt.Errorf("answer %s permission request %s: %w", p.cfg.Engine, id, err)
	}
	out, err := response(a.rawID, permissionResult{Outcome: outcome{Outcome: "selected", OptionID: opt}})
	if err != nil {
		return nil, err
	}
	a.replied = true
	if !r.Allow && r.Stop {
		out = append(out, p.Interrupt()...)
	}
	return out, nil
}

// pickOption returns the id of the option r picks.
func pickOption(opts []option, r engines.Reply) (string, error) {
	if r.Option != "" {
		if slices.ContainsFunc(opts, func(o option) bool { return o.ID == r.Option }) {
			return r.Option, nil
		}
		return "", fmt.Errorf("option %q is not offered", r.Option)
	}
	var kinds []string
	switch {
	case r.Allow && r.Always:
		kinds = []string{kindAllowAlways}
	case r.Allow:
		kinds = []string{kindAllowOnce}
	default:
		kinds = []string{kindRejectOnce, kindRejectAlways}
	}
	for _, k := range kinds {
		if i := slices.IndexFunc(opts, func(o option) bool { return o.Kind == k }); i >= 0 {
			return opts[i].ID, nil
		}
	}
	return "", fmt.Errorf("no %s option is offered", kinds[0])
}

// Interrupt cancels the turn (session/cancel) and, as ACP requires,
// answers every permission request still waiting with the cancelled
// outcome; the stream then ends the turn with stopReason "cancelled", when
// Decode withdraws those requests. Nil before the session exists or after
// the turn ended.
func (p *protocol) Interrupt() []byte {
	if p.session == "" || p.done {
		return nil
	}
	out, err := notification("session/cancel", cancelParams{SessionID: p.session})
	if err != nil {
		return nil
	}
	for _, id := range p.askOrder {
		a := p.asks[id]
		if a.replied || a.closed {
			continue
		}
		b, err := response(a.rawID, permissionResult{Outcome: outcome{Outcome: "cancelled"}})
		if err != nil {
			continue
		}
		a.replied = true
		out = append(out, b...)
	}
	return out
}

// request encodes the next request and remembers its method for the
// response.
func (p *protocol) request(method string, params any) ([]byte, error) {
	id := p.nextID
	b, err := engines.JSONLine(rpcRequest{JSONRPC: "2.0", ID: &id, Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", p.cfg.Engine, method, err)
	}
	p.nextID++
	p.calls[id] = method
	return b, nil
}
