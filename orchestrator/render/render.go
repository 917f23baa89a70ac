// Package render turns the Markdown an agent writes into Telegram message
// parts: plain text plus formatting entities, split to fit Telegram's length
// limit. It owns the Markdown dialect the bot understands and how each
// construct looks in a chat.
//
// It is the only package that imports github.com/yuin/goldmark; it imports
// nothing of the orchestrator but its vocabulary (orchestrator.Text) and
// must not import the chat transport. No parse_mode escaping happens here:
// formatting travels as entities only.
package render

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"

	"github.com/untether-go/untether/orchestrator"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Markdown renders md and splits the result into parts of at most maxUnits
// UTF-16 code units each, the unit Telegram counts. Entity offsets and
// lengths are bytes of each part's S. Splits prefer block boundaries, then
// line boundaries, then a cut at a rune boundary; an entity crossing a cut
// is split into one entity per part, so a code block cut in two is closed in
// one part and reopened, with its language, in the next. A maxUnits below 1
// means no limit. Markdown never panics and returns nil for empty output.
func Markdown(md string, maxUnits int) []orchestrator.Text {
	b := render(strings.ToValidUTF8(md, "\uFFFD"))
	sortEntities(b.ents)
	return split(b, maxUnits)
}

// parser is stateless after construction and safe for concurrent use.
var parser = goldmark.New(goldmark.WithExtensions(extension.Strikethrough)).Parser()

func render(md string) *buf {
	src := []byte(md)
	doc := parser.Parse(text.NewReader(src))
	r := &renderer{src: src}
	return r.blocks(doc, "\n\n", true)
}

// buf is text under construction with its entities (byte offsets) and, for
// the top level, the offsets where one block ends and the next begins.
type buf struct {
	s      strings.Builder
	ents   []orchestrator.Entity
	breaks []int
}

func (b *buf) write(s string) { b.s.WriteString(s) }

// wrap runs fill and covers whatever it wrote with an entity like e. The
// entity goes before those fill added, so that after the stable sort an
// outer entity precedes an inner one covering the same range.
func (b *buf) wrap(e orchestrator.Entity, fill func()) {
	start, first := b.s.Len(), len(b.ents)
	fill()
	if n := b.s.Len() - start; n > 0 {
		e.Offset, e.Length = start, n
		b.ents = append(b.ents[:first], append([]orchestrator.Entity{e}, b.ents[first:]...)...)
	}
}

func (b *buf) styled(typ orchestrator.EntityType, s string) {
	b.wrap(orchestrator.Entity{Type: typ}, func() { b.write(s) })
}

func (b *buf) append(o *buf) {
	base := b.s.Len()
	b.s.WriteString(o.s.String())
	for _, e := range o.ents {
		e.Offset += base
		b.ents = append(b.ents, e)
	}
	for _, p := range o.breaks {
		b.breaks = append(b.breaks, p+base)
	}
}

type renderer struct {
	src        []byte
	quoteDepth int
}

// blocks renders the block children of parent joined by sep, skipping
// blocks that render to nothing.
func (r *renderer) blocks(parent ast.Node, sep string, top bool) *buf {
	out := &buf{}
	for c := parent.FirstChild(); c != nil; c = c.NextSibling() {
		cb := r.block(c)
		if cb.s.Len() == 0 {
			continue
		}
		if out.s.Len() > 0 {
			if top {
				out.breaks = append(out.breaks, out.s.Len())
			}
			out.write(sep)
		}
		out.append(cb)
	}
	return out
}

