package gemini_test

import (
	"slices"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/conformance"
	"github.com/untether-go/untether/engines/gemini"
)

func TestName(t *testing.T) {
	if got := (gemini.Engine{}).Name(); got != "gemini" {
		t.Errorf("Name() = %q, want gemini", got)
	}
}

func TestInvocation(t *testing.T) {
	// The captured command: gemini -p PROMPT --output-format stream-json --yolo --skip-trust [-m M] [--resume ID].
	cmd := func(prompt string, extra ...string) []string {
		return append([]string{"gemini", "-p", prompt, "--output-format", "stream-json", "--yolo", "--skip-trust"}, extra...)
	}
	const id = "aad07503-eba3-48df-aeb2-cee861fcb2b2"

	conformance.Invocations(t, gemini.Engine{}, conformance.EnvOnly(map[string]string{"GEMINI_SANDBOX": "false", "GEMINI_CLI_NO_RELAUNCH": "true"}), []conformance.InvocationCase{
		{Name: "new", Req: engines.Request{Prompt: "create hello.txt"}, Want: cmd("create hello.txt")},
		{Name: "resume", Req: engines.Request{Prompt: "go on", Resume: id}, Want: cmd("go on", "--resume", id)},
		{Name: "continue", Req: engines.Request{Prompt: "go on", Continue: true}, Want: cmd("go on", "--resume", "latest")},
		{Name: "resume wins over continue", Req: engines.Request{Prompt: "go on", Resume: id, Continue: true}, Want: cmd("go on", "--resume", id)},
		{Name: "model", Req: engines.Request{Prompt: "hi", Model: "gemini-2.5-pro"}, Want: cmd("hi", "-m", "gemini-2.5-pro")},
		{
			Name: "model, resume and extra args",
			Req:  engines.Request{Prompt: "hi", Model: "gemini-2.5-flash", Resume: id, ExtraArgs: []string{"--include-directories", "/data", "--debug"}},
			Want: cmd("hi", "-m", "gemini-2.5-flash", "--resume", id, "--include-directories", "/data", "--debug"),
		},
		{Name: "extra args", Req: engines.Request{Prompt: "hi", ExtraArgs: []string{"--checkpointing"}}, Want: cmd("hi", "--checkpointing")},
		{Name: "prompt starting with dash", Req: engines.Request{Prompt: "--help me"}, Want: cmd(" --help me")},
		{Name: "prompt of one dash", Req: engines.Request{Prompt: "- fix it"}, Want: cmd(" - fix it")},
		{Name: "multi-line prompt unchanged", Req: engines.Request{Prompt: " a\n\tb "}, Want: cmd(" a\n\tb ")},
		{Name: "resume flag injection", Req: engines.Request{Prompt: "hi", Resume: "--yolo"}, WantErr: "resume id"},
		{Name: "resume with space", Req: engines.Request{Prompt: "hi", Resume: "abc def"}, WantErr: "resume id"},
		{Name: "resume with slash", Req: engines.Request{Prompt: "hi", Resume: "../etc"}, WantErr: "resume id"},
		{Name: "model leading dash", Req: engines.Request{Prompt: "hi", Model: "-x"}, WantErr: "model"},
		{Name: "model with space", Req: engines.Request{Prompt: "hi", Model: "gemini pro"}, WantErr: "model"},
		{Name: "model with shell chars", Req: engines.Request{Prompt: "hi", Model: "a;rm"}, WantErr: "model"},
	}...)
}

func TestInvalidRequests(t *testing.T) {
	conformance.InvalidRequests(t, gemini.Engine{})
}

// TestInvocationFlagsAreOwned keeps ownedFlags in step with Invocation:
// every flag it sets must be refused as an extra arg.
func TestInvocationFlagsAreOwned(t *testing.T) {
	conformance.OwnedFlagsRefused(t, gemini.Engine{},
		engines.Request{Prompt: "hi", Model: "m", Resume: "id"},
	)
}

func TestCheckExtraArgs(t *testing.T) {
	conformance.ExtraArgs(t, gemini.Engine{}, []conformance.ArgsCase{
		{Name: "harmless", Args: []string{"--include-directories", "/data", "--debug", "--checkpointing"}},
		{Name: "value that looks like an owned flag", Args: []string{"--include-directories", "-m"}, WantErr: []string{"-m"}},
		{Name: "output format", Args: []string{"--output-format", "json"}, WantErr: []string{"--output-format"}},
		{Name: "output format short", Args: []string{"-o", "text"}, WantErr: []string{"-o"}},
		{Name: "equals form", Args: []string{"--output-format=json"}, WantErr: []string{"--output-format"}},
		{Name: "prompt", Args: []string{"-p", "x"}, WantErr: []string{"-p"}},
		{Name: "prompt long", Args: []string{"--prompt=x"}, WantErr: []string{"--prompt"}},
		{Name: "interactive", Args: []string{"--prompt-interactive", "x"}, WantErr: []string{"--prompt-interactive"}},
		{Name: "interactive short", Args: []string{"-i", "x"}, WantErr: []string{"-i"}},
		{Name: "approval mode", Args: []string{"--approval-mode=default"}, WantErr: []string{"--approval-mode"}},
		{Name: "yolo", Args: []string{"-y"}, WantErr: []string{"-y"}},
		{Name: "resume", Args: []string{"-r", "latest"}, WantErr: []string{"-r"}},
		{Name: "model", Args: []string{"--model", "x"}, WantErr: []string{"--model"}},
		{Name: "skip trust", Args: []string{"--skip-trust"}, WantErr: []string{"--skip-trust"}},
		{Name: "several", Args: []string{"--yolo", "--resume=x"}, WantErr: []string{"--yolo", "--resume"}},
	}...)
}

// TestResume runs the conformance suite's resume lines and these of
// gemini's own.
func TestResume(t *testing.T) {
	ids := []string{"aad07503-eba3-48df-aeb2-cee861fcb2b2", "abc", "A1-b2"}
	conformance.Resume(t, gemini.Engine{}, "gemini --resume", ids, []conformance.ResumeCase{
		{Name: "other engine", Text: "claude --resume abc"},
	}...)
}

// TestResumeInvocation checks that a resumed run passes the id to the CLI.
func TestResumeInvocation(t *testing.T) {
	e := gemini.Engine{}
	for _, id := range []string{"aad07503-eba3-48df-aeb2-cee861fcb2b2", "abc", "A1-b2"} {
		inv, err := e.Invocation(engines.Request{Prompt: "go on", Resume: id})
		if err != nil || !slices.Contains(inv.Argv, id) {
			t.Errorf("Invocation(Resume: %q) = %q, %v", id, inv.Argv, err)
		}
	}
}

// TestImports keeps the package pure: the standard library, engines and
// its ACP codec only.
func TestImports(t *testing.T) {
	conformance.Imports(t, "github.com/untether-go/untether/engines", "github.com/untether-go/untether/engines/acp")
}
