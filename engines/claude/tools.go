package claude

import (
	"encoding/json"
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
// action, keeping the started action's kind and title. A second result for
// the same id yields nothing.
func (d *decoder) toolCompleted(b wireBlock) (engines.Action, bool) {
	a, ok := d.tools.Complete(b.ToolUseID, !b.IsError)
	if !ok {
		return engines.Action{}, false
	}
	if b.IsError {
		a.Detail = errorLine(resultText(b.Content))
	}
	return a, true
}

// describeTool maps a Claude Code tool call to an action kind and a one-line
// title. Paths under the session's working directory are shown relative.
func describeTool(tool string, in map[string]json.RawMessage, cwd string) engines.Action {
	str := func(key string) string { return engines.StringField(in, key) }
	var a engines.Action
	switch tool {
	case "Bash":
		a = engines.Action{Kind: engines.KindCommand, Title: str("command"), Detail: str("description")}
	case "Edit", "Write", "MultiEdit":
		a = engines.Action{Kind: engines.KindFileChange, Title: engines.RelPath(str("file_path"), cwd)}
	case "NotebookEdit":
		a = engines.Action{Kind: engines.KindFileChange, Title: engines.RelPath(str("notebook_path"), cwd)}
	case "WebSearch":
		a = engines.Action{Kind: engines.KindWebSearch, Title: str("query")}
	case "WebFetch":
		a = engines.Action{Kind: engines.KindWebSearch, Title: str("url")}
	case "Task", "Agent":
		a = engines.Action{Kind: engines.KindSubagent, Title: str("description"), Detail: str("subagent_type")}
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
		"file_path", "notebook_path", "pattern", "path", "query", "url",
		"skill", "command", "description", "prompt",
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
	bs := blocks(raw)
	var parts []string
	for _, b := range bs {
		if b.Type == "text" && b.Text != "" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// errorLine picks the line of a failed tool's output worth showing: the
// first non-empty one, joined with the next when the first only says
// "Exit code N".
func errorLine(text string) string {
	text = strings.NewReplacer("<tool_use_error>", "", "</tool_use_error>", "").Replace(text)
	var first string
	for line := range strings.SplitSeq(text, "\n") {
		line = engines.OneLine(line, maxDetailLen)
		if line == "" {
			continue
		}
		if first == "" {
			first = line
			if !isExitCodeLine(first) {
				break
			}
			continue
		}
		first += ": " + line
		break
	}
	return engines.Clip(first, maxDetailLen)
}

// isExitCodeLine reports whether line is the "Exit code N" a failed Bash
// result starts with.
func isExitCodeLine(line string) bool {
	n, ok := strings.CutPrefix(line, "Exit code ")
	n = strings.TrimPrefix(n, "-")
	if !ok || n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}
