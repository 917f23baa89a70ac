// Package opencode adapts the OpenCode CLI to the engines vocabulary: it
// builds the headless command line (`opencode run --format json`) for a
// Request and decodes the CLI's JSON lines into Started, Action and
// Completed events; it builds interactive runs (`opencode acp`, spoken to
// by package acp); and it writes and parses the `opencode --session <id>`
// line users copy.
//
// The package is pure: it never execs, touches the network or the file
// system. It imports only the standard library, the engines package and
// engines/acp; it must not import the orchestrator, a sandbox, another
// adapter or any third-party module.
package opencode

import (
	"github.com/untether-go/untether/engines"
)

// name is the engine's config name and the CLI's binary name.
const name = "opencode"

// resumePrefix starts the line a user copies to continue a session.
const resumePrefix = "opencode --session"

// permission allows every tool without asking, as the captured runs were
// configured: the container is the sandbox, and a headless run has nobody
// to answer a prompt. OPENCODE_PERMISSION is merged over the config files.
const permission = `{"*":"allow","edit":"allow","bash":"allow","webfetch":"allow","external_directory":"allow"}`

// Engine is the OpenCode adapter. The zero value is ready to use; it holds no
// state and is safe for concurrent use.
type Engine struct{}

var _ engines.Engine = Engine{}

// Name returns "opencode".
func (Engine) Name() string { return name }

// ownedFlags are set by Invocation, or would change which session or which
// output mode the run has; extra_args may not override them.
var ownedFlags = []string{
	"--format", "--model", "-m", "--session", "-s", "--continue", "-c",
	"--fork", "--interactive", "-i",
}

// Invocation builds `opencode run --format json [--model P/M]
// [--session ID | --continue] EXTRA... -- PROMPT` for req.
//
// The prompt comes after `--`, which opencode's argument parser collects
// into the message, so a prompt starting with `-` is not taken for a flag.
// A model must be "provider/model", the form `--model` takes; without one
// opencode uses the model of its config. Permissions come from the
// environment (see permission), and auto-update and sharing are off.
//
// It returns an error naming the field when the prompt is empty or the
// resume id or model is not a plausible token.
func (Engine) Invocation(req engines.Request) (engines.Invocation, error) {
	if err := engines.CheckRequest(name, req); err != nil {
		return engines.Invocation{}, err
	}
	if err := checkModel(req.Model); err != nil {
		return engines.Invocation{}, err
	}
	argv := []string{name, "run", "--format", "json"}
	if req.Model != "" {
		argv = append(argv, "--model", req.Model)
	}
	switch {
	case req.Resume != "":
		argv = append(argv, "--session", req.Resume)
	case req.Continue:
		argv = append(argv, "--continue")
	}
	argv = append(argv, req.ExtraArgs...)
	argv = append(argv, "--", req.Prompt)
	env := map[string]string{
		"OPENCODE_PERMISSION":         permission,
		"OPENCODE_DISABLE_AUTOUPDATE": "1",
		"OPENCODE_DISABLE_SHARE":      "1",
	}
	return engines.Invocation{Argv: argv, Env: env}, nil
}

// CheckExtraArgs rejects the flags Invocation sets itself and the ones that
// change the session or the output mode.
func (Engine) CheckExtraArgs(args []string) error {
	return engines.CheckExtraArgs(name, args, ownedFlags)
}

// NewDecoder returns a decoder for one run's JSON lines. The stream has no
// end line (newer CLIs print "done"), so a run's Completed event usually
// comes from Finish.
func (Engine) NewDecoder() engines.Decoder { return newDecoder() }

// ResumeLine returns `opencode --session <id>`.
func (Engine) ResumeLine(id string) string { return resumePrefix + " " + id }

// ParseResume returns the session id of the last `opencode --session <id>`
// line anywhere in text, such as the footer of a bot message.
func (Engine) ParseResume(text string) (string, bool) {
	return engines.FindResume(text, resumePrefix)
}
