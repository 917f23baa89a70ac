package amp_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/amp"
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

	tests := []struct {
		name    string
		req     engines.Request
		want    []string
		wantErr string // substring; empty means success
	}{
		{name: "new", req: engines.Request{Prompt: "create hello.txt"}, want: cmd("create hello.txt")},
		{name: "resume", req: engines.Request{Prompt: "go on", Resume: id}, want: resume(id, "go on")},
		{name: "continue starts a new thread", req: engines.Request{Prompt: "go on", Continue: true}, want: cmd("go on")},
		{name: "resume wins over continue", req: engines.Request{Prompt: "go on", Resume: id, Continue: true}, want: resume(id, "go on")},
		{name: "extra args", req: engines.Request{Prompt: "hi", ExtraArgs: []string{"--mode", "rush"}}, want: cmd("hi", "--mode", "rush")},
		{
			name: "resume and extra args",
			req:  engines.Request{Prompt: "hi", Resume: id, ExtraArgs: []string{"--log-level", "debug"}},
			want: resume(id, "hi", "--log-level", "debug"),
		},
		{name: "prompt starting with dash", req: engines.Request{Prompt: "--help me"}, want: cmd(" --help me")},
		{name: "prompt of one dash", req: engines.Request{Prompt: "- fix it"}, want: cmd(" - fix it")},
		{name: "multi-line prompt unchanged", req: engines.Request{Prompt: " a\n\tb "}, want: cmd(" a\n\tb ")},
		{name: "model", req: engines.Request{Prompt: "hi", Model: "claude-opus-4-5"}, wantErr: "amp has no model option"},
		{name: "empty prompt", req: engines.Request{}, wantErr: "prompt is empty"},
		{name: "blank prompt", req: engines.Request{Prompt: " \n\t"}, wantErr: "prompt is empty"},
		{name: "prompt with NUL", req: engines.Request{Prompt: "a\x00b"}, wantErr: "prompt contains a NUL"},
		{name: "resume flag injection", req: engines.Request{Prompt: "hi", Resume: "--dangerously-allow-all"}, wantErr: "resume id"},
		{name: "resume with space", req: engines.Request{Prompt: "hi", Resume: "T-1 x"}, wantErr: "resume id"},
		{name: "resume with slash", req: engines.Request{Prompt: "hi", Resume: "../etc"}, wantErr: "resume id"},
		{name: "resume too long", req: engines.Request{Prompt: "hi", Resume: strings.Repeat("a", 200)}, wantErr: "resume id"},
		{name: "model with shell chars", req: engines.Request{Prompt: "hi", Model: "a;rm"}, wantErr: "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := amp.Engine{}.Invocation(tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Invocation() error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "build amp invocation: ") {
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
			if len(inv.Env) != 0 {
				t.Errorf("Env = %v, want none", inv.Env)
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
	e := amp.Engine{}
	inv, err := e.Invocation(engines.Request{Prompt: "hi", Resume: "T-1"})
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
		{name: "harmless", args: []string{"--mode", "rush", "--log-level", "debug", "--no-notifications"}},
		{name: "execute", args: []string{"-x", "other prompt"}, wantErr: []string{"-x"}},
		{name: "execute long", args: []string{"--execute=other"}, wantErr: []string{"--execute"}},
		{name: "stream json", args: []string{"--stream-json"}, wantErr: []string{"--stream-json"}},
		{name: "stream json input", args: []string{"--stream-json-input"}, wantErr: []string{"--stream-json-input"}},
		{name: "stream json thinking", args: []string{"--stream-json-thinking"}, wantErr: []string{"--stream-json-thinking"}},
		{name: "allow all", args: []string{"--dangerously-allow-all"}, wantErr: []string{"--dangerously-allow-all"}},
		{name: "several", args: []string{"-x", "--stream-json"}, wantErr: []string{"-x", "--stream-json"}},
		{name: "NUL", args: []string{"a\x00b"}, wantErr: []string{"NUL byte"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := amp.Engine{}.CheckExtraArgs(tt.args)
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
	e := amp.Engine{}
	for _, id := range []string{"T-01a21cac-49cb-769f-8458-b1496acdc2e7", "abc", "A1-b2"} {
		line := e.ResumeLine(id)
		if want := "amp threads continue " + id; line != want {
			t.Errorf("ResumeLine(%q) = %q, want %q", id, line, want)
		}
		footer := "Done. Created hello.txt.\n\n" + line + "\n"
		if got, ok := e.ParseResume(footer); !ok || got != id {
			t.Errorf("ParseResume(ResumeLine(%q)) = %q, %v", id, got, ok)
		}
		inv, err := e.Invocation(engines.Request{Prompt: "go on", Resume: id})
		if err != nil || !slices.Equal(inv.Argv[:4], []string{"amp", "threads", "continue", id}) {
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
		{name: "alone", text: "amp threads continue T-abc-123", want: "T-abc-123", wantOK: true},
		{name: "in footer", text: "answer\n\n⏱ 12s · amp threads continue T-01a21cac-49cb", want: "T-01a21cac-49cb", wantOK: true},
		{name: "in code span", text: "`amp threads continue T-1`", want: "T-1", wantOK: true},
		{name: "followed by period", text: "run amp threads continue T-1.", want: "T-1", wantOK: true},
		{name: "last wins", text: "amp threads continue T-old\namp threads continue T-new", want: "T-new", wantOK: true},
		{name: "invalid last keeps earlier", text: "amp threads continue T-good\namp threads continue -bad", want: "T-good", wantOK: true},
		{name: "path before", text: "/usr/bin/amp threads continue T-1", want: "T-1", wantOK: true},
		{name: "none", text: "nothing to see", wantOK: false},
		{name: "empty", text: "", wantOK: false},
		{name: "no id", text: "amp threads continue", wantOK: false},
		{name: "no space", text: "amp threads continueT-1", wantOK: false},
		{name: "flag not id", text: "amp threads continue -x hi", wantOK: false},
		{name: "other engine", text: "gemini --resume abc", wantOK: false},
		{name: "other subcommand", text: "amp threads list T-1", wantOK: false},
		{name: "longer word", text: "ramp threads continue T-1", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := amp.Engine{}.ParseResume(tt.text)
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
				t.Errorf("%s imports %s; package amp may import only the standard library and %s", f, p, allowed)
			}
			if slices.Contains([]string{"os", "os/exec", "net", "net/http", "io/fs", "syscall"}, p) {
				t.Errorf("%s imports %s; package amp must stay pure", f, p)
			}
		}
	}
}