func (r *renderer) block(n ast.Node) *buf {
	b := &buf{}
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		r.inlines(n, b)
	case *ast.Heading:
		b.wrap(orchestrator.Entity{Type: orchestrator.EntityBold}, func() { r.inlines(n, b) })
	case *ast.ThematicBreak:
		b.write("———")
	case *ast.FencedCodeBlock:
		lang := strings.ToValidUTF8(string(n.Language(r.src)), "")
		r.code(b, n, lang)
	case *ast.CodeBlock:
		r.code(b, n, "")
	case *ast.HTMLBlock:
		s := r.lines(n)
		if n.HasClosure() {
			s += string(n.ClosureLine.Value(r.src))
		}
		b.write(strings.TrimRight(s, "\n"))
	case *ast.Blockquote:
		r.quoteDepth++
		inner := r.blocks(n, "\n\n", false)
		r.quoteDepth--
		if r.quoteDepth > 0 { // Telegram rejects nested blockquotes.
			b.append(inner)
			break
		}
		b.wrap(orchestrator.Entity{Type: orchestrator.EntityBlockquote}, func() { b.append(inner) })
	case *ast.List:
		r.list(b, n)
	default:
		if n.HasChildren() {
			return r.blocks(n, "\n\n", false)
		}
		if n.Type() == ast.TypeBlock {
			b.write(strings.TrimRight(r.lines(n), "\n"))
		}
	}
	return b
}

func (r *renderer) lines(n ast.Node) string {
	var sb strings.Builder
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		sb.Write(seg.Value(r.src))
	}
	return sb.String()
}

func (r *renderer) code(b *buf, n ast.Node, lang string) {
	s := strings.TrimRight(r.lines(n), "\n")
	if strings.TrimSpace(s) == "" {
		return
	}
	b.wrap(orchestrator.Entity{Type: orchestrator.EntityPre, Language: lang}, func() { b.write(s) })
}

func (r *renderer) list(b *buf, n *ast.List) {
	sep := "\n"
	if !n.IsTight {
		sep = "\n\n"
	}
	num := n.Start
	first := true
	for item := n.FirstChild(); item != nil; item = item.NextSibling() {
		marker := "• "
		if n.IsOrdered() {
			marker = fmt.Sprintf("%d. ", num)
			num++
		}
		inner := r.blocks(item, sep, false)
		if !first {
			b.write(sep)
		}
		first = false
		b.append(indent(inner, marker, strings.Repeat(" ", len([]rune(marker)))))
	}
}

// indent prefixes the first line of in with first and every later non-empty
// line with rest, keeping entities on the text they covered.
func indent(in *buf, first, rest string) *buf {
	s := in.s.String()
	type ins struct{ pos, n int }
	var at []ins
	var sb strings.Builder
	for i := 0; i <= len(s); i++ {
		lineStart := i == 0 || s[i-1] == '\n'
		if lineStart {
			p := rest
			if i == 0 {
				p = first
			} else if i == len(s) || s[i] == '\n' {
				p = ""
			}
			if p != "" {
				at = append(at, ins{i, len(p)})
				sb.WriteString(p)
			}
		}
		if i < len(s) {
			sb.WriteByte(s[i])
		}
	}
	// shift maps an old offset to the new one; inclusive says whether an
	// insertion exactly at p lies before it (true for entity starts).
	shift := func(p int, inclusive bool) int {
		d := 0
		for _, x := range at {
			if x.pos < p || (inclusive && x.pos == p) {
				d += x.n
			}
		}
		return p + d
	}
	out := &buf{}
	out.s.WriteString(sb.String())
	for _, e := range in.ents {
		start, end := shift(e.Offset, true), shift(e.Offset+e.Length, false)
		e.Offset, e.Length = start, end-start
		out.ents = append(out.ents, e)
	}
	return out
}

func (r *renderer) inlines(parent ast.Node, b *buf) {
	for c := parent.FirstChild(); c != nil; c = c.NextSibling() {
		r.inline(c, b)
	}
}

