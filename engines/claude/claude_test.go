package claude_test

import (
	"slices"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/claude"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

func TestName(t *testing.T) {
	if got := (claude.Engine{}).Name(); got != "claude" {
		t.Errorf("Name() = %q, want claude", got)
	}
}

func TestInvocation(t *testing.T) {
	base := []string{
		"claude", "-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages",
		"--permission-mode", "bypassPermissions",
	}
	with := func(extra ...string) []string { return append(slices.Clone(base), extra...) }
	const session = "ca28b1b9-709d-454a-8bc1-33169420ef03"

	conformance.Invocations(t, claude.Engine{}, conformance.EnvOnly(map[string]string{
		"IS_SANDBOX":                               "1",
		"DISABLE_AUTOUPDATER":                      "1",
		"DISABLE_TELEMETRY":                        "1",
		"DISABLE_ERROR_REPORTING":                  "1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
	}), []conformance.InvocationCase{
		{Name: "new", Req: engines.Request{Prompt: "create hello.txt"}, Want: with("--", "create hello.txt")},
		{Name: "resume", Req: engines.Request{Prompt: "go on", Resume: session}, Want: with("--resume", session, "--", "go on")},
		{Name: "model", Req: engines.Request{Prompt: "hi", Model: "claude-sonnet-4-5"}, Want: with("--model", "claude-sonnet-4-5", "--", "hi")},
		{
			Name: "model and resume",
			Req:  engines.Request{Prompt: "hi", Model: "us.anthropic.claude-sonnet-4-5-v1:0", Resume: session},
			Want: with("--model", "us.anthropic.claude-sonnet-4-5-v1:0", "--resume", session, "--", "hi"),
		},
		{Name: "model alias", Req: engines.Request{Prompt: "hi", Model: "opus"}, Want: with("--model", "opus", "--", "hi")},
		{Name: "prompt starting with dash", Req: engines.Request{Prompt: "--help me"}, Want: with("--", "--help me")},
		{Name: "multi-line prompt unchanged", Req: engines.Request{Prompt: " a\n\tb "}, Want: with("--", " a\n\tb ")},
		{Name: "resume flag injection", Req: engines.Request{Prompt: "hi", Resume: "--dangerously-skip-permissions"}, WantErr: "resume id"},
		{Name: "resume with space", Req: engines.Request{Prompt: "hi", Resume: "abc def"}, WantErr: "resume id"},
		{Name: "resume with slash", Req: engines.Request{Prompt: "hi", Resume: "../etc"}, WantErr: "resume id"},
		{Name: "model leading dash", Req: engines.Request{Prompt: "hi", Model: "-x"}, WantErr: "model"},
		{Name: "model with space", Req: engines.Request{Prompt: "hi", Model: "claude sonnet"}, WantErr: "model"},
		{Name: "model with shell chars", Req: engines.Request{Prompt: "hi", Model: "a;rm"}, WantErr: "model"},
	}...)
}

func TestInvalidRequests(t *testing.T) {
	conformance.InvalidRequests(t, claude.Engine{})
}

// TestInvocationFlagsAreOwned keeps ownedFlags in step with Invocation:
// every flag it sets must be refused as an extra arg.
func TestInvocationFlagsAreOwned(t *testing.T) {
	conformance.OwnedFlagsRefused(t, claude.Engine{},
		engines.Request{Prompt: "hi", Model: "m", Resume: "abc"},
		engines.Request{Prompt: "hi", Continue: true},
	)
}

// TestResume runs the conformance suite's resume lines and these of
// claude's own.
func TestResume(t *testing.T) {
	ids := []string{"ca28b1b9-709d-454a-8bc1-33169420ef03", "abc", "A1-b2"}
	conformance.Resume(t, claude.Engine{}, "claude --resume", ids, []conformance.ResumeCase{
		{Name: "other engine", Text: "codex resume abc"},
	}...)
}

// TestImports keeps the package pure: the standard library and engines only.
func TestImports(t *testing.T) {
	conformance.Imports(t, "github.com/untether-go/untether/engines")
}
