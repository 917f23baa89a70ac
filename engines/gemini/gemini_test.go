package gemini_test

import (
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
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

	tests := []struct {
		name    string
		req     engines.Request
		want    []string
		wantErr string // substring; empty means success
	}{
		{name: "new", req: engines.Request{Prompt: "create hello.txt"}, want: cmd("create hello.txt")},
		{name: "resume", req: engines.Request{Prompt: "go on", Resume: id}, want: cmd("go on", "--resume", id)},
		{name: "continue", req: engines.Request{Prompt: "go on", Continue: true}, want: cmd("go on", "--resume", "latest")},
		{name: "resume wins over continue", req: engines.Request{Prompt: "go on", Resume: id, Continue: true}, want: cmd("go on", "--resume", id)},
		{name: "model", req: engines.Request{Prompt: "hi", Model: "gemini-2.5-pro"}, want: cmd("hi", "-m", "gemini-2.5-pro")},
		{
			name: "model, resume and extra args",
			req:  engines.Request{Prompt: "hi", Model: "gemini-2.5-flash", Resume: id, ExtraArgs: []string{"--include-directories", "/data", "--debug"}},
			want: cmd("hi", "-m", "gemini-2.5-flash", "--resume", id, "--include-directories", "/data", "--debug"),
		},
		{name: "extra args", req: engines.Request{Prompt: "hi", ExtraArgs: []string{"--checkpointing"}}, want: cmd("hi", "--checkpointing")},
		{name: "prompt starting with dash", req: engines.Request{Prompt: "--help me"}, want: cmd(" --help me")},
		{name: "prompt of one dash", req: engines.Request{Prompt: "- fix it"}, want: cmd(" - fix it")},
		{name: "multi-line prompt unchanged", req: engines.Request{Prompt: " a\n\tb "}, want: cmd(" a\n\tb ")},
		{name: "empty prompt", req: engines.Request{}, wantErr: "prompt is empty"},
		{name: "blank prompt", req: engines.Request{Prompt: " \n\t"}, wantErr: "prompt is empty"},
		{name: "prompt with NUL", req: engines.Request{Prompt: "a\x00b"}, wantErr: "prompt contains a NUL"},
		{name: "resume flag injection", req: engines.Request{Prompt: "hi", Resume: "--yolo"}, wantErr: "resume id"},
		{name: "resume with space", req: engines.Request{Prompt: "hi", Resume: "abc def"}, wantErr: "resume id"},
		{name: "resume with slash", req: engines.Request{Prompt: "hi", Resume: "../etc"}, wantErr: "resume id"},
		{name: "resume too long", req: engines.Request{Prompt: "hi", Resume: strings.Repeat("a", 200)}, wantErr: "resume id"},
		{name: "model leading dash", req: engines.Request{Prompt: "hi", Model: "-x"}, wantErr: "model"},
		{name: "model with space", req: engines.Request{Prompt: "hi", Model: "gemini pro"}, wantErr: "model"},
		{name: "model with shell chars", req: engines.Request{Prompt: "hi", Model: "a;rm"}, wantErr: "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := gemini.Engine{}.Invocation(tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Invocation() error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "build gemini invocation: ") {
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
			wantEnv := map[string]string{"GEMINI_SANDBOX": "false", "GEMINI_CLI_NO_RELAUNCH": "true"}
			if !maps.Equal(inv.Env, wantEnv) {
				t.Errorf("Env = %v, want %v", inv.Env, wantEnv)
			}
			if inv.Stdin != nil {
				t.Errorf("Stdin = %q, want none", inv.Stdin)
			}
		})
	}
}

