// Package codex adapts the OpenAI Codex CLI (`codex exec`) to the engines
// vocabulary: it builds the headless command line for a Request, decodes the
// CLI's `--json` JSONL output into Started, Action and Completed events, and
// writes and parses the `codex resume <id>` line users copy. For runs that ask
// the user (approvals), it also speaks `codex app-server`, the CLI's
// JSON-RPC protocol over stdio, as an engines.Protocol (appserver*.go).
//
// The package is pure: it never execs, touches the network or the file
// system. It imports only the standard library and the engines package; it
// must not import the orchestrator, a sandbox, another adapter or any
// third-party module.
package codex

import (
	"slices"
	"strings"

	"github.com/untether-go/untether/engines"
)

// name is the engine's config name and the CLI's binary name.
const name = "codex"

// resumePrefix starts the line a user copies to continue a thread in the
// interactive CLI.
const resumePrefix = "codex resume"

// headlessFlags make `codex exec` print JSONL, run outside a Git repository
// and skip Codex's own sandbox and approvals: the container is the sandbox,
// and nobody is there to approve. They are global flags of `codex exec`, so
// they are accepted after the `resume` subcommand too, which is where the
// fixtures' captured resume command puts them.
var headlessFlags = []string{
	"--json",
	"--skip-git-repo-check",
	"--dangerously-bypass-approvals-and-sandbox",
}

// stdinPrompt is the PROMPT argument that makes `codex exec` and `codex exec
// resume` read the whole prompt from standard input.
const stdinPrompt = "-"

// ownedFlags are set by Invocation or would break what it relies on: the JSONL
// stream, the bypassed sandbox and approvals, the persisted session the resume
// line points at, and the choice of session. extra_args may not set them.
var ownedFlags = []string{
	"--json", "--experimental-json",
	"--skip-git-repo-check",
	"--dangerously-bypass-approvals-and-sandbox", "--yolo",
	"--sandbox", "-s", "--not-so-yolo", "--full-auto", "--ask-for-approval", "-a",
	"--model", "-m",
	"--last", "--all",
	"--output-last-message", "-o",
	"--ephemeral",
}

// ownedShort are the one-letter owned flags, which clap also accepts with
// the value attached ("-mgpt-5").
var ownedShort = []string{"-m", "-o", "-s", "-a"}

// Engine is the Codex CLI adapter. The zero value is ready to use; it holds no
// state and is safe for concurrent use.
type Engine struct{}

var _ engines.Engine = Engine{}

// Name returns "codex".
func (Engine) Name() string { return name }

// Invocation builds the `codex exec` command line for req:
//
//	new:      codex exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox [--model M] [extra] -- -
//	resume:   codex exec [extra] resume --json ... [--model M] -- <thread_id> -
//	continue: codex exec [extra] resume --json ... [--model M] --last -- -
//
// The prompt goes to standard input (PROMPT "-"), never to argv: it stays out
// of process listings and container configs, is not bounded by the kernel's
// per-argument limit, and codex never waits on an open stdin for "additional
// input" as it does when the prompt is an argument. `--` keeps the thread id
// and "-" from being read as flags or as a subcommand name.
//
// Extra args go where `codex exec` parses all its flags: after the headless
// flags for a new run, and before `resume` when resuming, because the resume
// subcommand accepts only the global ones and inherits the rest from exec.
//
// It returns an error naming the field when the prompt is empty or the resume
// id or model is not a plausible token.
func (Engine) Invocation(req engines.Request) (engines.Invocation, error) {
	if err := engines.CheckRequest(name, req); err != nil {
		return engines.Invocation{}, err
	}
	argv := []string{name, "exec"}
	// The pictures go with the prompt (exec's own flag, before `resume`).
	for _, img := range req.Images {
		argv = append(argv, "--image", img)
	}
	resuming := req.Resume != "" || req.Continue
	if resuming {
		argv = append(argv, req.ExtraArgs...)
		argv = append(argv, "resume")
	}
	argv = append(argv, headlessFlags...)
	if req.Model != "" {
		argv = append(argv, "--model", req.Model)
	}
	switch {
	case req.Resume != "":
		argv = append(argv, "--", req.Resume, stdinPrompt)
	case req.Continue:
		argv = append(argv, "--last", "--", stdinPrompt)
	default:
		argv = append(argv, req.ExtraArgs...)
		argv = append(argv, "--", stdinPrompt)
	}
	// `codex exec` is already headless: it has no update check or prompt of
	// its own, so the environment needs nothing beyond what the sandbox sets
	// (HOME, the provider's key).
	return engines.Invocation{Argv: argv, Stdin: []byte(req.Prompt)}, nil
}

// CheckExtraArgs rejects the flags Invocation owns, alone, as --flag=value,
// or as a short flag with its value attached.
func (Engine) CheckExtraArgs(args []string) error {
	norm := make([]string, len(args))
	for i, a := range args {
		norm[i] = a
		if strings.HasPrefix(a, "--") || strings.IndexByte(a, 0) >= 0 || len(a) <= 2 {
			continue
		}
		if short := a[:2]; slices.Contains(ownedShort, short) {
			norm[i] = short
		}
	}
	return engines.CheckExtraArgs(name, norm, ownedFlags)
}

// NewDecoder returns a decoder for one run's `--json` output.
func (Engine) NewDecoder() engines.Decoder { return newDecoder() }

// ResumeLine returns `codex resume <id>`, which continues the thread in the
// interactive CLI.
func (Engine) ResumeLine(id string) string { return resumePrefix + " " + id }

// ParseResume returns the thread id of the last `codex resume <id>` line
// anywhere in text, such as the footer of a bot message.
func (Engine) ParseResume(text string) (string, bool) {
	return engines.FindResume(text, resumePrefix)
}