func (r *renderer) inline(n ast.Node, b *buf) {
	switch n := n.(type) {
	case *ast.Text:
		v := n.Value(r.src)
		if !n.IsRaw() {
			v = unescape(v)
		}
		b.write(string(v))
		if n.HardLineBreak() || n.SoftLineBreak() {
			b.write("\n")
		}
	case *ast.String:
		b.write(string(n.Value))
	case *ast.CodeSpan:
		b.styled(orchestrator.EntityCode, strings.ReplaceAll(r.plain(n), "\n", " "))
	case *ast.Emphasis:
		typ := orchestrator.EntityItalic
		if n.Level >= 2 {
			typ = orchestrator.EntityBold
		}
		b.wrap(orchestrator.Entity{Type: typ}, func() { r.inlines(n, b) })
	case *east.Strikethrough:
		b.wrap(orchestrator.Entity{Type: orchestrator.EntityStrikethrough}, func() { r.inlines(n, b) })
	case *ast.Link:
		r.link(b, n, string(unescape(n.Destination)))
	case *ast.Image:
		dest := string(unescape(n.Destination))
		r.inlines(n, b)
		r.urlSuffix(b, dest)
	case *ast.AutoLink:
		label := string(n.Label(r.src))
		if n.AutoLinkType == ast.AutoLinkEmail {
			b.write(label)
			break
		}
		if dest := string(n.URL(r.src)); linkable(dest) {
			b.wrap(orchestrator.Entity{Type: orchestrator.EntityTextLink, URL: dest}, func() { b.write(label) })
		} else {
			b.styled(orchestrator.EntityCode, label)
		}
	case *ast.RawHTML:
		for i := 0; i < n.Segments.Len(); i++ {
			seg := n.Segments.At(i)
			b.write(string(seg.Value(r.src)))
		}
	default:
		r.inlines(n, b)
	}
}

func (r *renderer) link(b *buf, n *ast.Link, dest string) {
	if linkable(dest) {
		b.wrap(orchestrator.Entity{Type: orchestrator.EntityTextLink, URL: dest}, func() {
			start := b.s.Len()
			r.inlines(n, b)
			if b.s.Len() == start {
				b.write(dest)
			}
		})
		return
	}
	start := b.s.Len()
	r.inlines(n, b)
	if b.s.String()[start:] == dest {
		// The text is the URL itself: show it once, as code.
		b.ents = dropFrom(b.ents, start)
		trimmed := b.s.String()[:start]
		b.s.Reset()
		b.s.WriteString(trimmed)
		b.styled(orchestrator.EntityCode, dest)
		return
	}
	r.urlSuffix(b, dest)
}

// urlSuffix appends " (url)" with the URL as code, or just the URL when
// nothing precedes it on the line.
func (r *renderer) urlSuffix(b *buf, dest string) {
	if dest == "" {
		return
	}
	if s := b.s.String(); s != "" && !strings.HasSuffix(s, "\n") {
		b.write(" (")
		b.styled(orchestrator.EntityCode, dest)
		b.write(")")
		return
	}
	b.styled(orchestrator.EntityCode, dest)
}

func dropFrom(ents []orchestrator.Entity, start int) []orchestrator.Entity {
	out := ents[:0]
	for _, e := range ents {
		if e.Offset < start {
			out = append(out, e)
		}
	}
	return out
}

// plain is the literal text under n, for code spans.
func (r *renderer) plain(n ast.Node) string {
	var sb strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			sb.Write(c.Value(r.src))
		case *ast.String:
			sb.Write(c.Value)
		default:
			sb.WriteString(r.plain(c))
		}
	}
	return sb.String()
}

func unescape(v []byte) []byte {
	v = util.UnescapePunctuations(v)
	v = util.ResolveNumericReferences(v)
	return util.ResolveEntityNames(v)
}

// linkable reports whether Telegram accepts dest as a text_link URL: http or
// https to a public-looking host. Telegram rejects the rest, failing the
// whole message.
func linkable(dest string) bool {
	if strings.ContainsAny(dest, " \t\n") {
		return false
	}
	u, err := url.Parse(dest)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if host == "" || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return !ip.IsLoopback() && !ip.IsUnspecified() && strings.Contains(host, ".")
	}
	return strings.Contains(strings.Trim(host, "."), ".")
}

// sortEntities orders entities by start, outer before inner.
func sortEntities(ents []orchestrator.Entity) {
	sort.SliceStable(ents, func(i, j int) bool {
		if ents[i].Offset != ents[j].Offset {
			return ents[i].Offset < ents[j].Offset
		}
		return ents[i].Length > ents[j].Length
	})
}
