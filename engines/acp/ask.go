package acp

import (
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
			return engines.PreviewText(c.NewText)
		}
		return engines.PreviewEdit(*c.OldText, c.NewText)
	}
	if s := engines.FirstStringField(in, "content"); s != "" {
		return engines.PreviewText(s)
	}
	if old, ok := in["oldString"]; ok && old != nil {
		return engines.PreviewEdit(engines.FirstStringField(in, "oldString"), engines.FirstStringField(in, "newString"))
	}
	return engines.Clip(tc.Title, maxPreviewLen)
}
