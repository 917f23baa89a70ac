package codex

import (
	"bytes"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// humanError turns a codex error message into the sentence a chat shows.
// Codex reports an HTTP failure of the model API as
// "unexpected status 401 Unauthorized: <body>, url: <endpoint>"; that becomes
// a sentence naming what went wrong, without the endpoint. Other messages,
// such as the generic text codex substitutes for a 5xx, are already meant for
// people and only lose their line breaks.
func humanError(msg string) string {
	msg = oneLine(msg, 4*maxErrorLen)
	rest, ok := strings.CutPrefix(msg, "unexpected status ")
	if !ok {
		return clip(msg, maxErrorLen)
	}
	rest, _, _ = strings.Cut(rest, ", url: ")
	status, body, _ := strings.Cut(rest, ": ")
	code := statusCode(status)
	if code == 0 {
		return clip(msg, maxErrorLen)
	}
	what := status
	if body = clip(strings.TrimSpace(bodyMessage(body)), maxDetailLen); body != "" {
		what += ": " + body
	}
	var sentence string
	switch {
	case code == 401 || code == 403:
		sentence = "The model API rejected codex's credentials"
	case code == 404:
		sentence = "The model API does not know the model or endpoint"
	case code == 429:
		sentence = "The model API is rate limiting codex"
	case code >= 500:
		sentence = "The model API failed"
	default:
		sentence = "The model API refused the request"
	}
	return clip(sentence+" ("+what+")", maxErrorLen)
}

// statusCode is the HTTP status code status starts with ("401
// Unauthorized"), else 0.
func statusCode(status string) int {
	if len(status) < 3 || len(status) > 3 && status[3] != ' ' {
		return 0
	}
	code := 0
	for i := 0; i < 3; i++ {
		if status[i] < '0' || status[i] > '9' {
			return 0
		}
		code = code*10 + int(status[i]-'0')
	}
	if code < 100 || code > 599 {
		return 0
	}
	return code
}

// bodyMessage is the message of a JSON error body ({"error":{"message":…}},
// {"message":…} or {"detail":…}), else the body itself.
func bodyMessage(body string) string {
	raw := bytes.TrimSpace([]byte(body))
	if len(raw) == 0 || raw[0] != '{' {
		return body
	}
	var v struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	}
	if unmarshal(raw, &v) != nil {
		return body
	}
	if m := firstNonEmpty(v.Error.Message, v.Message, v.Detail); m != "" {
		return m
	}
	return body
}

// stderrNoise are prefixes of stderr lines codex prints on every run or
// around every usage error; they never say why a run failed.
var stderrNoise = []string{
	"Reading additional input from stdin",
	"WARNING: proceeding, even though we could not create PATH aliases",
	"Usage: ",
	"For more information, try ",
}

// stderrTail returns the last non-empty lines of stderr that are not
// noise, at most maxStderrLines and about maxStderrLen runes, joined into
// one line.
func stderrTail(stderr string) string {
	const maxStderrLines, maxStderrLen = 3, 500
	lines := strings.Split(strings.ToValidUTF8(stderr, "\uFFFD"), "\n")
	var tail []string
	n := 0
	for i := len(lines) - 1; i >= 0 && len(tail) < maxStderrLines; i-- {
		line := oneLine(lines[i], maxStderrLen)
		if line == "" || slices.ContainsFunc(stderrNoise, func(p string) bool { return strings.HasPrefix(line, p) }) {
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
