package pi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

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
	a := describeTool(l.ToolName, toolInput(l.Args), d.cwd)
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
		a = describeTool(l.ToolName, toolInput(l.Args), d.cwd)
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
	str := func(key string) string { return inputString(in, key) }
	var a engines.Action
	switch {
	case tool == "bash":
		a = engines.Action{Kind: engines.KindCommand, Title: str("command")}
	case tool == "write", tool == "edit":
		a = engines.Action{Kind: engines.KindFileChange, Title: relPath(firstOf(str("path"), str("file_path")), cwd)}
	case strings.Contains(strings.ToLower(tool), "web"):
		a = engines.Action{Kind: engines.KindWebSearch, Title: firstOf(str("query"), str("url"))}
	default:
		a = engines.Action{Kind: engines.KindTool, Title: toolSummary(tool, in, cwd)}
	}
	a.Title = oneLine(a.Title, maxTitleLen)
	if a.Title == "" {
		a.Title = oneLine(firstOf(tool, "tool"), maxTitleLen)
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
		v := inputString(in, key)
		if strings.TrimSpace(v) == "" {
			continue
		}
		if strings.HasSuffix(key, "path") {
			v = relPath(v, cwd)
		}
		return strings.TrimSpace(tool + " " + v)
	}
	return tool
}

// firstOf returns the first of vs that is not blank.
func firstOf(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// toolInput decodes a tool's arguments object; anything else is no input.
func toolInput(raw json.RawMessage) map[string]json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var in map[string]json.RawMessage
	if unmarshal(raw, &in) != nil {
		return nil
	}
	return in
}

// inputString returns in[key] when it is a JSON string, else "".
func inputString(in map[string]json.RawMessage, key string) string {
	raw := bytes.TrimSpace(in[key])
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if unmarshal(raw, &s) != nil {
		return ""
	}
	return s
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
		if unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	}
	var r struct {
		Content []wireBlock `json:"content"`
	}
	if raw[0] != '{' || unmarshal(raw, &r) != nil {
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
		line = oneLine(line, maxDetailLen)
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
	return clip(exit+": "+first, maxDetailLen)
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

// relPath shows p relative to cwd when it lies under it.
func relPath(p, cwd string) string {
	dir := strings.TrimSuffix(cwd, "/")
	if dir == "" || !strings.HasPrefix(p, dir+"/") || len(p) == len(dir)+1 {
		return p
	}
	return p[len(dir)+1:]
}

// oneLine collapses all whitespace, newlines included, to single spaces and
// clips the result to n runes. It reads no more of s than it needs, so a
// 10 MB command costs no more than a short one.
func oneLine(s string, n int) string {
	var b strings.Builder
	runes, space := 0, false
	for _, r := range s {
		if runes > n {
			break // one rune past the limit is enough for clip to mark the cut
		}
		if unicode.IsSpace(r) {
			space = runes > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			runes++
			space = false
		}
		b.WriteRune(r)
		runes++
	}
	return clip(b.String(), n)
}

// clip shortens s to at most n runes, marking a cut with "…".
func clip(s string, n int) string {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i] + "…"
}
