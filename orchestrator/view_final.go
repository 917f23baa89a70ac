package orchestrator

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
)

// finalView is what the final answer of a run is made of, apart from the
// engine's Completed event.
type finalView struct {
	// header is the progress view's header in its final state (see
	// progressView.header and finalState).
	header string
	runID  string
	// dir is the dirLine of a run in a worktree, "" for others.
	dir string
	// resumeLine is the engine's resume line for the session, "" when it is
	// not shown.
	resumeLine string
	// used is the resource footer (usageLine), "" for none.
	used string
	// render turns Markdown into message bodies (Options.Render); nil sends
	// answers as plain text.
	render func(markdown string, maxUnits int) []Text
	// notes are lines under the footer, such as about budgets.
	notes []string
	// hint is a line above the error of a failed run, "" for none.
	hint string
}

// finalState is the first word of a final answer's header.
func finalState(c engines.Completed) string {
	if c.OK {
		return "done"
	}
	return "error"
}

// finalTexts renders the final answer: header, body, footer, resume line;
// split into messages that fit Telegram's limit, footer on the last.
func finalTexts(v finalView, c engines.Completed) []Text {
	body := strings.TrimSpace(c.Answer)
	if !c.OK {
		body = strings.TrimSpace(c.Error)
		if body == "" {
			body = "The agent failed without saying why."
		}
		if v.hint != "" {
			body = v.hint + "\n" + body
		}
		body += fmt.Sprintf("\n(run %s)", v.runID)
	}
	if body == "" {
		body = "(no answer)"
	}

	// The footer: one line each, in this order, of what there is.
	var foot textBuilder
	line := func(style EntityType, text string) {
		if text == "" {
			return
		}
		if foot.b.Len() > 0 {
			foot.plain("\n")
		}
		if style == "" {
			foot.plain(text)
		} else {
			foot.styled(style, text)
		}
	}
	line("", v.dir)
	line("", footer(c))
	line("", v.used)
	for _, n := range v.notes {
		line("", n)
	}
	line(EntityCode, v.resumeLine)

	chunks := renderBody(v.render, body, c.OK)
	out := make([]Text, 0, len(chunks))
	for i, chunk := range chunks {
		var b textBuilder
		if i == 0 {
			b.styled(EntityBold, v.header)
			b.plain("\n\n")
		}
		b.append(chunk)
		if i == len(chunks)-1 && foot.b.Len() > 0 {
			b.plain("\n\n")
			b.append(foot.text())
		}
		out = append(out, b.text())
	}
	return out
}

// renderBody turns an answer into message bodies that fit Telegram: the
// agent's Markdown through render when set, else plain text split on
// paragraph boundaries. Error texts are never Markdown.
func renderBody(render func(string, int) []Text, body string, markdown bool) []Text {
	if markdown && render != nil {
		if parts := render(body, maxBodyUnits); len(parts) > 0 {
			return parts
		}
	}
	var out []Text
	for _, s := range splitText(body, maxBodyUnits) {
		out = append(out, plainText(s))
	}
	return out
}

// footer shows what the engine reported: model, cost, tokens.
func footer(c engines.Completed) string {
	var parts []string
	if c.Model != "" {
		parts = append(parts, c.Model)
	}
	if c.Usage.CostUSD > 0 {
		parts = append(parts, fmt.Sprintf("$%.4f", c.Usage.CostUSD))
	}
	if c.Usage.InputTokens > 0 || c.Usage.OutputTokens > 0 {
		parts = append(parts, fmt.Sprintf("%d in / %d out tokens", c.Usage.InputTokens, c.Usage.OutputTokens))
	}
	return strings.Join(parts, " · ")
}

// maxBodyUnits leaves room under Telegram's 4096 UTF-16 units for the
// header and footer around a chunk of the answer.
const maxBodyUnits = 3500

// splitText cuts s into pieces of at most limit UTF-16 units, preferring
// paragraph, then line, then word boundaries.
func splitText(s string, limit int) []string {
	var out []string
	for utf16Len(s) > limit {
		cut := cutPoint(s, limit)
		out = append(out, strings.TrimRight(s[:cut], " \n"))
		s = strings.TrimLeft(s[cut:], " \n")
	}
	return append(out, s)
}

// cutPoint is the byte index where the longest acceptable prefix ends.
func cutPoint(s string, limit int) int {
	units, end := 0, 0
	for i, r := range s {
		n := 1
		if r >= 0x10000 {
			n = 2
		}
		if units+n > limit {
			break
		}
		units += n
		end = i + utf8.RuneLen(r)
	}
	prefix := s[:end]
	for _, sep := range []string{"\n\n", "\n", " "} {
		if i := strings.LastIndex(prefix, sep); i > len(prefix)/2 {
			return i
		}
	}
	return end
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
