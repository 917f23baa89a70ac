package amp_test

import (
	"slices"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/amp"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

func TestName(t *testing.T) {
	if got := (amp.Engine{}).Name(); got != "amp" {
		t.Errorf("Name() = %q, want amp", got)
	}
}

func TestInvocation(t *testing.T) {
	// The captured commands: amp [threads continue ID] -x PROMPT --stream-json --dangerously-allow-all.
	cmd := func(prompt string, extra ...string) []string {
		return append([]string{"amp", "-x", prompt, "--stream-json", "--dangerously-allow-all"}, extra...)
	}
	resume := func(id, prompt string, extra ...string) []string {
		return append([]string{"amp", "threads", "continue", id, "-x", prompt, "--stream-json", "--dangerously-allow-all"}, extra...)
	}
	const id = "T-01a21cac-49cb-769f-8458-b1496acdc2e7"

	conformance.Invocations(t, amp.Engine{}, conformance.EnvOnly(nil), []conformance.InvocationCase{
		{Name: "new", Req: engines.Request{Prompt: "create hello.txt"}, Want: cmd("create hello.txt")},
		{Name: "resume", Req: engines.Request{Prompt: "go on", Resume: id}, Want: resume(id, "go on")},
		{Name: "continue starts a new thread", Req: engines.Request{Prompt: "go on", Continue: true}, Want: cmd("go on")},
		{Name: "resume wins over continue", Req: engines.Request{Prompt: "go on", Resume: id, Continue: true}, Want: resume(id, "go on")},
		{Name: "extra args", Req: engines.Request{Prompt: "hi", ExtraArgs: []string{"--mode", "rush"}}, Want: cmd("hi", "--mode", "rush")},
		{
			Name: "resume and extra args",
			Req:  engines.Request{Prompt: "hi", Resume: id, ExtraArgs: []string{"--log-level", "debug"}},
			Want: resume(id, "hi", "--log-level", "debug"),
		},
		{Name: "prompt starting with dash", Req: engines.Request{Prompt: "--help me"}, Want: cmd(" --help me")},
		{Name: "prompt of one dash", Req: engines.Request{Prompt: "- fix it"}, Want: cmd(" - fix it")},
		{Name: "multi-line prompt unchanged", Req: engines.Request{Prompt: " a\n\tb "}, Want: cmd(" a\n\tb ")},
		{Name: "model", Req: engines.Request{Prompt: "hi", Model: "claude-opus-4-5"}, WantErr: "amp has no model option"},
		{Name: "resume flag injection", Req: engines.Request{Prompt: "hi", Resume: "--dangerously-allow-all"}, WantErr: "resume id"},
		{Name: "resume with space", Req: engines.Request{Prompt: "hi", Resume: "T-1 x"}, WantErr: "resume id"},
		{Name: "resume with slash", Req: engines.Request{Prompt: "hi", Resume: "../etc"}, WantErr: "resume id"},
		{Name: "model with shell chars", Req: engines.Request{Prompt: "hi", Model: "a;rm"}, WantErr: "model"},
	}...)
}

func TestInvalidRequests(t *testing.T) {
	conformance.InvalidRequests(t, amp.Engine{})
}

// TestInvocationFlagsAreOwned keeps ownedFlags in step with Invocation:
// every flag it sets must be refused as an extra arg.
func TestInvocationFlagsAreOwned(t *testing.T) {
	conformance.OwnedFlagsRefused(t, amp.Engine{},
		engines.Request{Prompt: "hi", Resume: "T-1"},
	)
}

func TestCheckExtraArgs(t *testing.T) {
	conformance.ExtraArgs(t, amp.Engine{}, []conformance.ArgsCase{
		{Name: "harmless", Args: []string{"--mode", "rush", "--log-level", "debug", "--no-notifications"}},
		{Name: "execute", Args: []string{"-x", "other prompt"}, WantErr: []string{"-x"}},
		{Name: "execute long", Args: []string{"--execute=other"}, WantErr: []string{"--execute"}},
		{Name: "stream json", Args: []string{"--stream-json"}, WantErr: []string{"--stream-json"}},
		{Name: "stream json input", Args: []string{"--stream-json-input"}, WantErr: []string{"--stream-json-input"}},
		{Name: "stream json thinking", Args: []string{"--stream-json-thinking"}, WantErr: []string{"--stream-json-thinking"}},
		{Name: "allow all", Args: []string{"--dangerously-allow-all"}, WantErr: []string{"--dangerously-allow-all"}},
		{Name: "several", Args: []string{"-x", "--stream-json"}, WantErr: []string{"-x", "--stream-json"}},
	}...)
}

// TestResume runs the conformance suite's resume lines and these of
// amp's own.
func TestResume(t *testing.T) {
	ids := []string{"T-01a21cac-49cb-769f-8458-b1496acdc2e7", "abc", "A1-b2"}
	conformance.Resume(t, amp.Engine{}, "amp threads continue", ids, []conformance.ResumeCase{
		{Name: "other engine", Text: "gemini --resume abc"},
		{Name: "other subcommand", Text: "amp threads list T-1"},
	}...)
}

// TestResumeInvocation checks that a resumed run passes the id to the CLI.
func TestResumeInvocation(t *testing.T) {
	e := amp.Engine{}
	for _, id := range []string{"T-01a21cac-49cb-769f-8458-b1496acdc2e7", "abc", "A1-b2"} {
		inv, err := e.Invocation(engines.Request{Prompt: "go on", Resume: id})
		if err != nil || !slices.Equal(inv.Argv[:4], []string{"amp", "threads", "continue", id}) {
			t.Errorf("Invocation(Resume: %q) = %q, %v", id, inv.Argv, err)
		}
	}
}

// TestImports keeps the package pure: the standard library and engines only.
func TestImports(t *testing.T) {
	conformance.Imports(t, "github.com/untether-go/untether/engines")
}
