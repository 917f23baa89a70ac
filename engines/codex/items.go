package codex

import (
	"bytes"
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

// knownItem reports whether items of type t are decoded (even when they
// yield no event).
func knownItem(t string) bool {
	switch t {
	case "agent_message", "reasoning", "plan", "command_execution", "file_change",
		"mcp_tool_call", "collab_tool_call", "web_search", "todo_list", "error":
		return true
	}
	return false
}

// item turns one item event into at most one action. Messages and plans are
// remembered for the answer. Reasoning is dropped: it is the model's
// summary of its own thinking, not a step it took, and like Claude's
// thinking blocks it would crowd the real steps out of the progress message.
// Once an item has completed, later events for its id yield nothing.
func (d *decoder) item(it *wireItem, phase engines.Phase) []engines.Event {
	switch it.Type {
	case "agent_message":
		if phase == engines.PhaseCompleted && strings.TrimSpace(it.Text) != "" {
			d.answer = it.Text
			return d.draft.whole(it.ID, it.Text)
		}
		return nil
	case "plan":
		if phase == engines.PhaseCompleted && strings.TrimSpace(it.Text) != "" {
			d.plan = it.Text
		}
		return nil
	case "reasoning":
		return nil
	}
	id := it.ID
	if id == "" {
		d.anon++
		id = fmt.Sprintf("codex-item-%d", d.anon)
	}
	if d.completed[id] {
		return nil
	}
	if phase == engines.PhaseCompleted {
		d.completed[id] = true
	}
	a := describeItem(it, phase)
	a.ID = id
	a.Phase = phase
	a.Title = engines.OneLine(a.Title, maxTitleLen)
	a.Detail = engines.OneLine(a.Detail, maxDetailLen)
	if a.Title == "" {
		a.Title = strings.ReplaceAll(it.Type, "_", " ")
	}
	if phase != engines.PhaseCompleted {
		a.OK = false
	}
	return []engines.Event{a}
}

// describeItem maps an item to the kind, title, detail and outcome of its
// action.
func describeItem(it *wireItem, phase engines.Phase) engines.Action {
	switch it.Type {
	case "command_execution":
		return commandAction(it, phase)
	case "file_change":
		return engines.Action{
			Kind: engines.KindFileChange, Title: changedPaths(it.Changes), Detail: changeSummary(it.Changes),
			OK: it.Status == "completed",
		}
	case "mcp_tool_call":
		a := engines.Action{Kind: engines.KindTool, Title: joinNonEmpty(".", it.Server, it.Tool)}
		a.OK = it.Status == "completed" && it.Error == nil
		if it.Error != nil {
			a.Detail = it.Error.Message
		}
		return a
	case "collab_tool_call":
		return engines.Action{
			Kind: engines.KindSubagent, Title: engines.FirstNonBlank(it.Prompt, it.Tool), Detail: it.Tool,
			OK: it.Status == "completed",
		}
	case "web_search":
		return engines.Action{Kind: engines.KindWebSearch, Title: searchTitle(it), OK: true}
	case "todo_list":
		title, detail := todoSummary(it.Items)
		return engines.Action{Kind: engines.KindNote, Title: title, Detail: detail, OK: true}
	case "error":
		// A non-fatal error such as a model without catalog metadata.
		title, detail := splitSentence(humanError(it.Message))
		return engines.Action{Kind: engines.KindWarning, Title: title, Detail: detail}
	}
	return engines.Action{Kind: engines.KindTool}
}

// commandAction describes a command_execution item. It succeeded when codex
// says completed and the exit code, if any, is zero; a failure shows its
// exit code and the last line of its output.
func commandAction(it *wireItem, phase engines.Phase) engines.Action {
	a := engines.Action{Kind: engines.KindCommand, Title: commandTitle(it.Command)}
	if phase != engines.PhaseCompleted {
		return a
	}
	exitOK := it.ExitCode == nil || *it.ExitCode == 0
	a.OK = it.Status == "completed" && exitOK
	if a.OK {
		return a
	}
	switch {
	case it.Status == "declined":
		a.Detail = "declined"
	case it.ExitCode != nil:
		a.Detail = joinNonEmpty(": ", fmt.Sprintf("exit code %d", *it.ExitCode), lastLine(it.AggregatedOutput))
	case it.Status == "in_progress":
		a.Detail = "did not finish"
	default:
		a.Detail = lastLine(it.AggregatedOutput)
	}
	return a
}

// commandTitle shows the command the model asked for: codex runs it as
// `/bin/bash -lc '<command>'`, and the wrapper says nothing. Anything that
// is not one shell with -c or -lc and a single quoted word stays as it is.
func commandTitle(cmd string) string {
	shell, rest, ok := strings.Cut(cmd, " ")
	if !ok {
		return cmd
	}
	base := shell[strings.LastIndexByte(shell, '/')+1:]
	switch base {
	case "bash", "sh", "zsh", "dash":
	default:
		return cmd
	}
	flag, script, ok := strings.Cut(rest, " ")
	if !ok || (flag != "-c" && flag != "-lc") {
		return cmd
	}
	if s, ok := unquoteWord(script); ok {
		return s
	}
	return cmd
}

// unquoteWord decodes s when it is exactly one POSIX shell word made of
// single-quoted parts, backslash escapes and plain characters, such as
//
//	'echo '\''hi'\'''
//
// for echo 'hi'. It reports false for anything else.
func unquoteWord(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", false
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 2
		case c == '\\' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i += 2
		case isPlain(c):
			b.WriteByte(c)
			i++
		default:
			return "", false
		}
	}
	return b.String(), b.Len() > 0
}

