package claude

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/untether-go/untether/engines"
)

// Claude Code's interactive mode: `claude -p --input-format stream-json
// --permission-prompt-tool stdio`. The prompt goes in as a user message on
// stdin; the output is the one-shot stream-json, plus control requests the
// CLI makes of its client:
//
//	← {"type":"control_request","request_id":"…","request":{"subtype":"can_use_tool",
//	     "tool_name":"Bash","input":{…},"permission_suggestions":[…]}}
//	→ {"type":"control_response","response":{"subtype":"success","request_id":"…",
//	     "response":{"behavior":"allow","updatedInput":{…}}}}   (or "deny" with a message)
//
// AskUserQuestion is answered by allowing it with the answers in its input;
// ExitPlanMode (plan mode) carries the plan in its input. The client's own
// requests (initialize, interrupt) have ids made of a counter, so that a
// replayed stream gives the same writes.

// interactiveFlags start the CLI in its interactive protocol.
var interactiveFlags = []string{
	"--input-format", "stream-json",
	"--output-format", "stream-json",
	"--verbose",
	"--include-partial-messages",
	"--permission-prompt-tool", "stdio",
}

// Session builds `claude -p --input-format stream-json … --permission-mode
// default|plan` and its Protocol; the prompt is written by Protocol.Open.
func (Engine) Session(req engines.Request, opts engines.SessionOptions) (engines.Invocation, engines.Protocol, error) {
	if err := engines.CheckRequest(name, req); err != nil {
		return engines.Invocation{}, nil, err
	}
	mode := "default"
	if opts.Plan {
		mode = "plan"
	}
	argv := append([]string{name, "-p"}, interactiveFlags...)
	argv = append(argv, "--permission-mode", mode)
	argv = append(argv, requestFlags(req)...)
	return engines.Invocation{Argv: argv, Env: headlessEnv()}, &protocol{dec: newDecoder(), prompt: req.Prompt, open: map[string]*pending{}}, nil
}

// Asks: Claude Code asks for permissions (with "always" rules), questions
// and plans.
func (Engine) Asks() engines.AskSupport {
	return engines.AskSupport{Permission: true, Question: true, Plan: true, Always: true}
}

var _ engines.Interactive = Engine{}

// protocol is one interactive run of claude.
type protocol struct {
	dec    *decoder
	prompt string
	ids    int // the client's request counter
	open   map[string]*pending
}

// pending is a can_use_tool request not answered yet.
type pending struct {
	tool        string
	input       json.RawMessage
	suggestions []json.RawMessage
	questions   []string // AskUserQuestion's question texts
}

func (p *protocol) nextID(kind string) string {
	p.ids++
	return "untether_" + kind + "_" + strconv.Itoa(p.ids)
}

// Open writes initialize and the prompt as a user message.
func (p *protocol) Open() ([]byte, error) {
	init := map[string]any{
		"type": "control_request", "request_id": p.nextID("init"),
		"request": map[string]any{"subtype": "initialize"},
	}
	user := map[string]any{
		"type": "user", "session_id": "", "parent_tool_use_id": nil,
		"message": map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": p.prompt}}},
	}
	return lines(init, user)
}

// controlLine is a control message of either direction.
type controlLine struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	Request   struct {
		Subtype     string            `json:"subtype"`
		ToolName    string            `json:"tool_name"`
		Input       json.RawMessage   `json:"input"`
		Suggestions []json.RawMessage `json:"permission_suggestions"`
		Description string            `json:"description"`
	} `json:"request"`
}

// Decode handles control messages and hands the rest to the stream-json
// decoder.
func (p *protocol) Decode(line []byte) ([]engines.Event, []byte, error) {
	var c controlLine
	if err := json.Unmarshal(line, &c); err != nil || (c.Type != "control_request" && c.Type != "control_response" && c.Type != "control_cancel_request") {
		evs, err := p.dec.Decode(line)
		return evs, nil, err
	}
	switch c.Type {
	case "control_response":
		return nil, nil, nil // the answer to initialize or interrupt
	case "control_cancel_request":
		if _, ok := p.open[c.RequestID]; ok {
			delete(p.open, c.RequestID)
			return []engines.Event{engines.Withdrawn{ID: c.RequestID}}, nil, nil
		}
		return nil, nil, nil
	}
	if c.Request.Subtype != "can_use_tool" {
		// Hooks, MCP messages: nothing the bridge offers.
		w, err := lines(controlError(c.RequestID, "untether does not serve "+c.Request.Subtype))
		return nil, w, err
	}
	if c.RequestID == "" {
		return nil, nil, errors.New("decode claude line: can_use_tool without a request_id")
	}
	pend := &pending{tool: c.Request.ToolName, input: c.Request.Input, suggestions: c.Request.Suggestions}
	ask := describeAsk(c.RequestID, c.Request.ToolName, engines.ObjectFields(c.Request.Input), p.dec.cwd, c.Request.Description)
	if ask.Kind == engines.AskQuestion {
		pend.questions = questionTexts(c.Request.Input)
	}
	ask.Always = ask.Kind == engines.AskPermission && len(c.Request.Suggestions) > 0
	p.open[c.RequestID] = pend
	return []engines.Event{ask}, nil, nil
}

