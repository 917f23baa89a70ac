package opencode

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
	a := describeTool(p.Tool, engines.ObjectFields(p.State.Input), p.State.Title)
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
		if line := engines.FirstLine(s.Error, maxDetailLen); line != "" {
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
	if line := engines.FirstLine(out, maxDetailLen); line != "" {
		msg += ": " + line
	}
	return engines.Clip(msg, maxDetailLen)
}

// describeTool maps an opencode tool call to an action kind and a one-line
// title. title is the CLI's own title for the call, used when the input
// says nothing better.
func describeTool(tool string, in map[string]json.RawMessage, title string) engines.Action {
	str := func(key string) string { return engines.StringField(in, key) }
	var a engines.Action
	switch {
	case tool == "bash":
		a = engines.Action{Kind: engines.KindCommand, Title: str("command"), Detail: str("description")}
	case tool == "write", tool == "edit", tool == "multiedit", tool == "patch", tool == "apply_patch":
		a = engines.Action{Kind: engines.KindFileChange, Title: str("filePath")}
	case tool == "task":
		a = engines.Action{Kind: engines.KindSubagent, Title: str("description"), Detail: str("subagent_type")}
	case strings.Contains(tool, "web"):
		a = engines.Action{Kind: engines.KindWebSearch, Title: engines.FirstNonBlank(str("query"), str("url"))}
	default:
		a = engines.Action{Kind: engines.KindTool, Title: toolSummary(tool, in, title)}
	}
	a.Title = engines.OneLine(a.Title, maxTitleLen)
	a.Detail = engines.OneLine(a.Detail, maxDetailLen)
	if a.Title == "" {
		a.Title = engines.OneLine(engines.FirstNonBlank(title, tool, "tool"), maxTitleLen)
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
		if v := engines.StringField(in, key); strings.TrimSpace(v) != "" {
			return strings.TrimSpace(tool + " " + v)
		}
	}
	return tool
}
