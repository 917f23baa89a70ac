package opencode_test

import (
	"slices"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/conformance"
	"github.com/untether-go/untether/engines/opencode"
)

func TestName(t *testing.T) {
	if got := (opencode.Engine{}).Name(); got != "opencode" {
		t.Errorf("Name() = %q, want opencode", got)
	}
}

func TestInvocation(t *testing.T) {
	base := []string{"opencode", "run", "--format", "json"}
	with := func(extra ...string) []string { return append(slices.Clone(base), extra...) }
	const session = "ses_de361666cffeAGnfWJW8bMzObK"

	conformance.Invocations(t, opencode.Engine{}, conformance.EnvOnly(map[string]string{
		"OPENCODE_PERMISSION":         `{"*":"allow","edit":"allow","bash":"allow","webfetch":"allow","external_directory":"allow"}`,
		"OPENCODE_DISABLE_AUTOUPDATE": "1",
		"OPENCODE_DISABLE_SHARE":      "1",
	}), []conformance.InvocationCase{
		{Name: "new", Req: engines.Request{Prompt: "create hello.txt"}, Want: with("--", "create hello.txt")},
		{Name: "resume", Req: engines.Request{Prompt: "go on", Resume: session}, Want: with("--session", session, "--", "go on")},
		{Name: "continue", Req: engines.Request{Prompt: "say hi", Continue: true}, Want: with("--continue", "--", "say hi")},
		{
			Name: "resume wins over continue",
			Req:  engines.Request{Prompt: "go on", Resume: session, Continue: true},
			Want: with("--session", session, "--", "go on"),
		},
		{Name: "model", Req: engines.Request{Prompt: "hi", Model: "mock/mock-model"}, Want: with("--model", "mock/mock-model", "--", "hi")},
		{
			Name: "model with slashes in its id",
			Req:  engines.Request{Prompt: "hi", Model: "openrouter/anthropic/claude-sonnet-4.5"},
			Want: with("--model", "openrouter/anthropic/claude-sonnet-4.5", "--", "hi"),
		},
		{
			Name: "model, resume and extra args",
			Req:  engines.Request{Prompt: "hi", Model: "anthropic/claude-sonnet-4-5", Resume: session, ExtraArgs: []string{"--agent", "plan", "--thinking"}},
			Want: with("--model", "anthropic/claude-sonnet-4-5", "--session", session, "--agent", "plan", "--thinking", "--", "hi"),
		},
		{Name: "prompt starting with dash", Req: engines.Request{Prompt: "--help me"}, Want: with("--", "--help me")},
		{Name: "multi-line prompt unchanged", Req: engines.Request{Prompt: " a\n\tb "}, Want: with("--", " a\n\tb ")},
		{Name: "resume flag injection", Req: engines.Request{Prompt: "hi", Resume: "--fork"}, WantErr: "resume id"},
		{Name: "resume with space", Req: engines.Request{Prompt: "hi", Resume: "ses_1 ses_2"}, WantErr: "resume id"},
		{Name: "resume with slash", Req: engines.Request{Prompt: "hi", Resume: "../ses"}, WantErr: "resume id"},
		{Name: "model leading dash", Req: engines.Request{Prompt: "hi", Model: "-x/y"}, WantErr: "model"},
		{Name: "model with shell chars", Req: engines.Request{Prompt: "hi", Model: "a/b;rm"}, WantErr: "model"},
		{Name: "model without provider", Req: engines.Request{Prompt: "hi", Model: "claude-sonnet-4-5"}, WantErr: "provider/model"},
		{Name: "model with empty provider", Req: engines.Request{Prompt: "hi", Model: "/claude"}, WantErr: "provider/model"},
		{Name: "model with empty id", Req: engines.Request{Prompt: "hi", Model: "anthropic/"}, WantErr: "provider/model"},
	}...)
}

func TestInvalidRequests(t *testing.T) {
	conformance.InvalidRequests(t, opencode.Engine{})
}

func TestCheckExtraArgs(t *testing.T) {
	conformance.ExtraArgs(t, opencode.Engine{}, []conformance.ArgsCase{
		{Name: "harmless", Args: []string{"--agent", "build", "--thinking", "--variant=high", "--print-logs"}},
		{Name: "format", Args: []string{"--format", "default"}, WantErr: []string{"--format"}},
		{Name: "format with value", Args: []string{"--format=default"}, WantErr: []string{"--format"}},
		{Name: "model", Args: []string{"--model", "x/y"}, WantErr: []string{"--model"}},
		{Name: "short model", Args: []string{"-m", "x/y"}, WantErr: []string{"-m"}},
		{Name: "session", Args: []string{"--session=ses_1"}, WantErr: []string{"--session"}},
		{Name: "short session", Args: []string{"-s", "ses_1"}, WantErr: []string{"-s"}},
		{Name: "continue", Args: []string{"--continue"}, WantErr: []string{"--continue"}},
		{Name: "short continue", Args: []string{"-c"}, WantErr: []string{"-c"}},
		{Name: "fork", Args: []string{"--fork"}, WantErr: []string{"--fork"}},
		{Name: "interactive", Args: []string{"-i"}, WantErr: []string{"-i"}},
	}...)
}

// TestInvocationFlagsAreOwned keeps ownedFlags in step with Invocation:
// every flag it sets must be refused as an extra arg.
func TestInvocationFlagsAreOwned(t *testing.T) {
	conformance.OwnedFlagsRefused(t, opencode.Engine{},
		engines.Request{Prompt: "hi", Model: "a/b", Resume: "ses_1"},
		engines.Request{Prompt: "hi", Continue: true},
	)
}

// TestResume runs the conformance suite's resume lines and these of
// opencode's own.
func TestResume(t *testing.T) {
	ids := []string{"ses_de361666cffeAGnfWJW8bMzObK", "abc", "A1-b2"}
	conformance.Resume(t, opencode.Engine{}, "opencode --session", ids, []conformance.ResumeCase{
		{Name: "other engine", Text: "pi --session 01a21ca2"},
	}...)
}

// TestImports keeps the package pure: the standard library, engines and
// its ACP codec only.
func TestImports(t *testing.T) {
	conformance.Imports(t, "github.com/untether-go/untether/engines", "github.com/untether-go/untether/engines/acp")
}
