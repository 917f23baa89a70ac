package gemini

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
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
	return engines.OneLine(msg, maxErrorLen)
}

// apiError describes the text of an API error, which holds a Google API
// error body {"error":{"code","message","status"}} somewhere, as
// "API error 401 (UNAUTHENTICATED): <message>". A body whose message is
// itself such a body is described by the inner one.
func apiError(text string) string {
	body, ok := parseAPIError(text)
	if !ok {
		return "API error: " + engines.OneLine(text, maxErrorLen)
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
		Status:  engines.OneLine(wire.Error.Status, 40),
		Message: engines.OneLine(wire.Error.Message, maxErrorLen),
	}
	switch code := wire.Error.Code.(type) {
	case float64:
		body.Code = strconv.FormatFloat(code, 'f', -1, 64)
	case string:
		body.Code = engines.OneLine(code, 20)
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
	lines := strings.Split(strings.ToValidUTF8(engines.StripANSI(stderr), "\uFFFD"), "\n")
	var tail []string
	n := 0
	for i := len(lines) - 1; i >= 0 && len(tail) < maxStderrLines; i-- {
		if stderrNoise(lines[i]) {
			continue
		}
		api := false
		line := engines.OneLine(lines[i], maxStderrLen)
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
	return engines.Clip(strings.Join(tail, "; "), maxStderrLen)
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
