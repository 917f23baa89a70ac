package codex_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/codex"
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

	tests := []struct {
		name    string
		req     engines.Request
		want    []string
		wantErr string // substring; empty means success
	}{
		{name: "new", req: engines.Request{Prompt: "create hello.txt"}, want: cat(newRun, words("--", "-"))},
		{name: "model", req: engines.Request{Prompt: "hi", Model: "gpt-5.5"}, want: cat(newRun, words("--model", "gpt-5.5", "--", "-"))},
		{
			name: "extra args after the headless flags",
			req:  engines.Request{Prompt: "hi", Model: "gpt-5.1-codex", ExtraArgs: []string{"-c", "model_reasoning_effort=high", "--profile", "work"}},
			want: cat(newRun, words("--model", "gpt-5.1-codex", "-c", "model_reasoning_effort=high", "--profile", "work", "--", "-")),
		},
		{name: "resume as captured", req: engines.Request{Prompt: "now append world", Resume: thread}, want: cat(resume, words("--", thread, "-"))},
		{
			name: "resume with model and extra args before the subcommand",
			req:  engines.Request{Prompt: "go on", Resume: thread, Model: "gpt-5.5", ExtraArgs: []string{"-C", "sub"}},
			want: cat(words("codex", "exec", "-C", "sub", "resume"), common, words("--model", "gpt-5.5", "--", thread, "-")),
		},
		{name: "continue", req: engines.Request{Prompt: "go on", Continue: true}, want: cat(resume, words("--last", "--", "-"))},
		{
			name: "continue with model and extra args",
			req:  engines.Request{Prompt: "go on", Continue: true, Model: "o3", ExtraArgs: []string{"--oss"}},
			want: cat(words("codex", "exec", "--oss", "resume"), common, words("--model", "o3", "--last", "--", "-")),
		},
		{name: "resume wins over continue", req: engines.Request{Prompt: "x", Resume: thread, Continue: true}, want: cat(resume, words("--", thread, "-"))},
		{name: "prompt starting with dash", req: engines.Request{Prompt: "--help me"}, want: cat(newRun, words("--", "-"))},
		{name: "prompt naming a subcommand", req: engines.Request{Prompt: "resume"}, want: cat(newRun, words("--", "-"))},
		{name: "multi-line prompt unchanged", req: engines.Request{Prompt: " a\n\tb "}, want: cat(newRun, words("--", "-"))},
		{name: "long prompt", req: engines.Request{Prompt: strings.Repeat("x", 300<<10)}, want: cat(newRun, words("--", "-"))},
		{name: "empty prompt", req: engines.Request{}, wantErr: "prompt is empty"},
		{name: "blank prompt", req: engines.Request{Prompt: " \n\t"}, wantErr: "prompt is empty"},
		{name: "prompt with NUL", req: engines.Request{Prompt: "a\x00b"}, wantErr: "prompt contains a NUL"},
		{name: "resume flag injection", req: engines.Request{Prompt: "hi", Resume: "--last"}, wantErr: "resume id"},
		{name: "resume with space", req: engines.Request{Prompt: "hi", Resume: "abc def"}, wantErr: "resume id"},
		{name: "resume with slash", req: engines.Request{Prompt: "hi", Resume: "../etc"}, wantErr: "resume id"},
		{name: "resume too long", req: engines.Request{Prompt: "hi", Resume: strings.Repeat("a", 200)}, wantErr: "resume id"},
		{name: "model leading dash", req: engines.Request{Prompt: "hi", Model: "-x"}, wantErr: "model"},
		{name: "model with space", req: engines.Request{Prompt: "hi", Model: "gpt 5"}, wantErr: "model"},
		{name: "model with shell chars", req: engines.Request{Prompt: "hi", Model: "a;rm"}, wantErr: "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := codex.Engine{}.Invocation(tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Invocation() error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "build codex invocation: ") {
					t.Errorf("error %q lacks the operation phrase", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Invocation() error = %v", err)
			}
			if !slices.Equal(inv.Argv, tt.want) {
				t.Errorf("Argv =\n  %q\nwant\n  %q", inv.Argv, tt.want)
			}
			if string(inv.Stdin) != tt.req.Prompt {
				t.Errorf("Stdin = %q, want the prompt unchanged %q", clipped(inv.Stdin), clipped([]byte(tt.req.Prompt)))
			}
			if len(inv.Env) != 0 {
				t.Errorf("Env = %v, want none", inv.Env)
			}
		})
	}
}

func clipped(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// TestInvocationFlagsAreOwned keeps CheckExtraArgs in step with Invocation:
// every flag Invocation sets must be refused in extra_args.
func TestInvocationFlagsAreOwned(t *testing.T) {
	for _, req := range []engines.Request{
		{Prompt: "x", Model: "m"},
		{Prompt: "x", Model: "m", Resume: "abc"},
		{Prompt: "x", Model: "m", Continue: true},
	} {
		inv, err := codex.Engine{}.Invocation(req)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range inv.Argv {
			if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
				continue
			}
			if err := (codex.Engine{}).CheckExtraArgs([]string{a}); err == nil {
				t.Errorf("Invocation sets %s but CheckExtraArgs accepts it", a)
			}
		}
	}
}

func TestCheckExtraArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr []string // substrings; none means success
	}{
		{name: "none"},
		{name: "config override", args: []string{"-c", "model_reasoning_effort=high", "--config", "x=1"}},
		{name: "profile and cwd", args: []string{"--profile", "work", "-p", "work", "-C", "sub", "--cd=sub"}},
		{name: "images and dirs", args: []string{"-i", "a.png", "--add-dir", "/tmp/x"}},
		{name: "output schema", args: []string{"--output-schema", "schema.json"}},
		{name: "oss", args: []string{"--oss", "--local-provider", "ollama"}},
		{name: "json", args: []string{"--json"}, wantErr: []string{"--json is set by untether for every codex run"}},
		{name: "json alias", args: []string{"--experimental-json"}, wantErr: []string{"--experimental-json"}},
		{name: "skip git check", args: []string{"--skip-git-repo-check"}, wantErr: []string{"--skip-git-repo-check"}},
		{name: "bypass", args: []string{"--dangerously-bypass-approvals-and-sandbox"}, wantErr: []string{"--dangerously-bypass"}},
		{name: "yolo", args: []string{"--yolo"}, wantErr: []string{"--yolo"}},
		{name: "sandbox", args: []string{"--sandbox", "read-only"}, wantErr: []string{"--sandbox"}},
		{name: "sandbox short", args: []string{"-s", "read-only"}, wantErr: []string{"-s is set"}},
		{name: "sandbox short attached", args: []string{"-sread-only"}, wantErr: []string{"-s is set"}},
		{name: "not so yolo", args: []string{"--not-so-yolo"}, wantErr: []string{"--not-so-yolo"}},
		{name: "full auto", args: []string{"--full-auto"}, wantErr: []string{"--full-auto"}},
		{name: "approval", args: []string{"-a", "never"}, wantErr: []string{"-a is set"}},
		{name: "model", args: []string{"--model", "gpt-5"}, wantErr: []string{"--model"}},
		{name: "model with equals", args: []string{"--model=gpt-5"}, wantErr: []string{"--model"}},
		{name: "model short", args: []string{"-m", "gpt-5"}, wantErr: []string{"-m is set"}},
		{name: "model short attached", args: []string{"-mgpt-5"}, wantErr: []string{"-m is set"}},
		{name: "model short equals", args: []string{"-m=gpt-5"}, wantErr: []string{"-m is set"}},
		{name: "last", args: []string{"--last"}, wantErr: []string{"--last"}},
		{name: "all", args: []string{"--all"}, wantErr: []string{"--all"}},
		{name: "output last message", args: []string{"-o", "/tmp/x"}, wantErr: []string{"-o is set"}},
		{name: "output last message long", args: []string{"--output-last-message=/tmp/x"}, wantErr: []string{"--output-last-message"}},
		{name: "output attached", args: []string{"-o/tmp/x"}, wantErr: []string{"-o is set"}},
		{name: "ephemeral", args: []string{"--ephemeral"}, wantErr: []string{"--ephemeral"}},
		{name: "NUL byte", args: []string{"-c", "a=\x00"}, wantErr: []string{"NUL byte"}},
		{name: "NUL byte in short flag", args: []string{"-m\x00"}, wantErr: []string{"NUL byte"}},
		{name: "every problem named", args: []string{"--json", "-c", "x=1", "--last"}, wantErr: []string{"--json", "--last"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := codex.Engine{}.CheckExtraArgs(tt.args)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("CheckExtraArgs(%q) = %v, want nil", tt.args, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckExtraArgs(%q) = nil, want an error", tt.args)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestResumeRoundTrip(t *testing.T) {
	e := codex.Engine{}
	for _, id := range []string{"01a21c9d-7e3f-7841-af02-79f24a32141d", "abc", "A1-b2"} {
		line := e.ResumeLine(id)
		if want := "codex resume " + id; line != want {
			t.Errorf("ResumeLine(%q) = %q, want %q", id, line, want)
		}
		footer := "Done. Created hello.txt.\n\n" + line + "\n"
		if got, ok := e.ParseResume(footer); !ok || got != id {
			t.Errorf("ParseResume(ResumeLine(%q)) = %q, %v", id, got, ok)
		}
	}
}

func TestParseResume(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		want   string
		wantOK bool
	}{
		{name: "alone", text: "codex resume 01a21c9d-7e3f", want: "01a21c9d-7e3f", wantOK: true},
		{name: "in footer", text: "answer\n\n⏱ 12s · codex resume 01a21c9d-7e3f", want: "01a21c9d-7e3f", wantOK: true},
		{name: "in code span", text: "`codex resume abc`", want: "abc", wantOK: true},
		{name: "followed by period", text: "run codex resume abc.", want: "abc", wantOK: true},
		{name: "last wins", text: "codex resume old\ncodex resume new", want: "new", wantOK: true},
		{name: "invalid last keeps earlier", text: "codex resume good\ncodex resume -bad", want: "good", wantOK: true},
		{name: "path before", text: "/usr/bin/codex resume abc", want: "abc", wantOK: true},
		{name: "none", text: "nothing to see", wantOK: false},
		{name: "empty", text: "", wantOK: false},
		{name: "no id", text: "codex resume", wantOK: false},
		{name: "no space", text: "codex resumeabc", wantOK: false},
		{name: "last flag is not an id", text: "codex resume --last", wantOK: false},
		{name: "other engine", text: "claude --resume abc", wantOK: false},
		{name: "longer word", text: "mycodex resume abc", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := codex.Engine{}.ParseResume(tt.text)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseResume(%q) = %q, %v; want %q, %v", tt.text, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestImports keeps the package pure: the standard library and engines only.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	const allowed = "github.com/untether-go/untether/engines"
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			std := !strings.Contains(strings.Split(p, "/")[0], ".")
			if !std && p != allowed {
				t.Errorf("%s imports %s; package codex may import only the standard library and %s", f, p, allowed)
			}
			if slices.Contains([]string{"os", "os/exec", "net", "net/http", "io/fs", "syscall"}, p) {
				t.Errorf("%s imports %s; package codex must stay pure", f, p)
			}
		}
	}
}
