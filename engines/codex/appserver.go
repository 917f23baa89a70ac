package codex

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/untether-go/untether/engines"
)

// The interactive run speaks `codex app-server`: JSON-RPC 2.0 without the
// "jsonrpc" member, one message a line, over the process's stdin and
// stdout (engines/enginetest/captures/codex/appserver has real
// transcripts):
//
//	→ {"id":0,"method":"initialize","params":{"clientInfo":…,"capabilities":…}}
//	→ {"method":"initialized"}
//	→ {"id":1,"method":"thread/start","params":{"cwd":"/workspace",…}}   (or thread/resume)
//	← {"id":1,"result":{"thread":{"id":…},"model":…}}
//	→ {"id":2,"method":"turn/start","params":{"threadId":…,"input":[…]}}
//	← {"method":"item/started","params":{"item":{"type":"commandExecution",…}}}
//	← {"method":"item/commandExecution/requestApproval","id":0,"params":{…}}
//	→ {"id":0,"result":{"decision":"accept"}}
//	← {"method":"serverRequest/resolved","params":{"requestId":0}}
//	← {"method":"turn/completed","params":{"turn":{"status":"completed",…}}}
//
// The client's request ids are fixed (0, 1, 2, then 3… for interrupts), so
// the writes are the same when a stream is decoded again; the server's
// request ids come from the stream.

// Client request ids.
const (
	idInitialize = 0
	idThread     = 1
	idTurn       = 2
	idInterrupt0 = 3 // the first turn/interrupt; later ones count up
)

// workspace is where the sandbox mounts the project; the thread runs there.
const workspace = "/workspace"

// approvalPolicy "untrusted" makes codex ask before every command that is
// not on its short list of read-only ones (ls, cat, …) and before every
// file change, whatever the sandbox. "on-request" would ask only when the
// model asks for more than the sandbox allows, which with the full access
// below is never.
const approvalPolicy = "untrusted"

// sandboxMode "danger-full-access" turns Codex's own sandbox (bubblewrap)
// off: the container is the sandbox, and bubblewrap cannot make its
// namespaces in a container without capabilities. Approvals do not depend
// on it.
const sandboxMode = "danger-full-access"

// clientName and clientVersion identify the bridge in initialize; codex
// puts them in its User-Agent and in the thread's originator.
const (
	clientName    = "untether"
	clientTitle   = "Untether"
	clientVersion = "1"
)

// optOut are notifications the protocol ignores and asks codex not to
// send: the token-by-token deltas of messages, reasoning and command
// output would be most of the stream, and every item arrives whole in
// item/completed.
var optOut = []string{
	"item/agentMessage/delta",
	"item/reasoning/summaryTextDelta",
	"item/reasoning/summaryPartAdded",
	"item/reasoning/textDelta",
	"item/commandExecution/outputDelta",
	"item/fileChange/outputDelta",
	"item/plan/delta",
	"account/rateLimits/updated",
}

var _ engines.Interactive = Engine{}

// Asks says what codex app-server asks: permission for a command or a file
// change, which the user may give for the rest of the session
// ("acceptForSession"). Codex also has item/tool/requestUserInput, several
// questions in one request, but offers it to the model only in its plan
// collaboration mode, which the bridge does not start: Question and Plan
// are false, and such a request is refused (see Decode).
func (Engine) Asks() engines.AskSupport {
	return engines.AskSupport{Permission: true, Always: true}
}

// Session builds `codex app-server [extra]` and its Protocol. Extra args
// go to app-server, which takes the -c, --enable and --disable overrides
// of `codex exec`; the model goes to thread/start (app-server has no
// --model). A new thread starts in /workspace, a resumed one is loaded by
// id; codex cannot continue "the latest" thread over app-server, so
// Continue without Resume is an error. opts.Plan is ignored (AskSupport).
func (Engine) Session(req engines.Request, _ engines.SessionOptions) (engines.Invocation, engines.Protocol, error) {
	if err := engines.CheckRequest(name, req); err != nil {
		return engines.Invocation{}, nil, err
	}
	if req.Resume == "" && req.Continue {
		return engines.Invocation{}, nil, errors.New("build codex invocation: app-server cannot continue the latest thread; give its id")
	}
	argv := append([]string{name, "app-server"}, req.ExtraArgs...)
	return engines.Invocation{Argv: argv}, newProtocol(req), nil
}

// protocol is the engines.Protocol of one app-server run.
type protocol struct {
	req  engines.Request
	dec  *decoder // the one-shot decoder's state: answer, items, Completed
	turn string   // the turn id, once turn/start answered or turn/started came

	asks      map[string]*ask // every Ask made, by its ID
	changes   map[string][]appChange
	interrupt int   // turn/interrupt requests encoded so far
	usage     usage // the thread's latest cumulative token counts
}

// ask is a server request shown to the user.
type ask struct {
	raw    json.RawMessage // the request id as sent, echoed in the response
	closed bool            // answered or withdrawn
}

type usage struct {
	input, cached, output int64
}

func newProtocol(req engines.Request) *protocol {
	return &protocol{req: req, dec: newDecoder(), asks: map[string]*ask{}, changes: map[string][]appChange{}}
}

