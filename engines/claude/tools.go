package claude

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

// toolStarted turns a tool_use block into a started action and remembers it
// for its result. A repeated id yields nothing.
func (d *decoder) toolStarted(b wireBlock) (engines.Action, bool) {
	id := b.ID
	if id == "" {
		d.anon++
		id = fmt.Sprintf("claude-tool-%d", d.anon)
	}
	if _, seen := d.actions[id]; seen {
		return engines.Action{}, false
	}
	a := describeTool(b.Name, toolInput(b.Input), d.cwd)
	a.ID = id
	a.Phase = engines.PhaseStarted
	d.actions[id] = a
	return a, true
}

// toolCompleted turns a tool_result block into the completed phase of its
// action, keeping the started action's kind and title. A second result for
// the same id yields nothing.
func (d *decoder) toolCompleted(b wireBlock) (engines.Action, bool) {
	id := b.ToolUseID
	if id == "" {
		d.anon++
		id = fmt.Sprintf("claude-tool-%d", d.anon)
	}
	a, ok := d.actions[id]
	if ok && a.Phase == engines.PhaseCompleted {
		return engines.Action{}, false
	}
	if !ok {
		a = engines.Action{ID: id, Kind: engines.KindTool, Title: "tool"}
	}
	a.Phase = engines.PhaseCompleted
	a.OK = !b.IsError
	if b.IsError {
		a.Detail = errorLine(resultText(b.Content))
	}
	d.actions[id] = a
	return a, true
}

// describeTool maps a Claude Code tool call to an action kind and a one-line
// title. Paths under the session's working directory are shown relative.
func describeTool(tool string, in map[string]json.RawMessage, cwd string) engines.Action {
	str := func(key string) string { return inputString(in, key) }
	var a engines.Action
	switch tool {
	case "Bash":
		a = engines.Action{Kind: engines.KindCommand, Title: str("command"), Detail: str("description")}
	case "Edit", "Write", "MultiEdit":
		a = engines.Action{Kind: engines.KindFileChange, Title: relPath(str("file_path"), cwd)}
	case "NotebookEdit":
		a = engines.Action{Kind: engines.KindFileChange, Title: relPath(str("notebook_path"), cwd)}
	case "WebSearch":
		a = engines.Action{Kind: engines.KindWebSearch, Title: str("query")}
	case "WebFetch":
		a = engines.Action{Kind: engines.KindWebSearch, Title: str("url")}
	case "Task", "Agent":
		a = engines.Action{Kind: engines.KindSubagent, Title: str("description"), Detail: str("subagent_type")}
	default:
		a = engines.Action{Kind: engines.KindTool, Title: toolSummary(tool, in, cwd)}
	}
	a.Title = oneLine(a.Title, maxTitleLen)
	a.Detail = oneLine(a.Detail, maxDetailLen)
	if a.Title == "" {
		a.Title = oneLine(tool, maxTitleLen)
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
		v := inputString(in, key)
		if strings.TrimSpace(v) == "" {
			continue
		}
		if strings.HasSuffix(key, "path") {
			v = relPath(v, cwd)
		}
		return tool + " " + v
	}
	return tool
}

// toolInput decodes a tool's input object; anything else is no input.
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
		line = oneLine(line, maxDetailLen)
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
	return clip(first, maxDetailLen)
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