// TestInvocationFlagsAreOwned keeps ownedFlags in step with Invocation:
// every flag it sets must be refused as an extra arg.
func TestInvocationFlagsAreOwned(t *testing.T) {
	e := gemini.Engine{}
	inv, err := e.Invocation(engines.Request{Prompt: "hi", Model: "m", Resume: "id"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range inv.Argv[1:] {
		if strings.HasPrefix(a, "-") {
			if err := e.CheckExtraArgs([]string{a}); err == nil {
				t.Errorf("CheckExtraArgs accepts %s, which Invocation sets", a)
			}
		}
	}
}

func TestCheckExtraArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr []string // what the error must name; none means success
	}{
		{name: "none"},
		{name: "harmless", args: []string{"--include-directories", "/data", "--debug", "--checkpointing"}},
		{name: "value that looks like an owned flag", args: []string{"--include-directories", "-m"}, wantErr: []string{"-m"}},
		{name: "output format", args: []string{"--output-format", "json"}, wantErr: []string{"--output-format"}},
		{name: "output format short", args: []string{"-o", "text"}, wantErr: []string{"-o"}},
		{name: "equals form", args: []string{"--output-format=json"}, wantErr: []string{"--output-format"}},
		{name: "prompt", args: []string{"-p", "x"}, wantErr: []string{"-p"}},
		{name: "prompt long", args: []string{"--prompt=x"}, wantErr: []string{"--prompt"}},
		{name: "interactive", args: []string{"--prompt-interactive", "x"}, wantErr: []string{"--prompt-interactive"}},
		{name: "interactive short", args: []string{"-i", "x"}, wantErr: []string{"-i"}},
		{name: "approval mode", args: []string{"--approval-mode=default"}, wantErr: []string{"--approval-mode"}},
		{name: "yolo", args: []string{"-y"}, wantErr: []string{"-y"}},
		{name: "resume", args: []string{"-r", "latest"}, wantErr: []string{"-r"}},
		{name: "model", args: []string{"--model", "x"}, wantErr: []string{"--model"}},
		{name: "skip trust", args: []string{"--skip-trust"}, wantErr: []string{"--skip-trust"}},
		{name: "several", args: []string{"--yolo", "--resume=x"}, wantErr: []string{"--yolo", "--resume"}},
		{name: "NUL", args: []string{"a\x00b"}, wantErr: []string{"NUL byte"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := gemini.Engine{}.CheckExtraArgs(tt.args)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("CheckExtraArgs() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckExtraArgs(%q) = nil, want an error", tt.args)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("CheckExtraArgs() = %v, want it to name %q", err, want)
				}
			}
		})
	}
}

func TestResumeRoundTrip(t *testing.T) {
	e := gemini.Engine{}
	for _, id := range []string{"aad07503-eba3-48df-aeb2-cee861fcb2b2", "abc", "A1-b2"} {
		line := e.ResumeLine(id)
		if want := "gemini --resume " + id; line != want {
			t.Errorf("ResumeLine(%q) = %q, want %q", id, line, want)
		}
		footer := "Done. Created hello.txt.\n\n" + line + "\n"
		if got, ok := e.ParseResume(footer); !ok || got != id {
			t.Errorf("ParseResume(ResumeLine(%q)) = %q, %v", id, got, ok)
		}
		inv, err := e.Invocation(engines.Request{Prompt: "go on", Resume: id})
		if err != nil || !slices.Contains(inv.Argv, id) {
			t.Errorf("Invocation(Resume: %q) = %q, %v", id, inv.Argv, err)
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
		{name: "alone", text: "gemini --resume abc-123", want: "abc-123", wantOK: true},
		{name: "in footer", text: "answer\n\n⏱ 12s · gemini --resume aad07503-eba3", want: "aad07503-eba3", wantOK: true},
		{name: "in code span", text: "`gemini --resume abc`", want: "abc", wantOK: true},
		{name: "followed by period", text: "run gemini --resume abc.", want: "abc", wantOK: true},
		{name: "last wins", text: "gemini --resume old\ngemini --resume new", want: "new", wantOK: true},
		{name: "invalid last keeps earlier", text: "gemini --resume good\ngemini --resume -bad", want: "good", wantOK: true},
		{name: "path before", text: "/usr/bin/gemini --resume abc", want: "abc", wantOK: true},
		{name: "none", text: "nothing to see", wantOK: false},
		{name: "empty", text: "", wantOK: false},
		{name: "no id", text: "gemini --resume", wantOK: false},
		{name: "no space", text: "gemini --resumeabc", wantOK: false},
		{name: "flag not id", text: "gemini --resume --model x", wantOK: false},
		{name: "other engine", text: "claude --resume abc", wantOK: false},
		{name: "longer word", text: "mygemini --resume abc", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := gemini.Engine{}.ParseResume(tt.text)
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
				t.Errorf("%s imports %s; package gemini may import only the standard library and %s", f, p, allowed)
			}
			if slices.Contains([]string{"os", "os/exec", "net", "net/http", "io/fs", "syscall"}, p) {
				t.Errorf("%s imports %s; package gemini must stay pure", f, p)
			}
		}
	}
}
