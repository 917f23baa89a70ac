package amp

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// cancelled starts the error of a result written after SIGINT or SIGTERM.
const cancelled = "User cancelled"

// cleanError turns the error of a failed result into one human sentence.
// An API error, which Amp passes on as "<status> <body>", becomes
// "API error 500 (api_error): <message>"; a cancelled run says it was
// interrupted, since the bridge, not a user, stops it; anything else is
// kept on one line.
func cleanError(msg string) string {
	msg = strings.TrimSpace(msg)
	if rest, ok := strings.CutPrefix(msg, cancelled); ok {
		switch rest = oneLine(rest, 100); {
		case rest == "":
			return "amp was interrupted"
		case strings.HasPrefix(rest, "("):
			return "amp was interrupted " + rest
		default:
			return "amp was interrupted: " + strings.TrimLeft(rest, ":.;, ")
		}
	}
	if status, body, ok := cutHTTPStatus(msg); ok {
		return apiError(status, body)
	}
	return oneLine(msg, maxErrorLen)
}

// cutHTTPStatus splits "500 {...}" into the status and the rest.
func cutHTTPStatus(msg string) (status, rest string, ok bool) {
	if len(msg) < 3 || (len(msg) > 3 && msg[3] != ' ') {
		return "", "", false
	}
	for i := range 3 {
		if msg[i] < '0' || msg[i] > '9' {
			return "", "", false
		}
	}
	return msg[:3], strings.TrimSpace(msg[3:]), true
}

// apiError describes an API error from its HTTP status and body, an
// Anthropic error {"type":"error","error":{"type","message"}} or plain text.
func apiError(status, body string) string {
	var wire struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	head := "API error " + status
	if json.Unmarshal([]byte(body), &wire) == nil && strings.TrimSpace(wire.Error.Message) != "" {
		if t := oneLine(wire.Error.Type, 40); t != "" {
			head += " (" + t + ")"
		}
		return head + ": " + oneLine(wire.Error.Message, maxErrorLen)
	}
	if body = oneLine(body, maxErrorLen); body != "" {
		return head + ": " + body
	}
	return head
}

// stderrTail returns the last non-empty lines of stderr, at most
// maxStderrLines and about maxStderrLen runes, joined into one line, without
// terminal escape codes.
func stderrTail(stderr string) string {
	const maxStderrLines, maxStderrLen = 3, 500
	lines := strings.Split(strings.ToValidUTF8(stripANSI(stderr), "\uFFFD"), "\n")
	var tail []string
	n := 0
	for i := len(lines) - 1; i >= 0 && len(tail) < maxStderrLines; i-- {
		line := oneLine(lines[i], maxStderrLen)
		if line == "" {
			continue
		}
		runes := utf8.RuneCountInString(line)
		if n > 0 && n+runes > maxStderrLen {
			break
		}
		tail = append(tail, line)
		n += runes
	}
	slices.Reverse(tail)
	return clip(strings.Join(tail, "; "), maxStderrLen)
}

// stripANSI removes terminal escape sequences (CSI "ESC [ ... final" and
// two-byte ones) from s.
func stripANSI(s string) string {
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

// oneLine collapses all whitespace, newlines included, to single spaces and
// clips the result to n runes. It reads no more of s than it needs, so a
// 10 MB command costs no more than a short one.
func oneLine(s string, n int) string {
	var b strings.Builder
	runes, space := 0, false
	for _, r := range s {
		if runes > n {
			break // one rune past the limit is enough for clip to mark the cut
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
	return clip(b.String(), n)
}

// clip shortens s to at most n runes, marking a cut with "…".
func clip(s string, n int) string {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i] + "…"
}
