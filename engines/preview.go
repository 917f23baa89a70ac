package engines

import (
	"strconv"
	"strings"
)

// Previews of what an agent asks to do, for approval messages: short enough
// for a chat message on a phone, with enough to decide.
const (
	// PreviewLines bounds the lines of a preview.
	PreviewLines = 12
	// PreviewWidth bounds one line of a preview, in runes.
	PreviewWidth = 120
)

// PreviewText keeps the first PreviewLines lines of s, each cut at
// PreviewWidth runes, and says how many lines were left out.
func PreviewText(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var b strings.Builder
	for i, l := range lines {
		if i == PreviewLines {
			b.WriteString("\n… " + plural(len(lines)-i, "more line"))
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(Clip(l, PreviewWidth))
	}
	return b.String()
}

// PreviewEdit shows the lines an edit changes as - and + lines: old's,
// then new's, without the lines both share at their start and end, each
// side within half of PreviewLines.
func PreviewEdit(old, new string) string {
	o := splitLines(old)
	n := splitLines(new)
	for len(o) > 0 && len(n) > 0 && o[0] == n[0] {
		o, n = o[1:], n[1:]
	}
	for len(o) > 0 && len(n) > 0 && o[len(o)-1] == n[len(n)-1] {
		o, n = o[:len(o)-1], n[:len(n)-1]
	}
	half := PreviewLines / 2
	return strings.Trim(markedLines(o, "- ", half)+"\n"+markedLines(n, "+ ", half), "\n")
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// markedLines keeps the first limit lines, each after mark, and ends with
// mark and "…" when there were more.
func markedLines(lines []string, mark string, limit int) string {
	var b strings.Builder
	for i, l := range lines {
		if i == limit {
			b.WriteString(mark + "…\n")
			break
		}
		b.WriteString(mark + Clip(l, PreviewWidth) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
