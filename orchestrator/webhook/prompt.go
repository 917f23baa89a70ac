package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// MaxPrompt is the most bytes of a rendered prompt handed to Fire; the rest
// is cut.
const MaxPrompt = 8 << 10

// Names of the functions the rewritten templates call. They are unlikely to
// clash with anything a user writes, and harmless if called.
const (
	fieldFunc = "webhookField"
	showFunc  = "webhookShow"
)

var promptFuncs = template.FuncMap{fieldFunc: field, showFunc: show}

// ParseTemplate parses a prompt template as New does, so that a caller can
// check one before it builds Options. Its error names no hook. Errors that
// depend on the body (index out of range, a field given arguments) show
// only when a call renders it: that call is answered 422.
func ParseTemplate(text string) (*template.Template, error) {
	t, err := template.New("prompt").Funcs(promptFuncs).Parse(text)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "template: "))
	}
	var called []string
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			rewriteList(tt.Tree, tt.Tree.Root, &called)
		}
	}
	for _, name := range called {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("template %q is called but not defined", name)
		}
	}
	return t, nil
}

// render executes t over body and returns the trimmed output, cut at
// MaxPrompt bytes on a rune boundary.
func render(t *template.Template, body any) (string, error) {
	w := &capped{max: MaxPrompt + utf8.UTFMax}
	err := t.Execute(w, body)
	if err != nil && !errors.Is(err, errCapped) {
		return "", errors.New(strings.TrimPrefix(err.Error(), "template: "))
	}
	out := strings.TrimSpace(w.buf.String())
	if len(out) > MaxPrompt {
		cut := MaxPrompt
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = strings.TrimSpace(out[:cut])
	}
	return out, nil
}

var errCapped = errors.New("prompt too long")

// capped is a writer that stops a template once it has written max bytes,
// so that a range over a huge array cannot build a huge prompt.
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if len(p) > room {
		c.buf.Write(p[:max(room, 0)])
		return max(room, 0), errCapped
	}
	return c.buf.Write(p)
}

// field walks path down from v through JSON objects. A missing key, a null
// or a value that is not an object on the way yields nil.
func field(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// show prints what an action yields: nil (a missing field, a JSON null) as
// nothing, anything else as text/template would.
func show(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// The rewrite turns every field access (.a.b, $x.a.b, (pipe).a) into a call
// of field, which never fails on a missing key, and ends every printing
// action with show, which prints nil as nothing. text/template alone prints
// "<no value>" for a missing map key, even with missingkey=zero, and fails
// on a field below a missing one.

// rewriteList rewrites the nodes of l and adds the names of the templates
// they call to called.
func rewriteList(tr *parse.Tree, l *parse.ListNode, called *[]string) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			rewritePipe(tr, n.Pipe)
			if len(n.Pipe.Decl) == 0 {
				n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{
					NodeType: parse.NodeCommand, Pos: n.Pos,
					Args: []parse.Node{parse.NewIdentifier(showFunc).SetTree(tr).SetPos(n.Pos)},
				})
			}
		case *parse.IfNode:
			rewriteBranch(tr, &n.BranchNode, called)
		case *parse.RangeNode:
			rewriteBranch(tr, &n.BranchNode, called)
		case *parse.WithNode:
			rewriteBranch(tr, &n.BranchNode, called)
		case *parse.TemplateNode:
			rewritePipe(tr, n.Pipe)
			*called = append(*called, n.Name)
		case *parse.ListNode:
			rewriteList(tr, n, called)
		}
	}
}

func rewriteBranch(tr *parse.Tree, b *parse.BranchNode, called *[]string) {
	rewritePipe(tr, b.Pipe)
	rewriteList(tr, b.List, called)
	rewriteList(tr, b.ElseList, called)
}

func rewritePipe(tr *parse.Tree, p *parse.PipeNode) {
	if p == nil {
		return
	}
	for _, c := range p.Cmds {
		for i, arg := range c.Args {
			// A field given arguments is a method call; left alone, it
			// fails as it should (maps have no methods).
			if i == 0 && len(c.Args) > 1 {
				if _, ok := arg.(*parse.FieldNode); ok {
					continue
				}
			}
			c.Args[i] = rewriteArg(tr, arg)
		}
	}
}

// rewriteArg returns the node that replaces arg.
func rewriteArg(tr *parse.Tree, arg parse.Node) parse.Node {
	switch a := arg.(type) {
	case *parse.FieldNode:
		return fieldCall(tr, a.Pos, &parse.DotNode{NodeType: parse.NodeDot, Pos: a.Pos}, a.Ident)
	case *parse.VariableNode:
		if len(a.Ident) > 1 {
			v := &parse.VariableNode{NodeType: parse.NodeVariable, Pos: a.Pos, Ident: a.Ident[:1]}
			return fieldCall(tr, a.Pos, v, a.Ident[1:])
		}
	case *parse.ChainNode:
		return fieldCall(tr, a.Pos, rewriteArg(tr, a.Node), a.Field)
	case *parse.PipeNode:
		rewritePipe(tr, a)
	}
	return arg
}

// fieldCall builds (webhookField from "k1" "k2" ...).
func fieldCall(tr *parse.Tree, pos parse.Pos, from parse.Node, path []string) parse.Node {
	args := []parse.Node{parse.NewIdentifier(fieldFunc).SetTree(tr).SetPos(pos), from}
	for _, k := range path {
		args = append(args, &parse.StringNode{NodeType: parse.NodeString, Pos: pos, Quoted: strconv.Quote(k), Text: k})
	}
	return &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos,
		Cmds: []*parse.CommandNode{{NodeType: parse.NodeCommand, Pos: pos, Args: args}}}
}