// Answer encodes the reply as a control_response.
func (p *protocol) Answer(id string, r engines.Reply) ([]byte, error) {
	pend, ok := p.open[id]
	if !ok {
		return nil, fmt.Errorf("claude: no open request %q", id)
	}
	delete(p.open, id)
	var resp map[string]any
	switch {
	case pend.tool == "AskUserQuestion" && (r.Allow || r.Text != ""):
		in := map[string]any{}
		json.Unmarshal(pend.input, &in)
		answers := map[string]string{}
		for _, q := range pend.questions {
			answers[q] = r.Text
		}
		in["answers"] = answers
		resp = map[string]any{"behavior": "allow", "updatedInput": in}
	case r.Allow:
		input := pend.input
		if len(input) == 0 {
			input = json.RawMessage("{}")
		}
		resp = map[string]any{"behavior": "allow", "updatedInput": input}
		if r.Always && len(pend.suggestions) > 0 {
			resp["updatedPermissions"] = sessionRules(pend.suggestions)
		}
	default:
		msg := r.Text
		if msg == "" {
			msg = "The user denied this."
		}
		resp = map[string]any{"behavior": "deny", "message": msg}
		if r.Stop {
			resp["interrupt"] = true
		}
	}
	return lines(map[string]any{
		"type":     "control_response",
		"response": map[string]any{"subtype": "success", "request_id": id, "response": resp},
	})
}

// Interrupt asks the CLI to stop its turn.
func (p *protocol) Interrupt() []byte {
	b, _ := lines(map[string]any{
		"type": "control_request", "request_id": p.nextID("interrupt"),
		"request": map[string]any{"subtype": "interrupt"},
	})
	return b
}

// Finish synthesizes a Completed when the stream had none.
func (p *protocol) Finish(exit engines.Exit) []engines.Event { return p.dec.Finish(exit) }

// sessionRules turns the CLI's suggestions into rules for this session only:
// "always" in a chat must not write the project's settings files.
func sessionRules(suggestions []json.RawMessage) []any {
	var out []any
	for _, s := range suggestions {
		var m map[string]any
		if json.Unmarshal(s, &m) != nil {
			continue
		}
		m["destination"] = "session"
		out = append(out, m)
	}
	return out
}

func controlError(id, msg string) map[string]any {
	return map[string]any{
		"type":     "control_response",
		"response": map[string]any{"subtype": "error", "request_id": id, "error": msg},
	}
}

// describeAsk turns a can_use_tool request into an Ask.
func describeAsk(id, tool string, in map[string]json.RawMessage, cwd, description string) engines.Ask {
	str := func(key string) string { return engines.StringField(in, key) }
	a := engines.Ask{ID: id, Kind: engines.AskPermission, Tool: tool, Title: tool}
	switch tool {
	case "AskUserQuestion":
		a.Kind = engines.AskQuestion
		a.Title = "Question"
		var qs struct {
			Questions []struct {
				Question string `json:"question"`
				Header   string `json:"header"`
				Options  []struct {
					Label       string `json:"label"`
					Description string `json:"description"`
				} `json:"options"`
			} `json:"questions"`
		}
		raw, _ := json.Marshal(in)
		json.Unmarshal(raw, &qs)
		if len(qs.Questions) > 0 {
			q := qs.Questions[0]
			a.Question = q.Question
			if q.Header != "" {
				a.Title = q.Header
			}
			for _, o := range q.Options {
				a.Options = append(a.Options, engines.AskOption{ID: o.Label, Label: o.Label, Description: o.Description})
			}
			var more []string
			for _, q := range qs.Questions[1:] {
				more = append(more, q.Question)
			}
			if len(more) > 0 {
				a.Preview = "Also asked (your answer goes to all): " + strings.Join(more, " · ")
			}
		}
	case "ExitPlanMode":
		a.Kind = engines.AskPlan
		a.Title = "Plan"
		a.Preview = engines.PreviewText(str("plan"))
	case "Bash":
		a.Preview = engines.PreviewText(str("command"))
		if d := str("description"); d != "" {
			a.Title = "Bash: " + engines.OneLine(d, 80)
		}
	case "Edit", "MultiEdit":
		a.Title = tool + " " + engines.RelPath(str("file_path"), cwd)
		a.Preview = engines.PreviewEdit(str("old_string"), str("new_string"))
		if tool == "MultiEdit" {
			a.Preview = engines.PreviewText(string(in["edits"]))
		}
	case "Write":
		a.Title = "Write " + engines.RelPath(str("file_path"), cwd)
		a.Preview = engines.PreviewText(str("content"))
	case "NotebookEdit":
		a.Title = "NotebookEdit " + engines.RelPath(str("notebook_path"), cwd)
		a.Preview = engines.PreviewText(str("new_source"))
	default:
		act := describeTool(tool, in, cwd)
		a.Title = tool
		a.Preview = engines.PreviewText(act.Title)
		if description != "" && a.Preview == "" {
			a.Preview = engines.PreviewText(description)
		}
	}
	return a
}

// questionTexts lists AskUserQuestion's questions, which key its answers.
func questionTexts(input json.RawMessage) []string {
	var qs struct {
		Questions []struct {
			Question string `json:"question"`
		} `json:"questions"`
	}
	json.Unmarshal(input, &qs)
	var out []string
	for _, q := range qs.Questions {
		out = append(out, q.Question)
	}
	return out
}

// lines encodes each value as one JSON line.
func lines(vs ...any) ([]byte, error) {
	var b []byte
	for _, v := range vs {
		l, err := engines.JSONLine(v)
		if err != nil {
			return nil, err
		}
		b = append(b, l...)
	}
	return b, nil
}
