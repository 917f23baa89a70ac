package gemini

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// apiErrorMarker prefixes the API error the CLI puts in a result's message.
const apiErrorMarker = "[API Error: "

// stderrAPIError precedes the API error's JSON body in the CLI's stderr
// reports ("Error when talking to Gemini API ... _ApiError: {...}").
const stderrAPIError = "ApiError: "

// cleanError turns an error message of the stream into one human sentence:
// "[API Error: {"error":{"code":401,...}}]" becomes
// "API error 401 (UNAUTHENTICATED): <message>"; anything else is kept on
// one line.
func cleanError(msg string) string {
	msg = strings.TrimSpace(msg)
	if inner, ok := strings.CutPrefix(msg, apiErrorMarker); ok {
		return apiError(strings.TrimSuffix(inner, "]"))
	}
	return oneLine(msg, maxErrorLen)
}

// apiError describes the text of an API error, which holds a Google API
// error body {"error":{"code","message","status"}} somewhere, as
// "API error 401 (UNAUTHENTICATED): <message>". A body whose message is
// itself such a body is described by the inner one.
func apiError(text string) string {
	body, ok := parseAPIError(text)
	if !ok {
		return "API error: " + oneLine(text, maxErrorLen)
	}
	if inner, ok := parseAPIError(body.Message); ok {
		body = inner
	}
	head := "API error"
	if body.Code != "" {
		head += " " + body.Code
	}
	if body.Status != "" {
		head += " (" + body.Status + ")"
	}
	return head + ": " + body.Message
}

// apiErrorBody is the part of a Google API error body worth showing.
type apiErrorBody struct {
	Code, Status, Message string
}

// parseAPIError reads the first JSON object in text as a Google API error
// body; ok is false when there is none or it has no message.
func parseAPIError(text string) (apiErrorBody, bool) {
	i := strings.IndexByte(text, '{')
	if i < 0 {
		return apiErrorBody{}, false
	}
	var wire struct {
		Error struct {
			Code    any    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	// A json.Decoder reads the first value and ignores the text after it.
	if json.NewDecoder(strings.NewReader(text[i:])).Decode(&wire) != nil {
		return apiErrorBody{}, false
	}
	body := apiErrorBody{
		Status:  oneLine(wire.Error.Status, 40),
		Message: oneLine(wire.Error.Message, maxErrorLen),
	}
	switch code := wire.Error.Code.(type) {
	case float64:
		body.Code = strconv.FormatFloat(code, 'f', -1, 64)
	case string:
		body.Code = oneLine(code, 20)
	}
	return body, body.Message != ""
}

// stderrTail returns the last lines of stderr that say something, at most
// maxStderrLines and about maxStderrLen runes, joined into one line. The
// CLI's start-up notices, retry reports and stack traces are skipped, and a
// reported API error is described by its body and ends the search: it is
// the most specific thing stderr has to say.
func stderrTail(stderr string) string {
	const maxStderrLines, maxStderrLen = 3, 500
	lines := strings.Split(strings.ToValidUTF8(stripANSI(stderr), "\uFFFD"), "\n")
	var tail []string
	n := 0
	for i := len(lines) - 1; i >= 0 && len(tail) < maxStderrLines; i-- {
		if stderrNoise(lines[i]) {
			continue
		}
		api := false
		line := oneLine(lines[i], maxStderrLen)
		if j := strings.Index(lines[i], stderrAPIError); j >= 0 {
			api = true
			line = apiError(lines[i][j+len(stderrAPIError):])
		}
		runes := utf8.RuneCountInString(line)
		if line == "" || slices.Contains(tail, line) {
			continue
		}
		if n > 0 && n+runes > maxStderrLen {
			break
		}
		tail = append(tail, line)
		n += runes
		if api {
			break
		}
	}
	slices.Reverse(tail)
	return clip(strings.Join(tail, "; "), maxStderrLen)
}

// stderrNoisePrefixes start the lines the CLI writes to stderr on every run,
// and its reports of API calls it will retry.
var stderrNoisePrefixes = []string{
	"Warning: 256-color support not detected",
	"YOLO mode is enabled",
	"Ripgrep is not available",
	"[STARTUP]",
	"Loaded cached credentials",
}

// stderrNoise reports whether a stderr line says nothing about why a run
// failed.
func stderrNoise(line string) bool {
	t := strings.TrimSpace(line)
	switch {
	case t == "", t == "{", t == "}":
		return true
	case len(t) < len(line) && strings.HasPrefix(t, "at "): // a stack frame
		return true
	case strings.HasPrefix(t, "status: "): // the status field of an inspected error
		return true
	case strings.HasPrefix(t, "Attempt ") && strings.Contains(t, " failed"):
		return true
	}
	for _, p := range stderrNoisePrefixes {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
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
