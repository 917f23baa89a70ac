package pi

import (
	"bytes"
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

// toolStarted turns tool_execution_start into a started action and
// remembers it for its end. A repeated id yields nothing.
func (d *decoder) toolStarted(l *wireLine) (engines.Action, bool) {
	id := l.ToolCallID
	if id == "" {
		d.anon++
		id = fmt.Sprintf("pi-tool-%d", d.anon)
	}
	if _, seen := d.actions[id]; seen {
		return engines.Action{}, false
	}
	a := describeTool(l.ToolName, engines.ObjectFields(l.Args), d.cwd)
	a.ID, a.Phase = id, engines.PhaseStarted
	d.actions[id] = a
	return a, true
}

// toolCompleted turns tool_execution_end into the completed phase of its
// action, keeping the started action's kind and title. A second end for
// the same id yields nothing.
func (d *decoder) toolCompleted(l *wireLine) (engines.Action, bool) {
	id := l.ToolCallID
	if id == "" {
		d.anon++
		id = fmt.Sprintf("pi-tool-%d", d.anon)
	}
	a, ok := d.actions[id]
	if ok && a.Phase == engines.PhaseCompleted {
		return engines.Action{}, false
	}
	if !ok {
		a = describeTool(l.ToolName, engines.ObjectFields(l.Args), d.cwd)
		a.ID = id
	}
	a.Phase, a.OK = engines.PhaseCompleted, !l.IsError
	if l.IsError {
		a.Detail = failureLine(resultText(l.Result))
	}
	d.actions[id] = a
	return a, true
}

// describeTool maps a pi tool call to an action kind and a one-line title.
// Paths under the session's working directory are shown relative.
func describeTool(tool string, in map[string]json.RawMessage, cwd string) engines.Action {
	str := func(key string) string { return engines.StringField(in, key) }
	var a engines.Action
	switch {
	case tool == "bash":
		a = engines.Action{Kind: engines.KindCommand, Title: str("command")}
	case tool == "write", tool == "edit":
		a = engines.Action{Kind: engines.KindFileChange, Title: engines.RelPath(engines.FirstNonBlank(str("path"), str("file_path")), cwd)}
	case strings.Contains(strings.ToLower(tool), "web"):
		a = engines.Action{Kind: engines.KindWebSearch, Title: engines.FirstNonBlank(str("query"), str("url"))}
	default:
		a = engines.Action{Kind: engines.KindTool, Title: toolSummary(tool, in, cwd)}
	}
	a.Title = engines.OneLine(a.Title, maxTitleLen)
	if a.Title == "" {
		a.Title = engines.OneLine(engines.FirstNonBlank(tool, "tool"), maxTitleLen)
	}
	return a
}

// toolSummary is "tool subject" for tools without their own mapping, such as
// "read main.go" or "grep TODO".
func toolSummary(tool string, in map[string]json.RawMessage, cwd string) string {
	// The input fields, in order of preference, that say what a tool is
	// working on.
	keys := []string{"pattern", "path", "file_path", "query", "url", "command", "description"}
	for _, key := range keys {
		v := engines.StringField(in, key)
		if strings.TrimSpace(v) == "" {
			continue
		}
		if strings.HasSuffix(key, "path") {
			v = engines.RelPath(v, cwd)
		}
		return strings.TrimSpace(tool + " " + v)
	}
	return tool
}

// resultText is the text of a tool result: {"content": [blocks]} of which
// only text blocks count, or a plain string.
func resultText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if engines.UnmarshalLenient(raw, &s) != nil {
			return ""
		}
		return s
	}
	var r struct {
		Content []wireBlock `json:"content"`
	}
	if raw[0] != '{' || engines.UnmarshalLenient(raw, &r) != nil {
		return ""
	}
	var parts []string
	for _, b := range r.Content {
		if b.Type == "text" && b.Text != "" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// failureLine picks the line of a failed tool's output worth showing: the
// first non-empty one, led by "Exit code N" when pi's bash tool ended the
// output with "Command exited with code N".
func failureLine(text string) string {
	var first, exit string
	for line := range strings.SplitSeq(text, "\n") {
		line = engines.OneLine(line, maxDetailLen)
		if line == "" {
			continue
		}
		if code, ok := strings.CutPrefix(line, "Command exited with code "); ok && isNumber(code) {
			exit = "Exit code " + code
			continue
		}
		if first == "" {
			first = line
		}
	}
	switch {
	case exit == "":
		return first
	case first == "":
		return exit
	}
	return engines.Clip(exit+": "+first, maxDetailLen)
}

// isNumber reports whether s is a decimal integer, maybe negative.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
