// Package claude adapts the Claude Code CLI (`claude`) to the engines
// vocabulary: it builds the headless command line for a Request, decodes the
// CLI's stream-json output into Started, Action and Completed events, and
// writes and parses the `claude --resume <id>` line users copy.
//
// The package is pure: it never execs, touches the network or the file
// system. It imports only the standard library and the engines package; it
// must not import the orchestrator, a sandbox or any third-party module.
package claude

import (
	"errors"
	"fmt"
	"strings"

	"github.com/untether-go/untether/engines"
)

// name is the engine's config name and the CLI's binary name.
const name = "claude"

// resumePrefix starts the line a user copies to continue a session.
const resumePrefix = "claude --resume"

// maxTokenLen bounds resume ids and model names; real ones are far shorter.
const maxTokenLen = 128

// Engine is the Claude Code adapter. The zero value is ready to use; it holds
// no state and is safe for concurrent use.
type Engine struct{}

var _ engines.Engine = Engine{}

// Name returns "claude".
func (Engine) Name() string { return name }

// Invocation builds `claude -p ... -- PROMPT` for req. The prompt always comes
// after `--`, so a prompt starting with `-` is not taken for a flag. It
// returns an error naming the field when the prompt is empty or the resume id
// or model is not a plausible token.
func (Engine) Invocation(req engines.Request) (engines.Invocation, error) {
	if strings.TrimSpace(req.Prompt) == "" {
		return engines.Invocation{}, errors.New("build claude invocation: prompt is empty")
	}
	if strings.IndexByte(req.Prompt, 0) >= 0 {
		// A NUL cannot cross execve; fail here with a clear reason instead.
		return engines.Invocation{}, errors.New("build claude invocation: prompt contains a NUL byte")
	}
	argv := []string{
		name, "-p",
		"--output-format", "stream-json",
		"--verbose",
		"--permission-mode", "bypassPermissions",
	}
	if req.Model != "" {
		if !validModel(req.Model) {
			return engines.Invocation{}, fmt.Errorf("build claude invocation: model %q is not a model name", clip(req.Model, 64))
		}
		argv = append(argv, "--model", req.Model)
	}
	if req.Resume != "" {
		if !validResume(req.Resume) {
			return engines.Invocation{}, fmt.Errorf("build claude invocation: resume id %q is not a session id", clip(req.Resume, 64))
		}
		argv = append(argv, "--resume", req.Resume)
	}
	argv = append(argv, "--", req.Prompt)
	env := map[string]string{
		// Containers run the CLI as root, where bypassPermissions is refused
		// unless the CLI is told it is sandboxed.
		"IS_SANDBOX":                               "1",
		"DISABLE_AUTOUPDATER":                      "1",
		"DISABLE_TELEMETRY":                        "1",
		"DISABLE_ERROR_REPORTING":                  "1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
	}
	return engines.Invocation{Argv: argv, Env: env}, nil
}

// NewDecoder returns a decoder for one run's stream-json output.
func (Engine) NewDecoder() engines.Decoder { return newDecoder() }

// ResumeLine returns `claude --resume <id>`.
func (Engine) ResumeLine(id string) string { return resumePrefix + " " + id }

// ParseResume returns the session id of the last `claude --resume <id>` line
// anywhere in text, such as the footer of a bot message.
func (Engine) ParseResume(text string) (string, bool) {
	var id string
	found := false
	for i := 0; i < len(text); {
		j := strings.Index(text[i:], resumePrefix)
		if j < 0 {
			break
		}
		at := i + j
		i = at + len(resumePrefix)
		if at > 0 && isWordByte(text[at-1]) {
			continue // part of a longer word, such as "myclaude --resume"
		}
		rest := text[i:]
		k := 0
		for k < len(rest) && (rest[k] == ' ' || rest[k] == '\t') {
			k++
		}
		if k == 0 {
			continue
		}
		end := k
		for end < len(rest) && isResumeByte(rest[end]) {
			end++
		}
		if tok := rest[k:end]; validResume(tok) {
			id, found = tok, true
		}
	}
	return id, found
}

// validResume reports whether s looks like a session id: UUID-like
// characters, no leading '-'.
func validResume(s string) bool {
	if s == "" || len(s) > maxTokenLen || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isResumeByte(s[i]) {
			return false
		}
	}
	return true
}

// validModel reports whether s looks like a model name or alias such as
// "claude-sonnet-4-5", "sonnet" or "anthropic/claude@2025:1"; no leading '-'.
func validModel(s string) bool {
	if s == "" || len(s) > maxTokenLen || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("._:/@-", rune(c)) {
			return false
		}
	}
	return true
}

func isResumeByte(c byte) bool { return isAlnum(c) || c == '-' }

func isWordByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
