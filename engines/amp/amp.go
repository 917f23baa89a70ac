// Package amp adapts the Amp CLI (`amp`) to the engines vocabulary: it
// builds the headless command line for a Request, decodes the CLI's
// Claude-Code-style stream-json output into Started, Action and Completed
// events, and writes and parses the `amp threads continue <id>` line users
// copy.
//
// The package is pure: it never execs, touches the network or the file
// system. It imports only the standard library and the engines package; it
// must not import the orchestrator, a sandbox or any third-party module.
//
// The CLI exits 0 on API errors and when it is stopped by SIGTERM, writing a
// failed result line instead (see the captured fixtures' README), so the
// decoder judges a run by the stream, not by the exit code.
package amp

import (
	"fmt"

	"github.com/untether-go/untether/engines"
)

// name is the engine's config name and the CLI's binary name.
const name = "amp"

// resumePrefix starts the line a user copies to continue a thread.
const resumePrefix = "amp threads continue"

// Engine is the Amp CLI adapter. The zero value is ready to use; it holds no
// state and is safe for concurrent use.
type Engine struct{}

var _ engines.Engine = Engine{}

// Name returns "amp".
func (Engine) Name() string { return name }

// ownedFlags are set by Invocation, or change the stream it decodes;
// extra_args may not override them.
var ownedFlags = []string{
	"-x", "--execute",
	"--stream-json", "--stream-json-input", "--stream-json-thinking",
	"--dangerously-allow-all",
}

// Invocation builds `amp -x PROMPT --stream-json --dangerously-allow-all
// [EXTRA...]` for a new thread and `amp threads continue ID -x PROMPT ...`
// to resume one, the captured commands. Extra args come last: `-x` takes
// its value, and the CLI accepts flags anywhere after the subcommand.
//
// Continue starts a new thread: the captured CLI shows only the form with a
// thread id, and Amp's threads belong to the account, not to the project,
// so "the latest thread" could be another project's.
//
// The CLI's option parser takes a prompt that starts with '-' for a flag
// and `-x` has no `--` form, so such a prompt gets one leading space.
//
// Amp has no model option, so a Request with a Model is an error naming the
// field. The API key (AMP_API_KEY) and server (AMP_URL) come from the
// container's environment, not from here; the invocation sets no
// environment of its own.
func (Engine) Invocation(req engines.Request) (engines.Invocation, error) {
	if err := engines.CheckRequest(name, req); err != nil {
		return engines.Invocation{}, err
	}
	if req.Model != "" {
		return engines.Invocation{}, fmt.Errorf("build %s invocation: model %q cannot be set: amp has no model option", name, engines.Clip(req.Model, 64))
	}
	argv := []string{name}
	if req.Resume != "" {
		argv = append(argv, "threads", "continue", req.Resume)
	}
	argv = append(argv, "-x", engines.FlagSafe(req.Prompt), "--stream-json", "--dangerously-allow-all")
	argv = append(argv, req.ExtraArgs...)
	return engines.Invocation{Argv: argv}, nil
}

// CheckExtraArgs rejects the flags Invocation sets itself.
func (Engine) CheckExtraArgs(args []string) error {
	return engines.CheckExtraArgs(name, args, ownedFlags)
}

// NewDecoder returns a decoder for one run's stream-json output.
func (Engine) NewDecoder() engines.Decoder { return newDecoder() }

// ResumeLine returns `amp threads continue <id>`.
func (Engine) ResumeLine(id string) string { return resumePrefix + " " + id }

// ParseResume returns the thread id of the last `amp threads continue <id>`
// line anywhere in text, such as the footer of a bot message.
func (Engine) ParseResume(text string) (string, bool) {
	return engines.FindResume(text, resumePrefix)
}

// CanContinue is false: Continue starts a new thread (see Invocation).
func (Engine) CanContinue() bool { return false }

var _ engines.ContinueSupport = Engine{}
