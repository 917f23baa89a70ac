package mockapi

import (
	"encoding/json"
	"strings"
)

// FinalDeclined is the model's answer when the user declined its tool call:
// the client's tool result says the call was rejected instead of carrying
// the tool's output.
const FinalDeclined = "The command was declined."

// declinedMarks are what clients put in a tool result the user declined.
// Codex 0.171 (app-server) sends, for a declined shell command,
// `exec_command failed: CreateProcess { message: "Rejected(\"rejected by
// user\")" }`, and for a declined patch `patch rejected by user`.
var declinedMarks = []string{"rejected by user"}

// declinedResult reports whether the last input item of a Responses request
// is a tool result saying the user declined the call.
func declinedResult(input json.RawMessage) bool {
	var items []struct {
		Type   string          `json:"type"`
		Output json.RawMessage `json:"output"`
	}
	if json.Unmarshal(input, &items) != nil || len(items) == 0 {
		return false
	}
	last := items[len(items)-1]
	if !toolResultItems[last.Type] {
		return false
	}
	text := outputText(last.Output)
	for _, m := range declinedMarks {
		if strings.Contains(strings.ToLower(text), m) {
			return true
		}
	}
	return false
}

// outputText reads a tool result's output: a string, or a list of parts
// with text.
func outputText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}
