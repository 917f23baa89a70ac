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
			b.WriteString("… " + plural(len(lines)-i, "more line"))
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(Clip(l, PreviewWidth))
	}
	return b.String()
}

// PreviewEdit shows a replacement as - and + lines: the old text's lines,
// then the new text's, within PreviewLines together.
func PreviewEdit(old, new string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(old, "\n"), "\n") {
		if old != "" {
			lines = append(lines, "- "+l)
		}
	}
	for _, l := range strings.Split(strings.TrimRight(new, "\n"), "\n") {
		if new != "" {
			lines = append(lines, "+ "+l)
		}
	}
	return PreviewText(strings.Join(lines, "\n"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
