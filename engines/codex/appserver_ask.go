package codex

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/untether-go/untether/engines"
)

// serverRequest handles a request from app-server: an approval becomes an
// Ask, anything else is refused at once.
func (p *protocol) serverRequest(m *rpcMessage) ([]engines.Event, []byte, error) {
	id, ok := requestKey(m.ID)
	if !ok {
		return nil, nil, fmt.Errorf("decode codex request %s: bad id %s", m.Method, engines.Clip(string(m.ID), 40))
	}
	var a engines.Ask
	switch m.Method {
	case "item/commandExecution/requestApproval":
		a = commandAsk(m.Params)
	case "item/fileChange/requestApproval":
		a = p.fileChangeAsk(m.Params)
	default:
		return p.refuse(m)
	}
	if p.dec.done {
		return p.refuse(m)
	}
	if _, dup := p.asks[id]; dup {
		return nil, nil, fmt.Errorf("decode codex request %s: id %s asked twice", m.Method, id)
	}
	p.asks[id] = &ask{raw: append(json.RawMessage(nil), m.ID...)}
	a.ID, a.Kind, a.Always = id, engines.AskPermission, true
	return []engines.Event{a}, nil, nil
}

// refuse answers a request the bridge does not serve with a JSON-RPC error,
// so that codex goes on instead of waiting.
func (p *protocol) refuse(m *rpcMessage) ([]engines.Event, []byte, error) {
	b, err := engines.JSONLine(response{ID: m.ID, Error: &rpcError{Code: errMethodNotFound,
		Message: "untether does not serve " + engines.Clip(m.Method, 80)}})
	if err != nil {
		return nil, nil, fmt.Errorf("encode codex refusal of %s: %w", m.Method, err)
	}
	return nil, b, nil
}

// commandAsk asks to run a command: the preview is the command without
// codex's `/bin/bash -lc` wrapper, and codex's reason when it gives one.
func commandAsk(params json.RawMessage) engines.Ask {
	var r struct {
		Command string `json:"command"`
		Reason  string `json:"reason"`
	}
	_ = engines.UnmarshalLenient(params, &r)
	preview := commandTitle(r.Command)
	if s := strings.TrimSpace(r.Reason); s != "" {
		preview += "\n\n" + s
	}
	return engines.Ask{Tool: "commandExecution", Title: "Shell", Preview: preview}
}

// fileChangeAsk asks to apply a patch. The request names its item only; the
// changes come from the item's item/started, which codex sends first.
func (p *protocol) fileChangeAsk(params json.RawMessage) engines.Ask {
	var r struct {
		ItemID string `json:"itemId"`
		Reason string `json:"reason"`
	}
	_ = engines.UnmarshalLenient(params, &r)
	changes := p.changes[r.ItemID]
	var paths []string
	for _, c := range changes {
		paths = append(paths, engines.RelPath(c.Path, workspace))
	}
	title := "Edit files"
	if len(paths) > 0 {
		title = engines.OneLine("Edit "+strings.Join(paths, ", "), maxTitleLen)
	}
	preview := changePreview(changes)
	if s := strings.TrimSpace(r.Reason); s != "" {
		preview = strings.TrimSpace(preview + "\n\n" + s)
	}
	return engines.Ask{Tool: "fileChange", Title: title, Preview: preview}
}

// changePreview shows each changed file's path and its first -/+ lines: a
// new file's first lines as +, a deleted file's as -, and the changed lines
// of an update's unified diff.
func changePreview(changes []appChange) string {
	var b strings.Builder
	n := 0
	for _, c := range changes {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(engines.RelPath(c.Path, workspace))
		if c.Kind.Type != "update" {
			b.WriteString(" (" + c.Kind.Type + ")")
		}
		if strings.TrimSpace(c.Diff) == "" {
			continue
		}
		for _, l := range strings.Split(strings.TrimRight(c.Diff, "\n"), "\n") {
			switch c.Kind.Type {
			case "add":
				l = "+" + l
			case "delete":
				l = "-" + l
			default:
				if strings.HasPrefix(l, "+++") || strings.HasPrefix(l, "---") ||
					!strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "-") {
					continue
				}
			}
			if n == maxPreviewLines {
				b.WriteString("\n…")
				return b.String()
			}
			n++
			b.WriteString("\n" + engines.OneLine(l, maxTitleLen))
		}
	}
	return b.String()
}
