package codex_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/codex"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

func TestName(t *testing.T) {
	if got := (codex.Engine{}).Name(); got != "codex" {
		t.Errorf("Name() = %q, want codex", got)
	}
}

// common are the flags of every captured command in the fixtures' README.
var common = []string{"--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"}

func TestInvocation(t *testing.T) {
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	words := func(w ...string) []string { return w }
	newRun := cat(words("codex", "exec"), common)
	resume := cat(words("codex", "exec", "resume"), common)
	const thread = "01a21c9d-7e3f-7841-af02-79f24a32141d"

	conformance.Invocations(t, codex.Engine{}, func(t *testing.T, req engines.Request, inv engines.Invocation) {
		if string(inv.Stdin) != req.Prompt {
			t.Errorf("Stdin = %q, want the prompt unchanged %q", clipped(inv.Stdin), clipped([]byte(req.Prompt)))
		}
		if len(inv.Env) != 0 {
			t.Errorf("Env = %v, want none", inv.Env)
		}
	}, []conformance.InvocationCase{
		{Name: "new", Req: engines.Request{Prompt: "create hello.txt"}, Want: cat(newRun, words("--", "-"))},
		{Name: "model", Req: engines.Request{Prompt: "hi", Model: "gpt-5.5"}, Want: cat(newRun, words("--model", "gpt-5.5", "--", "-"))},
		{
			Name: "extra args after the headless flags",
			Req:  engines.Request{Prompt: "hi", Model: "gpt-5.1-codex", ExtraArgs: []string{"-c", "model_reasoning_effort=high", "--profile", "work"}},
			Want: cat(newRun, words("--model", "gpt-5.1-codex", "-c", "model_reasoning_effort=high", "--profile", "work", "--", "-")),
		},
		{Name: "resume as captured", Req: engines.Request{Prompt: "now append world", Resume: thread}, Want: cat(resume, words("--", thread, "-"))},
		{
			Name: "resume with model and extra args before the subcommand",
			Req:  engines.Request{Prompt: "go on", Resume: thread, Model: "gpt-5.5", ExtraArgs: []string{"-C", "sub"}},
			Want: cat(words("codex", "exec", "-C", "sub", "resume"), common, words("--model", "gpt-5.5", "--", thread, "-")),
		},
		{Name: "continue", Req: engines.Request{Prompt: "go on", Continue: true}, Want: cat(resume, words("--last", "--", "-"))},
		{
			Name: "pictures with exec's own flag",
			Req:  engines.Request{Prompt: "what is this?", Images: []string{"/workspace/incoming/a.jpg", "/workspace/b.png"}},
			Want: cat(words("codex", "exec", "--image", "/workspace/incoming/a.jpg", "--image", "/workspace/b.png"), common, words("--", "-")),
		},
		{
			Name: "pictures before resume",
			Req:  engines.Request{Prompt: "and this?", Resume: thread, Images: []string{"/workspace/c.png"}},
			Want: cat(words("codex", "exec", "--image", "/workspace/c.png", "resume"), common, words("--", thread, "-")),
		},
		{Name: "picture path not absolute", Req: engines.Request{Prompt: "hi", Images: []string{"incoming/a.jpg"}}, WantErr: "not an absolute path"},
		{
			Name: "continue with model and extra args",
			Req:  engines.Request{Prompt: "go on", Continue: true, Model: "o3", ExtraArgs: []string{"--oss"}},
			Want: cat(words("codex", "exec", "--oss", "resume"), common, words("--model", "o3", "--last", "--", "-")),
		},
		{Name: "resume wins over continue", Req: engines.Request{Prompt: "x", Resume: thread, Continue: true}, Want: cat(resume, words("--", thread, "-"))},
		{Name: "prompt starting with dash", Req: engines.Request{Prompt: "--help me"}, Want: cat(newRun, words("--", "-"))},
		{Name: "prompt naming a subcommand", Req: engines.Request{Prompt: "resume"}, Want: cat(newRun, words("--", "-"))},
		{Name: "multi-line prompt unchanged", Req: engines.Request{Prompt: " a\n\tb "}, Want: cat(newRun, words("--", "-"))},
		{Name: "long prompt", Req: engines.Request{Prompt: strings.Repeat("x", 300<<10)}, Want: cat(newRun, words("--", "-"))},
		{Name: "resume flag injection", Req: engines.Request{Prompt: "hi", Resume: "--last"}, WantErr: "resume id"},
		{Name: "resume with space", Req: engines.Request{Prompt: "hi", Resume: "abc def"}, WantErr: "resume id"},
		{Name: "resume with slash", Req: engines.Request{Prompt: "hi", Resume: "../etc"}, WantErr: "resume id"},
		{Name: "model leading dash", Req: engines.Request{Prompt: "hi", Model: "-x"}, WantErr: "model"},
		{Name: "model with space", Req: engines.Request{Prompt: "hi", Model: "gpt 5"}, WantErr: "model"},
		{Name: "model with shell chars", Req: engines.Request{Prompt: "hi", Model: "a;rm"}, WantErr: "model"},
	}...)
}