// Open implements engines.Protocol: initialize, initialized, and
// thread/start or thread/resume.
func (p *protocol) Open() ([]byte, error) {
	type clientInfo struct {
		Name    string `json:"name"`
		Title   string `json:"title"`
		Version string `json:"version"`
	}
	type capabilities struct {
		ExperimentalAPI    bool     `json:"experimentalApi"`
		RequestAttestation bool     `json:"requestAttestation"`
		OptOut             []string `json:"optOutNotificationMethods"`
	}
	init := request(idInitialize, "initialize", struct {
		ClientInfo   clientInfo   `json:"clientInfo"`
		Capabilities capabilities `json:"capabilities"`
	}{clientInfo{clientName, clientTitle, clientVersion}, capabilities{OptOut: optOut}})
	thread := struct {
		ThreadID       string `json:"threadId,omitempty"`
		Model          string `json:"model,omitempty"`
		Cwd            string `json:"cwd"`
		ApprovalPolicy string `json:"approvalPolicy"`
		Sandbox        string `json:"sandbox"`
		ExcludeTurns   bool   `json:"excludeTurns,omitempty"`
	}{Model: p.req.Model, Cwd: workspace, ApprovalPolicy: approvalPolicy, Sandbox: sandboxMode}
	method := "thread/start"
	if p.req.Resume != "" {
		// The resumed thread's earlier turns would only make the response
		// long: the run needs its id.
		method, thread.ThreadID, thread.ExcludeTurns = "thread/resume", p.req.Resume, true
	}
	var out []byte
	for _, m := range []any{init, notification{Method: "initialized"}, request(idThread, method, thread)} {
		b, err := engines.JSONLine(m)
		if err != nil {
			return nil, fmt.Errorf("encode codex %s: %w", method, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// turnStart is the write that sends the prompt once the thread is ready.
func (p *protocol) turnStart(thread string) ([]byte, error) {
	type input struct {
		Type         string    `json:"type"`
		Text         string    `json:"text,omitempty"`
		TextElements *[]string `json:"text_elements,omitempty"`
		Path         string    `json:"path,omitempty"`
	}
	in := []input{{Type: "text", Text: p.req.Prompt, TextElements: &[]string{}}}
	for _, img := range p.req.Images {
		in = append(in, input{Type: "localImage", Path: img})
	}
	return engines.JSONLine(request(idTurn, "turn/start", struct {
		ThreadID string  `json:"threadId"`
		Input    []input `json:"input"`
	}{thread, in}))
}

// Answer implements engines.Protocol. Codex's decisions: "accept",
// "acceptForSession" (Reply.Always), "decline" (the model reads that the
// user rejected the call and goes on) and "cancel" (Reply.Stop: declined,
// and the turn is interrupted). Codex takes no text with a decision, so
// Reply.Text is not sent.
func (p *protocol) Answer(id string, r engines.Reply) ([]byte, error) {
	a, ok := p.asks[id]
	switch {
	case !ok:
		return nil, fmt.Errorf("answer codex request %q: no such request", engines.Clip(id, 64))
	case a.closed:
		return nil, fmt.Errorf("answer codex request %q: already answered or withdrawn", engines.Clip(id, 64))
	}
	decision := "decline"
	switch {
	case r.Allow && r.Always:
		decision = "acceptForSession"
	case r.Allow:
		decision = "accept"
	case r.Stop:
		decision = "cancel"
	}
	b, err := engines.JSONLine(response{ID: a.raw, Result: map[string]string{"decision": decision}})
	if err != nil {
		return nil, fmt.Errorf("answer codex request %q: %w", id, err)
	}
	a.closed = true
	return b, nil
}

// Interrupt implements engines.Protocol: turn/interrupt of the running
// turn, after which codex ends it with turn/completed, status
// "interrupted". Before the turn has an id there is nothing to interrupt
// over the protocol: nil.
func (p *protocol) Interrupt() []byte {
	if p.turn == "" || p.dec.done {
		return nil
	}
	id := idInterrupt0 + p.interrupt
	p.interrupt++
	b, err := engines.JSONLine(request(id, "turn/interrupt", struct {
		ThreadID string `json:"threadId"`
		TurnID   string `json:"turnId"`
	}{p.dec.thread, p.turn}))
	if err != nil {
		return nil
	}
	return b
}

// Finish implements engines.Protocol: the asks still open are withdrawn,
// and a stream that ended without turn/completed gets its Completed as in
// the one-shot decoder.
func (p *protocol) Finish(exit engines.Exit) []engines.Event {
	evs := p.withdrawAll()
	return append(evs, p.dec.Finish(exit)...)
}

// withdrawAll withdraws every open ask, in the order of their ids.
func (p *protocol) withdrawAll() []engines.Event {
	var ids []string
	for id, a := range p.asks {
		if !a.closed {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, compareIDs)
	var evs []engines.Event
	for _, id := range ids {
		p.asks[id].closed = true
		evs = append(evs, engines.Withdrawn{ID: id})
	}
	return evs
}

// compareIDs orders numeric ids by value, then the rest as text.
func compareIDs(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return int(min(max(x-y, -1), 1))
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// The JSON-RPC messages the client writes. app-server neither sends nor
// needs the "jsonrpc":"2.0" member.
type (
	clientRequest struct {
		ID     int    `json:"id"`
		Method string `json:"method"`
		Params any    `json:"params"`
	}
	notification struct {
		Method string `json:"method"`
	}
	response struct {
		ID     json.RawMessage `json:"id"`
		Result any             `json:"result,omitempty"`
		Error  *rpcError       `json:"error,omitempty"`
	}
	rpcError struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
)

func request(id int, method string, params any) clientRequest {
	return clientRequest{ID: id, Method: method, Params: params}
}
