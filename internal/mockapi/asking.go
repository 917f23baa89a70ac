package mockapi

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Scripted answers for the tools through which an agent asks its user
// (Claude Code's AskUserQuestion and ExitPlanMode), and for a tool call the
// user denied. They extend decide for Anthropic requests only; every other
// conversation is answered as before.
const (
	// FinalDenied is the answer after a tool call the user denied.
	FinalDenied = "The request was denied, so I did not run it."
	// FinalAnswered starts the answer after an AskUserQuestion; the tool's
	// result (which carries the user's choice) follows it.
	FinalAnswered = "You answered: "
	// QuestionText, QuestionHeader and the options are what the model asks
	// when the user text contains "question".
	QuestionText   = "Which greeting should hello.txt contain?"
	QuestionHeader = "Greeting"
	OptionHello    = "hello"
	OptionHowdy    = "howdy"
	// PlanText is the plan the model proposes in plan mode.
	PlanText = "## Plan\n1. Create hello.txt containing hello.\n2. Check that it is there."
)

// planModeMarker is the system reminder Claude Code sends in plan mode,
// which names the plan file.
const planModeMarker = "Plan mode is active"

var planFilePath = regexp.MustCompile(`/\S+/\.claude/plans/[^\s"]+\.md`)

// anthropicTurn is an Anthropic conversation as decideAsking and decide
// read it.
type anthropicTurn struct {
	lastResult  *toolResult // the last message's tool result, nil when it has none
	lastText    string      // the latest user words
	planMode    bool
	planDone    bool   // an ExitPlanMode call got an answer already
	planFile    string // where plan mode asks the plan to be written
	planWritten bool   // the plan file was written
	tools       map[string]tool
	list        []tool // the offered tools, in the request's order
}

type toolResult struct {
	tool    string // the name of the tool_use it answers
	content string
	raw     json.RawMessage // the content as sent: a string or blocks
	isError bool
}

func readAnthropicTurn(body anthropicRequest) anthropicTurn {
	t := anthropicTurn{tools: map[string]tool{}}
	for _, tl := range body.Tools {
		if tl.Name == "" {
			continue
		}
		tt := tool{name: tl.Name, schema: parseSchema(tl.InputSchema)}
		t.tools[tl.Name] = tt
		t.list = append(t.list, tt)
	}
	names := map[string]string{} // tool_use id → tool name
	for i, m := range body.Messages {
		var blocks []struct {
			Type      string          `json:"type"`
			Text      string          `json:"text"`
			ID        string          `json:"id"`
			Name      string          `json:"name"`
			ToolUseID string          `json:"tool_use_id"`
			Content   json.RawMessage `json:"content"`
			IsError   bool            `json:"is_error"`
			Input     json.RawMessage `json:"input"`
		}
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			if m.Role == "user" {
				t.planMode = t.planMode || strings.Contains(s, planModeMarker)
				if userText(s) {
					t.planDone, t.planWritten = false, false
					t.lastText = s
				}
			}
			continue
		}
		if json.Unmarshal(m.Content, &blocks) != nil {
			continue
		}
		// The user's words (beside a tool result too: clients merge them
		// into its message) start a new turn, after the message's results.
		words := ""
		for _, b := range blocks {
			if m.Role == "user" && b.Type == "text" && userText(b.Text) && !clientNote(b.Text) {
				words = b.Text
			}
		}
		for _, b := range blocks {
			switch b.Type {
			case "tool_use":
				names[b.ID] = b.Name
				if b.Name == "Write" && strings.Contains(string(b.Input), "/.claude/plans/") {
					t.planWritten = true
				}
			case "text":
				if m.Role == "user" {
					if strings.Contains(b.Text, planModeMarker) {
						t.planMode = true
						if f := planFilePath.FindString(b.Text); f != "" {
							t.planFile = f
						}
					}
				}
			case "tool_result":
				name := names[b.ToolUseID]
				if name == "ExitPlanMode" {
					t.planDone = true
				}
				if i == len(body.Messages)-1 && words == "" {
					t.lastResult = &toolResult{tool: name, content: resultText(b.Content), raw: b.Content, isError: b.IsError}
				}
			}
		}
		if words != "" {
			// A new turn: plan mode starts over.
			t.planDone, t.planWritten = false, false
			t.lastText = words
		}
	}
	return t
}