func TestInvalidRequests(t *testing.T) {
	conformance.InvalidRequests(t, codex.Engine{})
}

func clipped(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// TestInvocationFlagsAreOwned keeps ownedFlags in step with Invocation:
// every flag it sets must be refused as an extra arg.
func TestInvocationFlagsAreOwned(t *testing.T) {
	conformance.OwnedFlagsRefused(t, codex.Engine{},
		engines.Request{Prompt: "x", Model: "m"},
		engines.Request{Prompt: "x", Model: "m", Resume: "abc"},
		engines.Request{Prompt: "x", Model: "m", Continue: true},
	)
}

func TestCheckExtraArgs(t *testing.T) {
	conformance.ExtraArgs(t, codex.Engine{}, []conformance.ArgsCase{
		{Name: "config override", Args: []string{"-c", "model_reasoning_effort=high", "--config", "x=1"}},
		{Name: "profile and cwd", Args: []string{"--profile", "work", "-p", "work", "-C", "sub", "--cd=sub"}},
		{Name: "images and dirs", Args: []string{"-i", "a.png", "--add-dir", "/tmp/x"}},
		{Name: "output schema", Args: []string{"--output-schema", "schema.json"}},
		{Name: "oss", Args: []string{"--oss", "--local-provider", "ollama"}},
		{Name: "json", Args: []string{"--json"}, WantErr: []string{"--json is set by untether for every codex run"}},
		{Name: "json alias", Args: []string{"--experimental-json"}, WantErr: []string{"--experimental-json"}},
		{Name: "skip git check", Args: []string{"--skip-git-repo-check"}, WantErr: []string{"--skip-git-repo-check"}},
		{Name: "bypass", Args: []string{"--dangerously-bypass-approvals-and-sandbox"}, WantErr: []string{"--dangerously-bypass"}},
		{Name: "yolo", Args: []string{"--yolo"}, WantErr: []string{"--yolo"}},
		{Name: "sandbox", Args: []string{"--sandbox", "read-only"}, WantErr: []string{"--sandbox"}},
		{Name: "sandbox short", Args: []string{"-s", "read-only"}, WantErr: []string{"-s is set"}},
		{Name: "sandbox short attached", Args: []string{"-sread-only"}, WantErr: []string{"-s is set"}},
		{Name: "not so yolo", Args: []string{"--not-so-yolo"}, WantErr: []string{"--not-so-yolo"}},
		{Name: "full auto", Args: []string{"--full-auto"}, WantErr: []string{"--full-auto"}},
		{Name: "approval", Args: []string{"-a", "never"}, WantErr: []string{"-a is set"}},
		{Name: "model", Args: []string{"--model", "gpt-5"}, WantErr: []string{"--model"}},
		{Name: "model with equals", Args: []string{"--model=gpt-5"}, WantErr: []string{"--model"}},
		{Name: "model short", Args: []string{"-m", "gpt-5"}, WantErr: []string{"-m is set"}},
		{Name: "model short attached", Args: []string{"-mgpt-5"}, WantErr: []string{"-m is set"}},
		{Name: "model short equals", Args: []string{"-m=gpt-5"}, WantErr: []string{"-m is set"}},
		{Name: "last", Args: []string{"--last"}, WantErr: []string{"--last"}},
		{Name: "all", Args: []string{"--all"}, WantErr: []string{"--all"}},
		{Name: "output last message", Args: []string{"-o", "/tmp/x"}, WantErr: []string{"-o is set"}},
		{Name: "output last message long", Args: []string{"--output-last-message=/tmp/x"}, WantErr: []string{"--output-last-message"}},
		{Name: "output attached", Args: []string{"-o/tmp/x"}, WantErr: []string{"-o is set"}},
		{Name: "ephemeral", Args: []string{"--ephemeral"}, WantErr: []string{"--ephemeral"}},
		{Name: "NUL byte", Args: []string{"-c", "a=\x00"}, WantErr: []string{"NUL byte"}},
		{Name: "NUL byte in short flag", Args: []string{"-m\x00"}, WantErr: []string{"NUL byte"}},
		{Name: "every problem named", Args: []string{"--json", "-c", "x=1", "--last"}, WantErr: []string{"--json", "--last"}},
	}...)
}

// TestResume runs the conformance suite's resume lines and these of
// codex's own.
func TestResume(t *testing.T) {
	ids := []string{"01a21c9d-7e3f-7841-af02-79f24a32141d", "abc", "A1-b2"}
	conformance.Resume(t, codex.Engine{}, "codex resume", ids, []conformance.ResumeCase{
		{Name: "last flag is not an id", Text: "codex resume --last"},
		{Name: "other engine", Text: "claude --resume abc"},
	}...)
}

// TestImports keeps the package pure: the standard library and engines only.
func TestImports(t *testing.T) {
	conformance.Imports(t, "github.com/untether-go/untether/engines")
}