// isPlain reports whether c means itself outside quotes in a shell word.
func isPlain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("_./=:,+@%-", c) >= 0
}

// lastLine is the last non-empty line of a command's output, where the
// error usually is.
func lastLine(out string) string {
	// A 10 MB output needs only its end.
	if len(out) > 64<<10 {
		out = out[len(out)-64<<10:]
	}
	out = strings.TrimRight(out, " \t\r\n")
	return strings.TrimSpace(out[strings.LastIndexByte(out, '\n')+1:])
}

// changedPaths lists the paths of a file change.
func changedPaths(changes []wireChange) string {
	var b strings.Builder
	for _, c := range changes {
		if c.Path == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Path)
		if b.Len() > maxTitleLen {
			break
		}
	}
	return b.String()
}

// changeSummary counts a file change's paths by kind: "1 added, 2 updated".
func changeSummary(changes []wireChange) string {
	var added, updated, deleted int
	for _, c := range changes {
		switch c.Kind {
		case "add":
			added++
		case "update":
			updated++
		case "delete":
			deleted++
		}
	}
	var parts []string
	for _, p := range []struct {
		n    int
		verb string
	}{{added, "added"}, {updated, "updated"}, {deleted, "deleted"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.verb))
		}
	}
	return strings.Join(parts, ", ")
}

// searchTitle is the query of a web search, else what its action names.
func searchTitle(it *wireItem) string {
	if strings.TrimSpace(it.Query) != "" {
		return it.Query
	}
	raw := bytes.TrimSpace(it.Action)
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	var act struct {
		Query   string   `json:"query"`
		Queries []string `json:"queries"`
		URL     string   `json:"url"`
		Pattern string   `json:"pattern"`
	}
	if engines.UnmarshalLenient(raw, &act) != nil {
		return ""
	}
	if len(act.Queries) > 0 && act.Query == "" {
		act.Query = act.Queries[0]
	}
	return engines.FirstNonBlank(act.Query, joinNonEmpty(" in ", act.Pattern, act.URL))
}

// todoSummary is "plan 1/3: <next step>" (or "plan 3/3 done") and the steps
// with their marks.
func todoSummary(items []wireTodo) (title, detail string) {
	done, next := 0, ""
	var steps []string
	for _, it := range items {
		mark := "[ ] "
		if it.Completed {
			done++
			mark = "[x] "
		} else if next == "" {
			next = engines.OneLine(it.Text, maxTitleLen)
		}
		// The detail is clipped long before this many steps.
		if len(steps) < maxDetailLen/4 {
			steps = append(steps, mark+engines.OneLine(it.Text, maxDetailLen))
		}
	}
	if next == "" {
		title = fmt.Sprintf("plan %d/%d done", done, len(items))
	} else {
		title = fmt.Sprintf("plan %d/%d: %s", done, len(items), next)
	}
	return title, strings.Join(steps, "; ")
}

// splitSentence splits a message after its first sentence, so that a long
// warning shows its point as the title and the rest as the detail.
func splitSentence(s string) (string, string) {
	s = engines.OneLine(s, maxErrorLen)
	if i := strings.Index(s, ". "); i >= 0 && i+1 < len(s) {
		return s[:i+1], s[i+2:]
	}
	return s, ""
}

func joinNonEmpty(sep string, ss ...string) string {
	var parts []string
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, sep)
}
