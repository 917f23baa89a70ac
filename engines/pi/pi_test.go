package pi_test

import (
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/conformance"
	"github.com/untether-go/untether/engines/pi"
)

func TestName(t *testing.T) {
	if got := (pi.Engine{}).Name(); got != "pi" {
		t.Errorf("Name() = %q, want pi", got)
	}
}

func TestInvocation(t *testing.T) {
	const session = "01a21ca2-37e3-7253-97a4-ea52a50951da"
	argv := func(args ...string) []string { return append([]string{"pi"}, args...) }

	conformance.Invocations(t, pi.Engine{}, conformance.EnvOnly(map[string]string{"PI_OFFLINE": "1", "PI_TELEMETRY": "0"}), []conformance.InvocationCase{
		{Name: "new", Req: engines.Request{Prompt: "create hello.txt"}, Want: argv("--mode", "json", "create hello.txt")},
		{
			Name: "model",
			Req:  engines.Request{Prompt: "hi", Model: "mock/mock-model"},
			Want: argv("--mode", "json", "--provider", "mock", "--model", "mock-model", "hi"),
		},
		{
			Name: "model id with slashes",
			Req:  engines.Request{Prompt: "hi", Model: "openrouter/anthropic/claude-sonnet-4.5"},
			Want: argv("--mode", "json", "--provider", "openrouter", "--model", "anthropic/claude-sonnet-4.5", "hi"),
		},
		{
			Name: "resume",
			Req:  engines.Request{Prompt: "go on", Model: "mock/mock-model", Resume: session},
			Want: argv("--mode", "json", "--provider", "mock", "--model", "mock-model", "--session", session, "go on"),
		},
		{Name: "continue", Req: engines.Request{Prompt: "say hi", Continue: true}, Want: argv("--mode", "json", "--continue", "say hi")},
		{
			Name: "resume wins over continue",
			Req:  engines.Request{Prompt: "go on", Resume: session, Continue: true},
			Want: argv("--mode", "json", "--session", session, "go on"),
		},
		{
			Name: "extra args come first",
			Req:  engines.Request{Prompt: "hi", Model: "mock/mock-model", ExtraArgs: []string{"--thinking", "high", "--unknown-flag"}},
			Want: argv("--thinking", "high", "--unknown-flag", "--mode", "json", "--provider", "mock", "--model", "mock-model", "hi"),
		},
		{Name: "prompt starting with dash", Req: engines.Request{Prompt: "-v is broken"}, Want: argv("--mode", "json", " -v is broken")},
		{Name: "prompt starting with double dash", Req: engines.Request{Prompt: "--help me"}, Want: argv("--mode", "json", " --help me")},
		{Name: "prompt starting with at", Req: engines.Request{Prompt: "@bot fix it"}, Want: argv("--mode", "json", " @bot fix it")},
		{Name: "at inside the prompt", Req: engines.Request{Prompt: "mail a@b.c"}, Want: argv("--mode", "json", "mail a@b.c")},
		{Name: "multi-line prompt unchanged", Req: engines.Request{Prompt: " a\n\tb "}, Want: argv("--mode", "json", " a\n\tb ")},
		{Name: "resume flag injection", Req: engines.Request{Prompt: "hi", Resume: "--no-session"}, WantErr: "resume id"},
		{Name: "resume path", Req: engines.Request{Prompt: "hi", Resume: "/home/agent/.pi/x.jsonl"}, WantErr: "resume id"},
		{Name: "resume with space", Req: engines.Request{Prompt: "hi", Resume: "a b"}, WantErr: "resume id"},
		{Name: "model leading dash", Req: engines.Request{Prompt: "hi", Model: "-x/y"}, WantErr: "model"},
		{Name: "model with shell chars", Req: engines.Request{Prompt: "hi", Model: "a/b;rm"}, WantErr: "model"},
		{Name: "model without provider", Req: engines.Request{Prompt: "hi", Model: "mock-model"}, WantErr: "provider/model"},
		{Name: "model with empty provider", Req: engines.Request{Prompt: "hi", Model: "/mock-model"}, WantErr: "provider/model"},
		{Name: "model with empty id", Req: engines.Request{Prompt: "hi", Model: "mock/"}, WantErr: "provider/model"},
	}...)
}

func TestInvalidRequests(t *testing.T) {
	conformance.InvalidRequests(t, pi.Engine{})
}

// TestInvocationDoesNotAliasExtraArgs guards the argv against sharing the
// caller's slice.
func TestInvocationDoesNotAliasExtraArgs(t *testing.T) {
	extra := make([]string, 1, 10)
	extra[0] = "--thinking=high"
	inv, err := pi.Engine{}.Invocation(engines.Request{Prompt: "hi", ExtraArgs: extra})
	if err != nil {
		t.Fatal(err)
	}
	if extra[:cap(extra)][1] != "" {
		t.Errorf("Invocation wrote into the caller's ExtraArgs: %q", extra[:cap(extra)])
	}
	if inv.Argv[1] != "--thinking=high" {
		t.Errorf("Argv = %q", inv.Argv)
	}
}

func TestCheckExtraArgs(t *testing.T) {
	conformance.ExtraArgs(t, pi.Engine{}, []conformance.ArgsCase{
		{Name: "harmless", Args: []string{"--thinking", "high", "--tools=read,bash", "--no-skills", "@AGENTS.md"}},
		{Name: "mode", Args: []string{"--mode", "rpc"}, WantErr: []string{"--mode"}},
		{Name: "mode with value", Args: []string{"--mode=text"}, WantErr: []string{"--mode"}},
		{Name: "print", Args: []string{"-p"}, WantErr: []string{"-p"}},
		{Name: "provider", Args: []string{"--provider", "openai"}, WantErr: []string{"--provider"}},
		{Name: "model", Args: []string{"--model=gpt-5"}, WantErr: []string{"--model"}},
		{Name: "session", Args: []string{"--session", "x"}, WantErr: []string{"--session"}},
		{Name: "continue", Args: []string{"-c"}, WantErr: []string{"-c"}},
		{Name: "resume picker", Args: []string{"--resume"}, WantErr: []string{"--resume"}},
		{Name: "no session", Args: []string{"--no-session"}, WantErr: []string{"--no-session"}},
		{Name: "session dir", Args: []string{"--session-dir", "/tmp"}, WantErr: []string{"--session-dir"}},
	}...)
}

// TestInvocationFlagsAreOwned keeps ownedFlags in step with Invocation:
// every flag it sets must be refused as an extra arg.
func TestInvocationFlagsAreOwned(t *testing.T) {
	conformance.OwnedFlagsRefused(t, pi.Engine{},
		engines.Request{Prompt: "hi", Model: "a/b", Resume: "s1"},
		engines.Request{Prompt: "hi", Continue: true},
	)
}

// TestResume runs the conformance suite's resume lines and these of
// pi's own.
func TestResume(t *testing.T) {
	ids := []string{"01a21ca2-37e3-7253-97a4-ea52a50951da", "abc", "A1-b2"}
	conformance.Resume(t, pi.Engine{}, "pi --session", ids, []conformance.ResumeCase{
		{Name: "other engine", Text: "opencode --session ses_1"},
	}...)
}

// TestImports keeps the package pure: the standard library and engines only.
func TestImports(t *testing.T) {
	conformance.Imports(t, "github.com/untether-go/untether/engines")
}
