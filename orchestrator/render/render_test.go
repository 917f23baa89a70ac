package render

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/untether-go/untether/orchestrator"
)

// span is an entity as the substring it covers, for readable expectations.
type span struct {
	typ  orchestrator.EntityType
	text string
	lang string
	url  string
}

func spans(t orchestrator.Text) []span {
	var out []span
	for _, e := range t.Entities {
		out = append(out, span{e.Type, t.S[e.Offset : e.Offset+e.Length], e.Language, e.URL})
	}
	return out
}

func TestMarkdownConstructs(t *testing.T) {
	const (
		bold   = orchestrator.EntityBold
		italic = orchestrator.EntityItalic
		strike = orchestrator.EntityStrikethrough
		code   = orchestrator.EntityCode
		pre    = orchestrator.EntityPre
		link   = orchestrator.EntityTextLink
		quote  = orchestrator.EntityBlockquote
	)
	tests := []struct {
		name  string
		md    string
		want  string
		spans []span
	}{
		{"plain", "hello", "hello", nil},
		{"paragraphs", "one\n\n\n\ntwo", "one\n\ntwo", nil},
		{"heading", "# Title\n\nbody", "Title\n\nbody", []span{{typ: bold, text: "Title"}}},
		{"bold", "a **b** c", "a b c", []span{{typ: bold, text: "b"}}},
		{"italic", "a *b* _c_", "a b c", []span{{typ: italic, text: "b"}, {typ: italic, text: "c"}}},
		{"strike", "a ~~gone~~", "a gone", []span{{typ: strike, text: "gone"}}},
		{"nested", "**bold *both***", "bold both", []span{{typ: bold, text: "bold both"}, {typ: italic, text: "both"}}},
		{"code span", "run `go test` now", "run go test now", []span{{typ: code, text: "go test"}}},
		{"code keeps markup", "`**x** <b>`", "**x** <b>", []span{{typ: code, text: "**x** <b>"}}},
		{"fenced", "```go\nfunc f() {}\n```", "func f() {}", []span{{typ: pre, text: "func f() {}", lang: "go"}}},
		{"fenced no lang", "```\na\n\nb\n```", "a\n\nb", []span{{typ: pre, text: "a\n\nb"}}},
		{"indented code", "text\n\n    x := 1\n    y := 2", "text\n\nx := 1\ny := 2", []span{{typ: pre, text: "x := 1\ny := 2"}}},
		{"bullets", "- a\n- b\n  - c", "• a\n• b\n  • c", nil},
		{"numbered", "3. a\n4. **b**", "3. a\n4. b", []span{{typ: bold, text: "b"}}},
		{"quote", "> quoted **x**\n\nafter", "quoted x\n\nafter", []span{{typ: quote, text: "quoted x"}, {typ: bold, text: "x"}}},
		{"nested quote flattened", "> a\n>> b", "a\n\nb", []span{{typ: quote, text: "a\n\nb"}}},
		{"raw html", "a <b>x</b> &amp; y", "a <b>x</b> & y", nil},
		{"html block", "<div>\nhi\n</div>", "<div>\nhi\n</div>", nil},
		{"escapes", `\*not\* \_em\_`, "*not* _em_", nil},
		{"image", "![logo](https://example.com/a.png)", "logo (https://example.com/a.png)", []span{{typ: code, text: "https://example.com/a.png"}}},
		{"hard break", "a  \nb", "a\nb", nil},
		{"rule", "a\n\n---\n\nb", "a\n\n———\n\nb", nil},
		{"link", "see [docs](https://go.dev/doc)", "see docs", []span{{typ: link, text: "docs", url: "https://go.dev/doc"}}},
		{"telegram parse_mode chars stay literal", "a_b [c] (d) <e> 1.5!", "a_b [c] (d) <e> 1.5!", nil},
		{"emoji and cyrillic", "**Привет 👋**", "Привет 👋", []span{{typ: bold, text: "Привет 👋"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := Markdown(tt.md, 4096)
			if len(parts) != 1 {
				t.Fatalf("got %d parts: %#v", len(parts), parts)
			}
			if parts[0].S != tt.want {
				t.Errorf("S = %q, want %q", parts[0].S, tt.want)
			}
			if got := spans(parts[0]); fmt.Sprint(got) != fmt.Sprint(tt.spans) {
				t.Errorf("entities = %v, want %v", got, tt.spans)
			}
			checkParts(t, tt.md, parts, 4096)
		})
	}
}

func TestMarkdownLinks(t *testing.T) {
	tests := []struct {
		name, md, want string
		spans          []span
	}{
		{"https", "[x](https://example.com)", "x", []span{{orchestrator.EntityTextLink, "x", "", "https://example.com"}}},
		{"http with port and path", "[x](http://a.example.org:8080/p?q=1)", "x", []span{{orchestrator.EntityTextLink, "x", "", "http://a.example.org:8080/p?q=1"}}},
		{"localhost", "[app](http://localhost:3000)", "app (http://localhost:3000)", []span{{orchestrator.EntityCode, "http://localhost:3000", "", ""}}},
		{"loopback v4", "[app](http://127.0.0.1:8000/x)", "app (http://127.0.0.1:8000/x)", []span{{orchestrator.EntityCode, "http://127.0.0.1:8000/x", "", ""}}},
		{"loopback v6", "[app](http://[::1]:80/)", "app (http://[::1]:80/)", []span{{orchestrator.EntityCode, "http://[::1]:80/", "", ""}}},
		{"no dot", "[box](http://intranet/)", "box (http://intranet/)", []span{{orchestrator.EntityCode, "http://intranet/", "", ""}}},
		{"file scheme", "[f](file:///etc/hosts)", "f (file:///etc/hosts)", []span{{orchestrator.EntityCode, "file:///etc/hosts", "", ""}}},
		{"relative", "[main.go](src/main.go)", "main.go (src/main.go)", []span{{orchestrator.EntityCode, "src/main.go", "", ""}}},
		{"text is url", "[http://localhost:8080](http://localhost:8080)", "http://localhost:8080", []span{{orchestrator.EntityCode, "http://localhost:8080", "", ""}}},
		{"autolink public", "<https://go.dev>", "https://go.dev", []span{{orchestrator.EntityTextLink, "https://go.dev", "", "https://go.dev"}}},
		{"autolink local", "<http://localhost>", "http://localhost", []span{{orchestrator.EntityCode, "http://localhost", "", ""}}},
		{"empty text", "[](https://go.dev)", "https://go.dev", []span{{orchestrator.EntityTextLink, "https://go.dev", "", "https://go.dev"}}},
		{"bold inside link", "[**b**](https://go.dev)", "b", []span{{orchestrator.EntityTextLink, "b", "", "https://go.dev"}, {orchestrator.EntityBold, "b", "", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := Markdown(tt.md, 4096)
			if len(parts) != 1 || parts[0].S != tt.want {
				t.Fatalf("got %#v, want S %q", parts, tt.want)
			}
			if got := spans(parts[0]); fmt.Sprint(got) != fmt.Sprint(tt.spans) {
				t.Errorf("entities = %v, want %v", got, tt.spans)
			}
		})
	}
}

func TestMarkdownSplitsLongAnswer(t *testing.T) {
	var md strings.Builder
	var codeLines []string
	for i := 0; md.Len() < 20000 || utf8.RuneCountInString(md.String()) < 20000; i++ {
		fmt.Fprintf(&md, "## Раздел %d 🚀\n\nПривет, мир! Это **важный** абзац номер %d с эмодзи 😀🎉 и 中文字符. ", i, i)
		md.WriteString(strings.Repeat("Lorem ipsum dolor sit amet 👍 ", 8) + "\n\n")
		md.WriteString("```python\n")
		for j := range 30 {
			line := fmt.Sprintf("print('строка %d-%d 🐍')", i, j)
			codeLines = append(codeLines, line)
			md.WriteString(line + "\n")
		}
		md.WriteString("```\n\n- item one\n- item two\n\n")
	}
	const limit = 4096
	parts := Markdown(md.String(), limit)
	if len(parts) < 5 {
		t.Fatalf("got %d parts for %d bytes", len(parts), md.Len())
	}
	checkParts(t, md.String(), parts, limit)

	inFence := make(map[string]bool, len(codeLines))
	for _, l := range codeLines {
		inFence[l] = true
	}
	seen := 0
	for i, p := range parts {
		for _, e := range p.Entities {
			if e.Type != orchestrator.EntityPre {
				continue
			}
			if e.Language != "python" {
				t.Errorf("part %d: pre language %q", i, e.Language)
			}
			for _, l := range strings.Split(p.S[e.Offset:e.Offset+e.Length], "\n") {
				if !inFence[l] {
					t.Errorf("part %d: pre covers %q, not a code line", i, l)
				}
				seen++
			}
		}
		// Code lines outside a pre entity would mean a broken fence.
		covered := make([]bool, len(p.S))
		for _, e := range p.Entities {
			if e.Type == orchestrator.EntityPre {
				for k := e.Offset; k < e.Offset+e.Length; k++ {
					covered[k] = true
				}
			}
		}
		off := 0
		for _, l := range strings.Split(p.S, "\n") {
			if inFence[l] && !covered[off] {
				t.Errorf("part %d: code line %q outside pre", i, l)
			}
			off += len(l) + 1
		}
	}
	if seen != len(codeLines) {
		t.Errorf("pre entities cover %d code lines, want %d", seen, len(codeLines))
	}
}

func TestMarkdownSplitsCodeBlockAcrossParts(t *testing.T) {
	md := "intro\n\n```sh\n" + strings.Repeat("echo hello world\n", 20) + "```"
	parts := Markdown(md, 100)
	checkParts(t, md, parts, 100)
	pres := 0
	for _, p := range parts {
		for _, e := range p.Entities {
			if e.Type == orchestrator.EntityPre {
				pres++
				if e.Language != "sh" {
					t.Errorf("language %q", e.Language)
				}
				if got := p.S[e.Offset : e.Offset+e.Length]; strings.Trim(strings.ReplaceAll(got, "echo hello world", ""), "\n") != "" {
					t.Errorf("pre covers %q", got)
				}
			}
		}
	}
	if pres < 3 {
		t.Errorf("code block reopened %d times, want several: %#v", pres, parts)
	}
}

func TestMarkdownHardCut(t *testing.T) {
	md := "**" + strings.Repeat("😀", 10) + "**"
	parts := Markdown(md, 5)
	checkParts(t, md, parts, 5)
	var all strings.Builder
	for _, p := range parts {
		all.WriteString(p.S)
		if len(p.Entities) != 1 || p.Entities[0].Type != orchestrator.EntityBold || p.Entities[0].Length != len(p.S) {
			t.Errorf("part %q entities %v, want one bold over all", p.S, p.Entities)
		}
	}
	if all.String() != strings.Repeat("😀", 10) {
		t.Errorf("joined %q", all.String())
	}
}

func TestMarkdownEmpty(t *testing.T) {
	for _, md := range []string{"", "\n\n", "```\n```", "   "} {
		if got := Markdown(md, 4096); len(got) != 0 {
			t.Errorf("Markdown(%q) = %#v, want none", md, got)
		}
	}
}

func units(s string) int { return len(utf16.Encode([]rune(s))) }

// checkParts asserts what Telegram needs of every part.
func checkParts(t *testing.T, md string, parts []orchestrator.Text, maxUnits int) {
	t.Helper()
	for i, p := range parts {
		if n := units(p.S); n > maxUnits || n == 0 {
			t.Fatalf("input %q part %d: %d UTF-16 units, limit %d", md, i, n, maxUnits)
		}
		if !utf8.ValidString(p.S) {
			t.Fatalf("input %q part %d: invalid UTF-8 %q", md, i, p.S)
		}
		for j, e := range p.Entities {
			end := e.Offset + e.Length
			if e.Length <= 0 || e.Offset < 0 || end > len(p.S) {
				t.Fatalf("input %q part %d: entity %+v out of range of %d bytes", md, i, e, len(p.S))
			}
			if !utf8.RuneStart(p.S[e.Offset]) || (end < len(p.S) && !utf8.RuneStart(p.S[end])) {
				t.Fatalf("input %q part %d: entity %+v splits a rune", md, i, e)
			}
			if e.Type == orchestrator.EntityTextLink && !linkable(e.URL) {
				t.Fatalf("input %q part %d: text_link to %q", md, i, e.URL)
			}
			for _, f := range p.Entities[j+1:] {
				fEnd := f.Offset + f.Length
				disjoint := fEnd <= e.Offset || end <= f.Offset
				eHoldsF := e.Offset <= f.Offset && fEnd <= end
				fHoldsE := f.Offset <= e.Offset && end <= fEnd
				if !disjoint && !eHoldsF && !fHoldsE {
					t.Fatalf("input %q part %d: entities %+v and %+v overlap", md, i, e, f)
				}
				if !disjoint {
					outer := e
					if !eHoldsF {
						outer = f
					}
					if outer.Type == orchestrator.EntityPre || outer.Type == orchestrator.EntityCode {
						t.Fatalf("input %q part %d: %+v nests inside %s", md, i, f, outer.Type)
					}
					if e.Type == orchestrator.EntityBlockquote && f.Type == orchestrator.EntityBlockquote {
						t.Fatalf("input %q part %d: nested blockquotes", md, i)
					}
				}
			}
		}
	}
}

func FuzzMarkdown(f *testing.F) {
	seeds := []string{
		"", "plain", "# h\n\n**b** *i* ~~s~~ `c`",
		"```go\nfunc main() {}\n```", "```\nunterminated",
		"- a\n  - b\n    1. c\n\n> q\n> > qq\n\n---",
		"[x](https://example.com) [y](http://localhost) <https://go.dev> ![i](http://127.0.0.1/a.png)",
		"[![img](https://a.b/c.png)](https://a.b)",
		"<div>\n*raw*\n</div>\n\na <span>b</span> &copy; &#128512;",
		"😀😀😀 Привет 中文 \x00 \xff\xfe",
		"> ```py\n> x = 1\n> ```\n- ```\n  code in list\n  ```",
		"***a** b*", "**`code` in bold**", "~~**both**~~", "a\\\nb  \nc",
		strings.Repeat("word ", 300), strings.Repeat("- item\n", 100), strings.Repeat(">", 50) + " deep",
		"```\n" + strings.Repeat("x", 500) + "\n```",
	}
	for _, s := range seeds {
		for _, n := range []int{1, 2, 7, 64, 4096} {
			f.Add(s, n)
		}
	}
	f.Fuzz(func(t *testing.T, md string, maxUnits int) {
		if maxUnits < 1 || maxUnits > 5000 {
			maxUnits = 1 + (maxUnits%5000+5000)%5000
		}
		checkParts(t, md, Markdown(md, maxUnits), maxUnits)
	})
}
