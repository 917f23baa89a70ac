package amp

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/untether-go/untether/engines"
)

// maxTitleLen and maxDetailLen bound what an action shows in a progress
// message.
const (
	maxTitleLen  = 200
	maxDetailLen = 300
)

// toolStarted turns a tool_use block into a started action and remembers it
// for its result. A repeated id yields nothing.
func (d *decoder) toolStarted(b wireBlock) (engines.Action, bool) {
	return d.tools.Start(b.ID, describeTool(b.Name, engines.ObjectFields(b.Input), d.cwd))
}

// toolCompleted turns a tool_result block into the completed phase of its
// action, keeping the started action's kind and title. A command fails when
// its result says so or when it exited non-zero: Amp reports a failing
// command with is_error false and the exit code in the result. A second
// result for the same id yields nothing.
func (d *decoder) toolCompleted(b wireBlock) (engines.Action, bool) {
	a, ok := d.tools.Complete(b.ToolUseID, !b.IsError)
	if !ok {
		return engines.Action{}, false
	}
	text := resultText(b.Content)
	output, code, isCommand := commandResult(text)
	switch {
	case isCommand && code != 0:
		a.OK = false
		a.Detail = fmt.Sprintf("Exit code %d", code)
		if line := engines.FirstLine(output, maxDetailLen); line != "" {
			a.Detail = engines.Clip(a.Detail+": "+line, maxDetailLen)
		}
	case !a.OK && isCommand:
		a.Detail = engines.FirstLine(output, maxDetailLen)
	case !a.OK:
		a.Detail = engines.FirstLine(text, maxDetailLen)
	}
	return a, true
}

// commandResult reads a Bash result, the JSON string
// {"output":"...","exitCode":N}; ok is false for any other result.
func commandResult(text string) (output string, code int, ok bool) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "{") {
		return "", 0, false
	}
	var r struct {
		Output   string `json:"output"`
		ExitCode *int   `json:"exitCode"`
	}
	if json.Unmarshal([]byte(text), &r) != nil || r.ExitCode == nil {
		return "", 0, false
	}
	return r.Output, *r.ExitCode, true
}

// describeTool maps an Amp tool call to an action kind and a one-line title.
// Paths under the thread's working directory are shown relative.
func describeTool(tool string, in map[string]json.RawMessage, cwd string) engines.Action {
	str := func(keys ...string) string { return engines.FirstStringField(in, keys...) }
	var a engines.Action
	switch tool {
	case "Bash":
		a = engines.Action{Kind: engines.KindCommand, Title: str("cmd", "command")}
	case "create_file", "edit_file", "undo_edit", "format_file":
		a = engines.Action{Kind: engines.KindFileChange, Title: engines.RelPath(str("path", "file_path"), cwd)}
	case "web_search":
		a = engines.Action{Kind: engines.KindWebSearch, Title: str("query")}
	case "read_web_page":
		a = engines.Action{Kind: engines.KindWebSearch, Title: str("url")}
	case "Task":
		a = engines.Action{Kind: engines.KindSubagent, Title: str("description", "prompt")}
	default:
		a = engines.Action{Kind: engines.KindTool, Title: toolSummary(tool, in, cwd)}
	}
	a.Title = engines.OneLine(a.Title, maxTitleLen)
	a.Detail = engines.OneLine(a.Detail, maxDetailLen)
	if a.Title == "" {
		a.Title = engines.OneLine(tool, maxTitleLen)
	}
	if a.Title == "" {
		a.Title = "tool"
	}
	return a
}

// toolSummary is "Tool subject" for tools without their own mapping, such as
// "Read main.go" or "Grep TODO".
func toolSummary(tool string, in map[string]json.RawMessage, cwd string) string {
	// The input fields, in order of preference, that say what a tool is
	// working on.
	keys := []string{
		"file_path", "pattern", "filePattern", "path", "query", "url",
		"name", "cmd", "command", "task", "description", "prompt",
	}
	for _, key := range keys {
		v := engines.StringField(in, key)
		if strings.TrimSpace(v) == "" {
			continue
		}
		if strings.HasSuffix(key, "path") {
			v = engines.RelPath(v, cwd)
		}
		return tool + " " + v
	}
	return tool
}

// resultText is the text of a tool_result's content, which is a string or
// an array of blocks of which only text blocks count.
func resultText(raw json.RawMessage) string {
	var parts []string
	for _, b := range blocks(raw) {
		if b.Type == "text" && b.Text != "" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}
