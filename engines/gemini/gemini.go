// Package gemini adapts the Gemini CLI (`gemini`) to the engines vocabulary:
// it builds the headless command line for a Request and decodes the CLI's
// stream-json output into Started, Action and Completed events; it builds
// interactive runs (`gemini --acp`, spoken to by package acp); and it
// writes and parses the `gemini --resume <id>` line users copy.
//
// The package is pure: it never execs, touches the network or the file
// system. It imports only the standard library, the engines package and
// engines/acp; it must not import the orchestrator, a sandbox, another
// adapter or any third-party module.
//
// Two facts of the CLI shape this adapter (see the captured fixtures'
// README): it exits with the HTTP status & 255 on API errors, and a run that
// was killed can still exit 0 without its final result line. The decoder
// therefore judges a run by the stream, never by the exit code alone.
package gemini

import (
	"github.com/untether-go/untether/engines"
)

// name is the engine's config name and the CLI's binary name.
const name = "gemini"

// resumePrefix starts the line a user copies to continue a session.
const resumePrefix = "gemini --resume"

// latestSession is what `--resume` takes for the project's most recent
// session.
const latestSession = "latest"

// Engine is the Gemini CLI adapter. The zero value is ready to use; it holds
// no state and is safe for concurrent use.
type Engine struct{}

var _ engines.Engine = Engine{}

// Name returns "gemini".
func (Engine) Name() string { return name }

// ownedFlags are set by Invocation, or would take the run out of headless
// stream-json mode; extra_args may not override them.
var ownedFlags = []string{
	"-p", "--prompt", "-i", "--prompt-interactive",
	"-o", "--output-format",
	"-y", "--yolo", "--approval-mode", "--skip-trust",
	"-r", "--resume",
	"-m", "--model",
}

// Invocation builds `gemini -p PROMPT --output-format stream-json --yolo
// --skip-trust [-m MODEL] [--resume ID] [EXTRA...]` for req, the flags of the
// captured runs in their order. Continue resumes `--resume latest`, the
// CLI's own form for the project's most recent session; a Resume id wins over
// Continue. Extra args come last: `-p` takes its value, and the CLI accepts
// flags anywhere.
//
// The CLI's option parser takes a prompt that starts with '-' for a flag
// and `-p` has no `--` form, so such a prompt gets one leading space.
//
// The environment turns off the CLI's own sandbox (the container is the
// sandbox; GEMINI_SANDBOX wins over settings and flags) and its relaunch
// into a child process, whose launcher ignores SIGTERM. The API key and
// the auth type (settings.json's security.auth.selectedType) come from the
// container's environment and the engine's home, not from here.
//
// It returns an error naming the field when the prompt is empty or the
// resume id or model is not a plausible token.
func (Engine) Invocation(req engines.Request) (engines.Invocation, error) {
	if err := engines.CheckRequest(name, req); err != nil {
		return engines.Invocation{}, err
	}
	argv := []string{
		name, "-p", engines.FlagSafe(req.Prompt),
		"--output-format", "stream-json",
		"--yolo",
		"--skip-trust",
	}
	if req.Model != "" {
		argv = append(argv, "-m", req.Model)
	}
	switch {
	case req.Resume != "":
		argv = append(argv, "--resume", req.Resume)
	case req.Continue:
		argv = append(argv, "--resume", latestSession)
	}
	argv = append(argv, req.ExtraArgs...)
	env := map[string]string{
		"GEMINI_SANDBOX":         "false",
		"GEMINI_CLI_NO_RELAUNCH": "true",
	}
	return engines.Invocation{Argv: argv, Env: env}, nil
}

// CheckExtraArgs rejects the flags Invocation sets itself.
func (Engine) CheckExtraArgs(args []string) error {
	return engines.CheckExtraArgs(name, args, ownedFlags)
}

// NewDecoder returns a decoder for one run's stream-json output.
func (Engine) NewDecoder() engines.Decoder { return newDecoder() }

// ResumeLine returns `gemini --resume <id>`.
func (Engine) ResumeLine(id string) string { return resumePrefix + " " + id }

// ParseResume returns the session id of the last `gemini --resume <id>`
// line anywhere in text, such as the footer of a bot message.
func (Engine) ParseResume(text string) (string, bool) {
	return engines.FindResume(text, resumePrefix)
}