// clientNote reports a text a client adds beside a tool result, which is
// not the user's: Claude Code's "Tool loaded." after a ToolSearch.
func clientNote(text string) bool {
	return strings.HasPrefix(strings.TrimSpace(text), "Tool loaded")
}

// state is what decide reads: whether the last message is a tool result,
// the user's latest words, and the offered tools.
func (t anthropicTurn) state() (lastIsToolResult bool, userTexts []string, tools []tool) {
	if t.lastText != "" {
		userTexts = []string{t.lastText}
	}
	return t.lastResult != nil, userTexts, t.list
}

// resultText is a tool result's content: a string, or text blocks.
func resultText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []anthropicBlock
	json.Unmarshal(raw, &blocks)
	var b strings.Builder
	for _, blk := range blocks {
		b.WriteString(blk.Text)
	}
	return b.String()
}

// denied reports whether a tool result says the user refused the call.
func denied(r *toolResult) bool {
	low := strings.ToLower(r.content)
	return r.isError && (strings.Contains(low, "denied") || strings.Contains(low, "rejected") ||
		strings.Contains(low, "declined") || strings.Contains(low, "doesn't want") || strings.Contains(low, "timed out"))
}

// decideAsking answers the conversations about asking tools; ok is false
// for every other one, which decide answers.
func decideAsking(t anthropicTurn) (answer, bool) {
	if r := t.lastResult; r != nil {
		switch {
		case denied(r):
			return answer{text: FinalDenied + " (" + firstLine(r.content) + ")", summary: "denied"}, true
		case r.tool == "AskUserQuestion":
			return answer{text: FinalAnswered + firstLine(r.content), summary: "answered"}, true
		case (r.tool == "ToolSearch" || r.tool == "Write") && t.planMode && !t.planDone:
			if a, ok := t.exitPlan(); ok {
				return a, true
			}
			if _, ok := t.tools["ToolSearch"]; ok && r.tool == "Write" {
				return answer{tool: "ToolSearch", args: obj("query", "select:ExitPlanMode", "max_results", 1),
					summary: "tool:ToolSearch"}, true
			}
		case r.tool == "ExitPlanMode":
			// The plan was approved: carry it out.
			scen := ScenarioOf(t.lastText)
			if name, args, ok := pickTool(t.list, scen, "goodbye.txt"); ok && scen != ScenarioPlain {
				return answer{tool: name, args: args, summary: "tool:" + name}, true
			}
		}
		return answer{}, false
	}
	switch {
	case t.planMode && !t.planDone:
		if a, ok := t.writePlan(); ok {
			return a, true
		}
		if a, ok := t.exitPlan(); ok {
			return a, true
		}
		if _, ok := t.tools["ToolSearch"]; ok {
			// ExitPlanMode is a deferred tool: its schema is loaded first.
			return answer{tool: "ToolSearch", args: obj("query", "select:ExitPlanMode", "max_results", 1),
				summary: "tool:ToolSearch"}, true
		}
	case strings.Contains(strings.ToLower(t.lastText), "question"):
		if _, ok := t.tools["AskUserQuestion"]; ok {
			q := obj("question", QuestionText, "header", QuestionHeader, "multiSelect", false,
				"options", []object{
					obj("label", OptionHello, "description", "The classic"),
					obj("label", OptionHowdy, "description", "A friendlier one"),
				})
			return answer{tool: "AskUserQuestion", args: obj("questions", []object{q}), summary: "tool:AskUserQuestion"}, true
		}
	}
	return answer{}, false
}

// writePlan writes the plan to the file plan mode names, once.
func (t anthropicTurn) writePlan() (answer, bool) {
	if _, ok := t.tools["Write"]; !ok || t.planWritten || t.planFile == "" {
		return answer{}, false
	}
	return answer{tool: "Write", args: obj("file_path", t.planFile, "content", PlanText+"\n"), summary: "tool:Write"}, true
}

// exitPlan calls ExitPlanMode with the plan, when the tool is loaded.
func (t anthropicTurn) exitPlan() (answer, bool) {
	tl, ok := t.tools["ExitPlanMode"]
	if !ok {
		return answer{}, false
	}
	args := object{}
	for _, p := range tl.schema.props {
		if p.name == "plan" {
			args = obj("plan", PlanText)
		}
	}
	return answer{tool: "ExitPlanMode", args: args, summary: "tool:ExitPlanMode"}, true
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
