package opencode

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

// tool turns a tool part into an action. The stream prints a tool once,
// when it has finished, so this is usually the action's only event; a part
// still pending or running (not printed by the CLI today) yields the started
// phase. A repeated part yields nothing.
func (d *decoder) tool(p *wirePart) (engines.Action, bool) {
	id := p.CallID
	if id == "" {
		id = p.ID
	}
	if id == "" {
		d.anon++
		id = fmt.Sprintf("opencode-tool-%d", d.anon)
	}
	phase := engines.PhaseCompleted
	if p.State.Status == "pending" || p.State.Status == "running" {
		phase = engines.PhaseStarted
	}
	if prev, seen := d.actions[id]; seen && (prev == engines.PhaseCompleted || prev == phase) {
		return engines.Action{}, false
	}
	d.actions[id] = phase
	a := describeTool(p.Tool, toolInput(p.State.Input), p.State.Title)
	a.ID, a.Phase = id, phase
	if phase == engines.PhaseCompleted {
		a.OK = true
		if failure := toolFailure(&p.State); failure != "" {
			a.OK, a.Detail = false, failure
		}
	}
	return a, true
}

// toolFailure is the line worth showing for a failed tool, or "" when the
// tool succeeded: an error status, or a shell command that exited non-zero.
func toolFailure(s *wireState) string {
	if s.Status == "error" {
		if line := firstLine(s.Error); line != "" {
			return line
		}
		return "failed"
	}
	if s.Metadata.Exit == nil || *s.Metadata.Exit == 0 {
		return ""
	}
	msg := fmt.Sprintf("Exit code %d", *s.Metadata.Exit)
	out := s.Metadata.Output
	if out == "" {
		out = s.Output
	}
	if line := firstLine(out); line != "" {
		msg += ": " + line
	}
	return clip(msg, maxDetailLen)
}

// describeTool maps an opencode tool call to an action kind and a one-line
// title. title is the CLI's own title for the call, used when the input
// says nothing better.
func describeTool(tool string, in map[string]json.RawMessage, title string) engines.Action {
	str := func(key string) string { return inputString(in, key) }
	var a engines.Action
	switch {
	case tool == "bash":
		a = engines.Action{Kind: engines.KindCommand, Title: str("command"), Detail: str("description")}
	case tool == "write", tool == "edit", tool == "multiedit", tool == "patch", tool == "apply_patch":
		a = engines.Action{Kind: engines.KindFileChange, Title: str("filePath")}
	case tool == "task":
		a = engines.Action{Kind: engines.KindSubagent, Title: str("description"), Detail: str("subagent_type")}
	case strings.Contains(tool, "web"):
		a = engines.Action{Kind: engines.KindWebSearch, Title: firstOf(str("query"), str("url"))}
	default:
		a = engines.Action{Kind: engines.KindTool, Title: toolSummary(tool, in, title)}
	}
	a.Title = oneLine(a.Title, maxTitleLen)
	a.Detail = oneLine(a.Detail, maxDetailLen)
	if a.Title == "" {
		a.Title = oneLine(firstOf(title, tool, "tool"), maxTitleLen)
	}
	return a
}

// toolSummary is "tool subject" for tools without their own mapping, such as
// "read src/main.go" or "grep TODO": the CLI's title for the call, else the
// first input field that says what the tool works on.
func toolSummary(tool string, in map[string]json.RawMessage, title string) string {
	if strings.TrimSpace(title) != "" && title != tool {
		return strings.TrimSpace(tool + " " + title)
	}
	for _, key := range []string{"filePath", "path", "pattern", "query", "url", "name", "command", "description"} {
		if v := inputString(in, key); strings.TrimSpace(v) != "" {
			return strings.TrimSpace(tool + " " + v)
		}
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

// firstLine returns the first non-empty line of text as one clipped line.
func firstLine(text string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if line = oneLine(line, maxDetailLen); line != "" {
			return line
		}
	}
	return ""
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
