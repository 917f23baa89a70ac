package acp

import (
	"strings"

	"github.com/untether-go/untether/engines"
)

// newAsk describes a permission request for the user.
func (p *protocol) newAsk(id string, r *permissionParams) engines.Ask {
	tc := &r.ToolCall
	a := describe(tc, p.cfg.Cwd)
	ask := engines.Ask{
		ID:      id,
		Kind:    engines.AskPermission,
		Tool:    engines.FirstNonBlank(p.toolName(tc), "tool"),
		Title:   engines.FirstNonBlank(a.Title, tc.Title, "tool"),
		Preview: preview(tc),
	}
	for _, o := range r.Options {
		ask.Options = append(ask.Options, engines.AskOption{ID: o.ID, Label: o.Name, Description: o.Kind})
		if o.Kind == kindAllowAlways {
			ask.Always = true
		}
	}
	return ask
}

// toolName is the tool's name: ACP has kinds, not names, but agents such
// as opencode title a call by its tool's name ("bash") until its input is
// known; else the kind ("execute", "edit").
func (p *protocol) toolName(tc *toolCall) string {
	if n := p.names[tc.ToolCallID]; n != "" {
		return n
	}
	return tc.Kind
}

// preview is the compact view of what the tool would do: the command; the
// -/+ lines of an edit; the first lines of a new file.
func preview(tc *toolCall) string {
	in := engines.ObjectFields(tc.RawInput)
	if tc.Kind == "execute" {
		return engines.Clip(engines.FirstNonBlank(engines.FirstStringField(in, "command", "cmd"), tc.Title), maxPreviewLen)
	}
	for _, c := range contents(tc) {
		if c.Type != "diff" {
			continue
		}
		if c.OldText == nil || *c.OldText == "" {
			return firstLines(strings.Split(strings.TrimRight(c.NewText, "\n"), "\n"), "", maxPreviewLines)
		}
		return diffLines(*c.OldText, c.NewText)
	}
	if s := engines.FirstStringField(in, "content"); s != "" {
		return firstLines(strings.Split(strings.TrimRight(s, "\n"), "\n"), "", maxPreviewLines)
	}
	if old, ok := in["oldString"]; ok && old != nil {
		return diffLines(engines.FirstStringField(in, "oldString"), engines.FirstStringField(in, "newString"))
	}
	return engines.Clip(tc.Title, maxPreviewLen)
}

// diffLines shows the lines an edit changes: those of old, then those of
// new, without the lines both share at their start and end.
func diffLines(old, new string) string {
	o := strings.Split(strings.TrimRight(old, "\n"), "\n")
	n := strings.Split(strings.TrimRight(new, "\n"), "\n")
	for len(o) > 0 && len(n) > 0 && o[0] == n[0] {
		o, n = o[1:], n[1:]
	}
	for len(o) > 0 && len(n) > 0 && o[len(o)-1] == n[len(n)-1] {
		o, n = o[:len(o)-1], n[:len(n)-1]
	}
	half := maxPreviewLines / 2
	return engines.Clip(strings.Trim(firstLines(o, "-", half)+"\n"+firstLines(n, "+", half), "\n"), maxPreviewLen)
}

// firstLines keeps the first limit lines, each after mark, and ends with
// mark and "…" when there were more.
func firstLines(lines []string, mark string, limit int) string {
	var b strings.Builder
	for i, l := range lines {
		if i == limit {
			b.WriteString(mark + "…\n")
			break
		}
		b.WriteString(mark + engines.Clip(l, 200) + "\n")
	}
	return engines.Clip(strings.TrimRight(b.String(), "\n"), maxPreviewLen)
}
