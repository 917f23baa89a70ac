package amp

import (
	"encoding/json"
	"strings"

	"github.com/untether-go/untether/engines"
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
		switch rest = engines.OneLine(rest, 100); {
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
	return engines.OneLine(msg, maxErrorLen)
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
		if t := engines.OneLine(wire.Error.Type, 40); t != "" {
			head += " (" + t + ")"
		}
		return head + ": " + engines.OneLine(wire.Error.Message, maxErrorLen)
	}
	if body = engines.OneLine(body, maxErrorLen); body != "" {
		return head + ": " + body
	}
	return head
}
