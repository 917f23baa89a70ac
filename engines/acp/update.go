package acp

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/untether-go/untether/engines"
)

// maxTitleLen and maxDetailLen bound what an action shows in a progress
// message; maxPreviewLen bounds a one-line preview of an Ask (longer ones
// are bounded by engines.PreviewText).
const (
	maxTitleLen   = 200
	maxDetailLen  = 300
	maxPreviewLen = 1000
)

// planActionID is the one action that shows the agent's plan.
const planActionID = "acp-plan"

// answer gathers the agent's message chunks. The answer is the text of the
// turn's last message: a message is what shares a messageId, or, for
// agents that send none, the text between two tool calls.
type answer struct {
	msgID   string
	current strings.Builder
	last    string // the previous message with text
	cut     bool   // a tool call came since current's text
	shown   string // the text of the last Text event
}

func (a *answer) add(msgID, text string) {
	if a.cut || msgID != a.msgID && a.current.Len() > 0 {
		if t := strings.TrimSpace(a.current.String()); t != "" {
			a.last = t
		}
		a.current.Reset()
	}
	a.cut = false
	a.msgID = msgID
	a.current.WriteString(text)
}

// toolCall marks the end of a message for agents without message ids.
func (a *answer) toolCall() { a.cut = a.current.Len() > 0 }

// draft is the message being written as a Text event: nil when it is
// blank or unchanged since the last one.
func (a *answer) draft() []engines.Event {
	t := strings.TrimSpace(a.current.String())
	if t == "" || t == a.shown {
		return nil
	}
	a.shown = t
	return []engines.Event{engines.Text{Text: t}}
}

func (a *answer) text() string {
	if t := strings.TrimSpace(a.current.String()); t != "" {
		return t
	}
	return a.last
}

// sessionUpdate decodes one session/update notification. Updates before
// the prompt was sent (the history session/load replays) are not this
// turn's and yield nothing.
func (p *protocol) sessionUpdate(params json.RawMessage) ([]engines.Event, error) {
	var n sessionNotification
	if err := engines.UnmarshalLenient(params, &n); err != nil {
		return nil, fmt.Errorf("decode %s acp session update: %w", p.cfg.Engine, err)
	}
	if !p.prompted {
		return nil, nil
	}
	u := &n.Update
	switch u.SessionUpdate {
	case "agent_message_chunk":
		var c textContent
		if engines.UnmarshalLenient(u.Content, &c) == nil && c.Type == "text" {
			p.answer.add(u.MessageID, c.Text)
			return p.answer.draft(), nil
		}
	case "tool_call", "tool_call_update":
		tc := u.toolCall
		tc.Contents = u.Content
		if a, ok := p.tool(&tc); ok {
			return []engines.Event{a}, nil
		}
	case "plan":
		return []engines.Event{p.planAction(u.Entries)}, nil
	case "usage_update":
		if u.Cost != nil && strings.EqualFold(u.Cost.Currency, "USD") {
			p.usage.CostUSD = u.Cost.Amount
		}
	}
	return nil, nil
}

// tool turns a tool call or its update into an action: started when first
// seen, updated when what it shows changes, completed once. An update
// carries only the fields that changed, so it is merged into the call.
func (p *protocol) tool(u *toolCall) (engines.Action, bool) {
	p.answer.toolCall()
	id := u.ToolCallID
	if id == "" {
		p.anon++
		id = fmt.Sprintf("%s-tool-%d", p.cfg.Engine, p.anon)
	}
	prev, seen := p.tools[id]
	if seen && prev.Phase == engines.PhaseCompleted {
		return engines.Action{}, false
	}
	tc := p.merge(id, u)
	a := describe(tc, p.cfg.Cwd)
	if a.Title == "" {
		a.Title = "tool"
	}
	a.ID = id
	switch {
	case tc.Status == "completed" || tc.Status == "failed":
		a.Phase, a.OK = engines.PhaseCompleted, tc.Status == "completed"
		if !a.OK {
			a.Detail = engines.FirstLine(toolOutput(u), maxDetailLen)
		}
		p.closeAsks(id)
	case !seen:
		a.Phase = engines.PhaseStarted
	case a.Kind == prev.Kind && a.Title == prev.Title && a.Detail == prev.Detail:
		return engines.Action{}, false
	default:
		a.Phase = engines.PhaseUpdated
	}
	p.tools[id] = a
	return a, true
}

