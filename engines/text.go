package engines

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// OneLine collapses all whitespace, newlines included, to single spaces,
// trims it from both ends and clips the result to max runes as Clip does.
// It reads no more of s than it needs, so a 10 MB command costs no more
// than a short one.
func OneLine(s string, max int) string {
	var b strings.Builder
	runes, space := 0, false
	for _, r := range s {
		if runes > max {
			break // one rune past the limit is enough for Clip to mark the cut
		}
		if unicode.IsSpace(r) {
			space = runes > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			runes++
			space = false
		}
		b.WriteRune(r)
		runes++
	}
	return Clip(b.String(), max)
}

// Clip shortens s to at most max runes, the last of which is "…" when s
// was cut. It never splits a rune.
func Clip(s string, max int) string {
	if len(s) <= max || utf8.RuneCountInString(s) <= max {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < max-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i] + "…"
}

// StripANSI removes terminal escape sequences from s: CSI sequences
// ("ESC [ ... final byte") whole, and any other escape with the byte after
// it.
func StripANSI(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != 0x1b {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		i++
	}
	return b.String()
}

// StderrTail returns the last lines of stderr that say something, each
// made one line with OneLine, joined with "; " in their order: at most
// maxLines of them and about maxRunes runes, the whole clipped to maxRunes.
// Blank lines are skipped, and so are the lines skip reports (it sees the
// line after OneLine; nil skips none). Invalid UTF-8 becomes U+FFFD.
func StderrTail(stderr string, maxLines, maxRunes int, skip func(line string) bool) string {
	lines := strings.Split(strings.ToValidUTF8(stderr, "\uFFFD"), "\n")
	var tail []string
	n := 0
	for i := len(lines) - 1; i >= 0 && len(tail) < maxLines; i-- {
		line := OneLine(lines[i], maxRunes)
		if line == "" || skip != nil && skip(line) {
			continue
		}
		runes := utf8.RuneCountInString(line)
		if n > 0 && n+runes > maxRunes {
			break
		}
		tail = append(tail, line)
		n += runes
	}
	slices.Reverse(tail)
	return Clip(strings.Join(tail, "; "), maxRunes)
}

// SignalName names the signal behind a shell-style exit code (128+n) of
// the ways a run is stopped: SIGINT, SIGKILL or SIGTERM. ok is false for
// any other code.
func SignalName(exitCode int) (name string, ok bool) {
	switch exitCode {
	case 130:
		return "SIGINT", true
	case 137:
		return "SIGKILL", true
	case 143:
		return "SIGTERM", true
	}
	return "", false
}

// StopReason is the sentence for a run that was stopped rather than one
// that ended by itself, most specific first: the caller's Cause, then
// "<engine> was interrupted (signal SIGTERM)" for the exit code of a
// stopping signal, then "<engine> was interrupted" for a negative code (no
// exit status at all). ok is false when the process exited by itself.
func StopReason(engine string, exit Exit) (reason string, ok bool) {
	if cause := strings.TrimSpace(exit.Cause); cause != "" {
		return cause, true
	}
	if sig, ok := SignalName(exit.Code); ok {
		return engine + " was interrupted (signal " + sig + ")", true
	}
	if exit.Code < 0 {
		return engine + " was interrupted", true
	}
	return "", false
}

// ExitError is the sentence for a run whose stream ended before it
// completed, most specific first: the StopReason; else failure, what the
// stream itself said went wrong, when it is not empty; else "<engine>
// exited with code N" ("<engine> exited without an answer" for code 0),
// followed by ": " and detail, such as the tail of stderr, when detail is
// not empty.
func ExitError(engine string, exit Exit, failure, detail string) string {
	if reason, ok := StopReason(engine, exit); ok {
		return reason
	}
	if failure != "" {
		return failure
	}
	msg := engine + " exited with code " + strconv.Itoa(exit.Code)
	if exit.Code == 0 {
		msg = engine + " exited without an answer"
	}
	if detail != "" {
		msg += ": " + detail
	}
	return msg
}

// FlagSafe keeps a flag's value, such as a prompt, from being read as a
// flag itself: a value that starts with '-' gets one leading space.
func FlagSafe(value string) string {
	if strings.HasPrefix(value, "-") {
		return " " + value
	}
	return value
}

// FirstNonBlank returns the first of vs that is not blank, else "".
func FirstNonBlank(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// FirstLine returns the first line of text that is not blank, made one
// line with OneLine(line, max), else "".
func FirstLine(text string, max int) string {
	for line := range strings.SplitSeq(text, "\n") {
		if line = OneLine(line, max); line != "" {
			return line
		}
	}
	return ""
}

// RelPath shows p relative to cwd when it lies under it, else unchanged.
func RelPath(p, cwd string) string {
	dir := strings.TrimSuffix(cwd, "/")
	if dir == "" || !strings.HasPrefix(p, dir+"/") || len(p) == len(dir)+1 {
		return p
	}
	return p[len(dir)+1:]
}
