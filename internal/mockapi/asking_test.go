package mockapi

import (
	"encoding/json"
	"strings"
	"testing"
)

// turn builds an Anthropic request from messages given as JSON.
func turn(t *testing.T, tools []string, messages string) anthropicTurn {
	t.Helper()
	var body anthropicRequest
	if err := json.Unmarshal([]byte(`{"messages":`+messages+`}`), &body); err != nil {
		t.Fatal(err)
	}
	for _, name := range tools {
		body.Tools = append(body.Tools, struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"input_schema"`
		}{name, json.RawMessage(`{"properties":{"command":{"type":"string"},"file_path":{"type":"string"},"content":{"type":"string"},"plan":{"type":"string"}}}`)})
	}
	return readAnthropicTurn(body)
}

func TestDecideAsking(t *testing.T) {
	tools := []string{"Bash", "Write", "AskUserQuestion", "ToolSearch", "ExitPlanMode"}
	plan := `"<system-reminder>Plan mode is active. Write it to /home/agent/.claude/plans/p.md</system-reminder>"`
	cases := []struct {
		name, messages, want string
	}{
		{"question", `[{"role":"user","content":"ask me a question"}]`, "tool:AskUserQuestion"},
		{"answered", `[{"role":"user","content":"ask me a question"},
			{"role":"assistant","content":[{"type":"tool_use","id":"q","name":"AskUserQuestion","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"q","content":"answered: =\"howdy\"\n<system-reminder>x</system-reminder>"}]}]`, "answered"},
		{"denied", `[{"role":"user","content":"create hello.txt"},
			{"role":"assistant","content":[{"type":"tool_use","id":"b","name":"Bash","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"b","is_error":true,"content":"The user denied this."}]}]`, "denied"},
		{"plan written first", `[{"role":"user","content":[{"type":"text","text":` + plan + `},{"type":"text","text":"create hello.txt"}]}]`, "tool:Write"},
		{"plan then exit", `[{"role":"user","content":[{"type":"text","text":` + plan + `},{"type":"text","text":"create hello.txt"}]},
			{"role":"assistant","content":[{"type":"tool_use","id":"w","name":"Write","input":{"file_path":"/home/agent/.claude/plans/p.md"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"w","content":"ok"}]}]`, "tool:ExitPlanMode"},
		{"approved plan is carried out", `[{"role":"user","content":[{"type":"text","text":` + plan + `},{"type":"text","text":"create hello.txt containing hello"}]},
			{"role":"assistant","content":[{"type":"tool_use","id":"x","name":"ExitPlanMode","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"User has approved"}]}]`, "tool:Bash"},
		{"a new turn plans again", `[{"role":"user","content":[{"type":"text","text":` + plan + `},{"type":"text","text":"create hello.txt"}]},
			{"role":"assistant","content":[{"type":"tool_use","id":"x","name":"ExitPlanMode","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"User has approved"}]},
			{"role":"user","content":[{"type":"text","text":` + plan + `},{"type":"text","text":"create hello.txt again"}]}]`, "tool:Write"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, ok := decideAsking(turn(t, tools, tc.messages))
			if !ok || a.summary != tc.want {
				t.Fatalf("decideAsking = %q (%v), want %q", a.summary, ok, tc.want)
			}
			if tc.name == "answered" && a.text != FinalAnswered+`answered: ="howdy"` {
				t.Errorf("answer = %q", a.text)
			}
			if tc.name == "denied" && !strings.HasPrefix(a.text, FinalDenied) {
				t.Errorf("answer = %q", a.text)
			}
		})
	}
	if _, ok := decideAsking(turn(t, tools, `[{"role":"user","content":"create hello.txt"}]`)); ok {
		t.Error("a plain request was taken for an asking one")
	}
}

// TestNewWordsBesideAResult: clients that merge the user's next message
// into the message of the last tool result (opencode) start a new turn.
func TestNewWordsBesideAResult(t *testing.T) {
	msgs := `[{"role":"user","content":"create hello.txt containing hello"},
		{"role":"assistant","content":[{"type":"tool_use","id":"b","name":"Bash","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"b","is_error":true,"content":"The user rejected permission"},
			{"type":"text","text":"create hello.txt containing hello"}]}]`
	if a, ok := decideAsking(turn(t, []string{"Bash"}, msgs)); ok {
		t.Errorf("decideAsking answered %q: the new words were taken for the old result", a.summary)
	}
	var body anthropicRequest
	json.Unmarshal([]byte(`{"messages":`+msgs+`}`), &body)
	body.Tools = append(body.Tools, struct {
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	}{"Bash", json.RawMessage(`{"properties":{"command":{"type":"string"}}}`)})
	if a := decide(readAnthropicTurn(body).state()); a.summary != "tool:Bash" {
		t.Errorf("decide = %q, want the new turn's tool call", a.summary)
	}
	// Claude Code's own note beside a ToolSearch result is no new turn.
	note := `[{"role":"user","content":"ask me a question"},
		{"role":"assistant","content":[{"type":"tool_use","id":"s","name":"ToolSearch","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"s","content":"ok"},{"type":"text","text":"Tool loaded."}]}]`
	if tr := turn(t, nil, note); tr.lastResult == nil || tr.lastText != "ask me a question" {
		t.Errorf("turn = %+v: Tool loaded. was taken for the user's words", tr)
	}
}