// merge folds an update into what is known of tool call id: the fields it
// sets replace the known ones. The first title a call gets is kept as its
// name when it is one word (see toolName).
func (p *protocol) merge(id string, u *toolCall) *toolCall {
	tc, ok := p.toolCalls[id]
	if !ok {
		tc = &toolCall{ToolCallID: id}
		p.toolCalls[id] = tc
		if !strings.ContainsAny(u.Title, " /.") {
			p.names[id] = u.Title
		}
	}
	if u.Title != "" {
		tc.Title = u.Title
	}
	if u.Kind != "" {
		tc.Kind = u.Kind
	}
	if u.Status != "" {
		tc.Status = u.Status
	}
	if len(engines.ObjectFields(u.RawInput)) > 0 {
		tc.RawInput = u.RawInput
	}
	if len(u.Locations) > 0 {
		tc.Locations = u.Locations
	}
	if len(u.Contents) > 0 {
		tc.Contents = u.Contents
	}
	return tc
}

// describe maps an ACP tool call to an action kind, a title and a detail.
func describe(tc *toolCall, cwd string) engines.Action {
	in := engines.ObjectFields(tc.RawInput)
	var a engines.Action
	switch tc.Kind {
	case "execute":
		a = engines.Action{Kind: engines.KindCommand, Title: engines.FirstNonBlank(engines.FirstStringField(in, "command", "cmd"), tc.Title)}
		a.Detail = engines.FirstStringField(in, "description")
	case "edit", "delete", "move":
		a = engines.Action{Kind: engines.KindFileChange, Title: engines.RelPath(engines.FirstNonBlank(toolPath(tc, in), tc.Title), cwd)}
	case "fetch":
		a = engines.Action{Kind: engines.KindWebSearch, Title: engines.FirstNonBlank(engines.FirstStringField(in, "query", "url"), tc.Title)}
	case "think":
		a = engines.Action{Kind: engines.KindNote, Title: tc.Title}
	default:
		a = engines.Action{Kind: engines.KindTool, Title: tc.Title}
	}
	a.Title = engines.OneLine(a.Title, maxTitleLen)
	a.Detail = engines.OneLine(a.Detail, maxDetailLen)
	return a
}

// toolPath is the file a tool call works on.
func toolPath(tc *toolCall, in map[string]json.RawMessage) string {
	if p := engines.FirstStringField(in, "filePath", "file_path", "filepath", "path", "absolute_path"); p != "" {
		return p
	}
	for _, l := range tc.Locations {
		if l.Path != "" {
			return l.Path
		}
	}
	for _, c := range contents(tc) {
		if c.Type == "diff" && c.Path != "" {
			return c.Path
		}
	}
	return ""
}

// contents decodes a tool call's content list; anything else is none.
func contents(tc *toolCall) []toolContent {
	var cs []toolContent
	if engines.UnmarshalLenient(tc.Contents, &cs) != nil {
		return nil
	}
	return cs
}

// toolOutput is what a finished tool said: its text content, else its raw
// output's error or output.
func toolOutput(tc *toolCall) string {
	var parts []string
	for _, c := range contents(tc) {
		if c.Type == "content" && c.Content.Type == "text" {
			parts = append(parts, c.Content.Text)
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, "\n")
	}
	out := engines.ObjectFields(tc.RawOutput)
	return engines.FirstStringField(out, "error", "output")
}

// planAction shows the agent's plan, one entry a line with its status.
func (p *protocol) planAction(entries []planEntry) engines.Action {
	phase := engines.PhaseUpdated
	if !p.plan {
		p.plan, phase = true, engines.PhaseStarted
	}
	done := 0
	var lines []string
	for _, e := range entries {
		mark := "[ ]"
		switch e.Status {
		case "completed":
			mark = "[x]"
			done++
		case "in_progress":
			mark = "[~]"
		}
		lines = append(lines, mark+" "+engines.OneLine(e.Content, 120))
	}
	return engines.Action{
		ID: planActionID, Kind: engines.KindNote, Phase: phase,
		Title:  fmt.Sprintf("Plan: %d of %d done", done, len(entries)),
		Detail: engines.Clip(strings.Join(lines, "\n"), maxDetailLen),
	}
}
