package codex

import (
	"bytes"
	"slices"
	"strings"

	"github.com/untether-go/untether/engines"
)

// humanError turns a codex error message into the sentence a chat shows.
// Codex reports an HTTP failure of the model API as
// "unexpected status 401 Unauthorized: <body>, url: <endpoint>"; that becomes
// a sentence naming what went wrong, without the endpoint. Other messages,
// such as the generic text codex substitutes for a 5xx, are already meant for
// people and only lose their line breaks.
func humanError(msg string) string {
	msg = engines.OneLine(msg, 4*maxErrorLen)
	rest, ok := strings.CutPrefix(msg, "unexpected status ")
	if !ok {
		return engines.Clip(msg, maxErrorLen)
	}
	rest, _, _ = strings.Cut(rest, ", url: ")
	status, body, _ := strings.Cut(rest, ": ")
	code := statusCode(status)
	if code == 0 {
		return engines.Clip(msg, maxErrorLen)
	}
	what := status
	if body = engines.Clip(strings.TrimSpace(bodyMessage(body)), maxDetailLen); body != "" {
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
	return engines.Clip(sentence+" ("+what+")", maxErrorLen)
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
	if engines.UnmarshalLenient(raw, &v) != nil {
		return body
	}
	if m := engines.FirstNonBlank(v.Error.Message, v.Message, v.Detail); m != "" {
		return m
	}
	return body
}

// stderrNoisePrefixes start the stderr lines codex prints on every run or
// around every usage error.
var stderrNoisePrefixes = []string{
	"Reading additional input from stdin",
	"WARNING: proceeding, even though we could not create PATH aliases",
	"Usage: ",
	"For more information, try ",
}

// stderrNoise reports whether a stderr line, made one line, says nothing
// about why a run failed.
func stderrNoise(line string) bool {
	return slices.ContainsFunc(stderrNoisePrefixes, func(p string) bool { return strings.HasPrefix(line, p) })
}
