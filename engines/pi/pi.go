// Package pi adapts the pi coding agent (`pi --mode json`) to the engines
// vocabulary: it builds the headless command line for a Request, decodes the
// CLI's JSON event lines into Started, Action and Completed events, and
// writes and parses the `pi --session <id>` line users copy.
//
// Only `--mode json` is decoded. `--mode rpc` is a conversation over stdin
// (prompt commands in, replies and events out, the session id only on
// request) that a one-shot run does not need; its event lines are the same,
// but its replies are rejected as unknown lines and it never says the
// session id by itself.
//
// The package is pure: it never execs, touches the network or the file
// system. It imports only the standard library and the engines package; it
// must not import the orchestrator, a sandbox or any third-party module.
package pi

import (
	"fmt"
	"strings"

	"github.com/untether-go/untether/engines"
)

// name is the engine's config name and the CLI's binary name.
const name = "pi"

// resumePrefix starts the line a user copies to continue a session.
const resumePrefix = "pi --session"

// Engine is the pi adapter. The zero value is ready to use; it holds no state
// and is safe for concurrent use.
type Engine struct{}

var _ engines.Engine = Engine{}

// Name returns "pi".
func (Engine) Name() string { return name }

// ownedFlags are set by Invocation, or would change the output mode or
// which session the run has (`--resume` opens an interactive picker);
// extra_args may not override them.
var ownedFlags = []string{
	"--mode", "--print", "-p", "--provider", "--model", "--session", "--continue", "-c",
	"--resume", "-r", "--no-session", "--session-dir", "--fork",
}

// Invocation builds `pi EXTRA... --mode json [--provider P --model M]
// [--session ID | --continue] PROMPT` for req.
//
// A model is "provider/model", split at the first '/' into pi's --provider
// and --model (the model id may hold more slashes, as OpenRouter's do).
// Without a model both flags are left out and pi uses its own default: the
// settings' default provider and model, else the first model it has a key
// for; a resumed session keeps the model it was started with.
//
// pi's argument parser knows no `--`: an argument starting with '-' is a
// flag and one starting with '@' names a file to attach. A prompt starting
// with either therefore gets a leading space, which keeps it the message.
// The user's extra args come first, so the argument before the prompt is
// always one of ours and an unknown flag among them cannot take the prompt
// for its value. pi asks for no approvals; the container is the sandbox.
//
// It returns an error naming the field when the prompt is empty or the
// resume id or model is not a plausible token.
func (Engine) Invocation(req engines.Request) (engines.Invocation, error) {
	if err := engines.CheckRequest(name, req); err != nil {
		return engines.Invocation{}, err
	}
	provider, model, ok := strings.Cut(req.Model, "/")
	if req.Model != "" && (!ok || provider == "" || model == "") {
		return engines.Invocation{}, fmt.Errorf("build %s invocation: model %q is not of the form provider/model", name, req.Model)
	}
	argv := append([]string{name}, req.ExtraArgs...)
	argv = append(argv, "--mode", "json")
	if req.Model != "" {
		argv = append(argv, "--provider", provider, "--model", model)
	}
	switch {
	case req.Resume != "":
		argv = append(argv, "--session", req.Resume)
	case req.Continue:
		argv = append(argv, "--continue")
	}
	prompt := req.Prompt
	if strings.HasPrefix(prompt, "-") || strings.HasPrefix(prompt, "@") {
		prompt = " " + prompt
	}
	argv = append(argv, prompt)
	env := map[string]string{
		// No update checks or other startup network calls, no telemetry:
		// how the captured runs were made.
		"PI_OFFLINE":   "1",
		"PI_TELEMETRY": "0",
	}
	return engines.Invocation{Argv: argv, Env: env}, nil
}

// CheckExtraArgs rejects the flags Invocation sets itself and the ones that
// change the session or the output mode.
func (Engine) CheckExtraArgs(args []string) error {
	return engines.CheckExtraArgs(name, args, ownedFlags)
}

// NewDecoder returns a decoder for one run's `--mode json` lines.
func (Engine) NewDecoder() engines.Decoder { return newDecoder() }

// ResumeLine returns `pi --session <id>`.
func (Engine) ResumeLine(id string) string { return resumePrefix + " " + id }

// ParseResume returns the session id of the last `pi --session <id>` line
// anywhere in text, such as the footer of a bot message.
func (Engine) ParseResume(text string) (string, bool) {
	return engines.FindResume(text, resumePrefix)
}
