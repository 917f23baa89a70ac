package gemini

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

// toolStarted turns a tool_use line into a started action and remembers it
// for its result. A repeated id yields nothing.
func (d *decoder) toolStarted(l *wireLine) (engines.Action, bool) {
	id := l.ToolID
	if id == "" {
		d.anon++
		id = fmt.Sprintf("gemini-tool-%d", d.anon)
	}
	if _, seen := d.actions[id]; seen {
		return engines.Action{}, false
	}
	a := describeTool(l.ToolName, engines.ObjectFields(l.Parameters))
	a.ID = id
	a.Phase = engines.PhaseStarted
	d.actions[id] = a
	return a, true
}

// toolCompleted turns a tool_result line into the completed phase of its
// action, keeping the started action's kind and title. OK is the result's
// status: a shell command that exits non-zero is still "success" to the CLI,
// and the stream does not carry its exit code. A second result for the same
// id yields nothing.
func (d *decoder) toolCompleted(l *wireLine) (engines.Action, bool) {
	id := l.ToolID
	if id == "" {
		d.anon++
		id = fmt.Sprintf("gemini-tool-%d", d.anon)
	}
	a, ok := d.actions[id]
	if ok && a.Phase == engines.PhaseCompleted {
		return engines.Action{}, false
	}
	if !ok {
		a = engines.Action{ID: id, Kind: engines.KindTool, Title: "tool"}
	}
	a.Phase = engines.PhaseCompleted
	a.OK = l.Status == "success"
	if !a.OK {
		msg := l.Error.Message
		if strings.TrimSpace(msg) == "" {
			msg = l.Output
		}
		a.Detail = engines.FirstLine(msg, maxDetailLen)
	}
	d.actions[id] = a
	return a, true
}

// describeTool maps a Gemini CLI tool call to an action kind and a one-line
// title. The stream names no working directory, so paths stay as the model
// wrote them (absolute, as the CLI's file tools require).
func describeTool(tool string, in map[string]json.RawMessage) engines.Action {
	str := func(keys ...string) string { return engines.FirstStringField(in, keys...) }
	var a engines.Action
	switch tool {
	case "run_shell_command":
		a = engines.Action{Kind: engines.KindCommand, Title: str("command"), Detail: str("description")}
	case "write_file", "replace", "edit":
		a = engines.Action{Kind: engines.KindFileChange, Title: str("file_path", "absolute_path", "path")}
	case "google_web_search":
		a = engines.Action{Kind: engines.KindWebSearch, Title: str("query")}
	case "web_fetch":
		a = engines.Action{Kind: engines.KindWebSearch, Title: str("url", "prompt")}
	case "invoke_agent", "delegate_to_agent":
		a = engines.Action{Kind: engines.KindSubagent, Title: str("description", "agent_name", "objective", "prompt")}
	default:
		a = engines.Action{Kind: engines.KindTool, Title: toolSummary(tool, in)}
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

// toolSummary is "tool subject" for tools without their own mapping, such
// as "read_file /workspace/p/go.mod" or "grep_search TODO".
func toolSummary(tool string, in map[string]json.RawMessage) string {
	// The parameters, in order of preference, that say what a tool is
	// working on.
	v := engines.FirstStringField(in,
		"file_path", "absolute_path", "pattern", "dir_path", "path", "query",
		"url", "name", "command", "description", "prompt")
	if v == "" {
		return tool
	}
	return tool + " " + v
}
