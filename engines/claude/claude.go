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
	"github.com/untether-go/untether/engines"
)

// name is the engine's config name and the CLI's binary name.
const name = "claude"

// resumePrefix starts the line a user copies to continue a session.
const resumePrefix = "claude --resume"

// Engine is the Claude Code adapter. The zero value is ready to use; it holds
// no state and is safe for concurrent use.
type Engine struct{}

var _ engines.Engine = Engine{}

// Name returns "claude".
func (Engine) Name() string { return name }

// ownedFlags are set by Invocation; extra_args may not override them.
var ownedFlags = []string{
	"-p", "--print", "--output-format", "--input-format", "--verbose", "--include-partial-messages",
	"--permission-mode", "--dangerously-skip-permissions", "--resume", "-r",
	"--continue", "-c", "--model",
}

// Invocation builds `claude -p ... -- PROMPT` for req. The prompt always comes
// after `--`, so a prompt starting with `-` is not taken for a flag. It
// returns an error naming the field when the prompt is empty or the resume id
// or model is not a plausible token.
func (Engine) Invocation(req engines.Request) (engines.Invocation, error) {
	if err := engines.CheckRequest(name, req); err != nil {
		return engines.Invocation{}, err
	}
	argv := []string{
		name, "-p",
		"--output-format", "stream-json",
		"--verbose",
		"--include-partial-messages",
		"--permission-mode", "bypassPermissions",
	}
	argv = append(argv, requestFlags(req)...)
	argv = append(argv, "--", req.Prompt)
	return engines.Invocation{Argv: argv, Env: headlessEnv()}, nil
}

// requestFlags are the flags of a request, common to both modes: model,
// resume or continue, and the user's own flags.
func requestFlags(req engines.Request) []string {
	var flags []string
	if req.Model != "" {
		flags = append(flags, "--model", req.Model)
	}
	switch {
	case req.Resume != "":
		flags = append(flags, "--resume", req.Resume)
	case req.Continue:
		flags = append(flags, "--continue")
	}
	return append(flags, req.ExtraArgs...)
}

// headlessEnv is the environment of every run of the CLI.
func headlessEnv() map[string]string {
	return map[string]string{
		// Containers run the CLI as root, where bypassPermissions is refused
		// unless the CLI is told it is sandboxed.
		"IS_SANDBOX":                               "1",
		"DISABLE_AUTOUPDATER":                      "1",
		"DISABLE_TELEMETRY":                        "1",
		"DISABLE_ERROR_REPORTING":                  "1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
	}
}

// CheckExtraArgs rejects the flags Invocation sets itself.
func (Engine) CheckExtraArgs(args []string) error {
	return engines.CheckExtraArgs(name, args, ownedFlags)
}

// NewDecoder returns a decoder for one run's stream-json output.
func (Engine) NewDecoder() engines.Decoder { return newDecoder() }

// ResumeLine returns `claude --resume <id>`.
func (Engine) ResumeLine(id string) string { return resumePrefix + " " + id }

// ParseResume returns the session id of the last `claude --resume <id>` line
// anywhere in text, such as the footer of a bot message.
func (Engine) ParseResume(text string) (string, bool) {
	return engines.FindResume(text, resumePrefix)
}
