package opencode_test

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

	tests := []struct {
		name    string
		req     engines.Request
		want    []string
		wantErr string // substring; empty means success
	}{
		{name: "new", req: engines.Request{Prompt: "create hello.txt"}, want: with("--", "create hello.txt")},
		{name: "resume", req: engines.Request{Prompt: "go on", Resume: session}, want: with("--session", session, "--", "go on")},
		{name: "continue", req: engines.Request{Prompt: "say hi", Continue: true}, want: with("--continue", "--", "say hi")},
		{
			name: "resume wins over continue",
			req:  engines.Request{Prompt: "go on", Resume: session, Continue: true},
			want: with("--session", session, "--", "go on"),
		},
		{name: "model", req: engines.Request{Prompt: "hi", Model: "mock/mock-model"}, want: with("--model", "mock/mock-model", "--", "hi")},
		{
			name: "model with slashes in its id",
			req:  engines.Request{Prompt: "hi", Model: "openrouter/anthropic/claude-sonnet-4.5"},
			want: with("--model", "openrouter/anthropic/claude-sonnet-4.5", "--", "hi"),
		},
		{
			name: "model, resume and extra args",
			req:  engines.Request{Prompt: "hi", Model: "anthropic/claude-sonnet-4-5", Resume: session, ExtraArgs: []string{"--agent", "plan", "--thinking"}},
			want: with("--model", "anthropic/claude-sonnet-4-5", "--session", session, "--agent", "plan", "--thinking", "--", "hi"),
		},
		{name: "prompt starting with dash", req: engines.Request{Prompt: "--help me"}, want: with("--", "--help me")},
		{name: "multi-line prompt unchanged", req: engines.Request{Prompt: " a\n\tb "}, want: with("--", " a\n\tb ")},
		{name: "empty prompt", req: engines.Request{}, wantErr: "prompt is empty"},
		{name: "blank prompt", req: engines.Request{Prompt: " \n\t"}, wantErr: "prompt is empty"},
		{name: "prompt with NUL", req: engines.Request{Prompt: "a\x00b"}, wantErr: "prompt contains a NUL"},
		{name: "resume flag injection", req: engines.Request{Prompt: "hi", Resume: "--fork"}, wantErr: "resume id"},
		{name: "resume with space", req: engines.Request{Prompt: "hi", Resume: "ses_1 ses_2"}, wantErr: "resume id"},
		{name: "resume with slash", req: engines.Request{Prompt: "hi", Resume: "../ses"}, wantErr: "resume id"},
		{name: "resume too long", req: engines.Request{Prompt: "hi", Resume: strings.Repeat("a", 200)}, wantErr: "resume id"},
		{name: "model leading dash", req: engines.Request{Prompt: "hi", Model: "-x/y"}, wantErr: "model"},
		{name: "model with shell chars", req: engines.Request{Prompt: "hi", Model: "a/b;rm"}, wantErr: "model"},
		{name: "model without provider", req: engines.Request{Prompt: "hi", Model: "claude-sonnet-4-5"}, wantErr: "provider/model"},
		{name: "model with empty provider", req: engines.Request{Prompt: "hi", Model: "/claude"}, wantErr: "provider/model"},
		{name: "model with empty id", req: engines.Request{Prompt: "hi", Model: "anthropic/"}, wantErr: "provider/model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := opencode.Engine{}.Invocation(tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Invocation() error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "build opencode invocation: ") {
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
			wantEnv := map[string]string{
				"OPENCODE_PERMISSION":         `{"*":"allow","edit":"allow","bash":"allow","webfetch":"allow","external_directory":"allow"}`,
				"OPENCODE_DISABLE_AUTOUPDATE": "1",
				"OPENCODE_DISABLE_SHARE":      "1",
			}
			if !maps.Equal(inv.Env, wantEnv) {
				t.Errorf("Env = %v, want %v", inv.Env, wantEnv)
			}
			if inv.Stdin != nil {
				t.Errorf("Stdin = %q, want none", inv.Stdin)
			}
		})
	}
}

func TestCheckExtraArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring; empty means accepted
	}{
		{name: "none"},
		{name: "harmless", args: []string{"--agent", "build", "--thinking", "--variant=high", "--print-logs"}},
		{name: "format", args: []string{"--format", "default"}, wantErr: "--format"},
		{name: "format with value", args: []string{"--format=default"}, wantErr: "--format"},
		{name: "model", args: []string{"--model", "x/y"}, wantErr: "--model"},
		{name: "short model", args: []string{"-m", "x/y"}, wantErr: "-m"},
		{name: "session", args: []string{"--session=ses_1"}, wantErr: "--session"},
		{name: "short session", args: []string{"-s", "ses_1"}, wantErr: "-s"},
		{name: "continue", args: []string{"--continue"}, wantErr: "--continue"},
		{name: "short continue", args: []string{"-c"}, wantErr: "-c"},
		{name: "fork", args: []string{"--fork"}, wantErr: "--fork"},
		{name: "interactive", args: []string{"-i"}, wantErr: "-i"},
		{name: "NUL", args: []string{"a\x00b"}, wantErr: "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := opencode.Engine{}.CheckExtraArgs(tt.args)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckExtraArgs(%q) = %v, want nil", tt.args, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckExtraArgs(%q) = %v, want an error naming %s", tt.args, err, tt.wantErr)
			}
		})
	}
}

// TestInvocationFlagsAreOwned keeps ownedFlags in step with Invocation:
// every flag Invocation sets must be refused in extra_args.
func TestInvocationFlagsAreOwned(t *testing.T) {
	inv, err := opencode.Engine{}.Invocation(engines.Request{Prompt: "hi", Model: "a/b", Resume: "ses_1"})
	if err != nil {
		t.Fatal(err)
	}
	cont, err := opencode.Engine{}.Invocation(engines.Request{Prompt: "hi", Continue: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range append(inv.Argv, cont.Argv...) {
		if !strings.HasPrefix(arg, "-") || arg == "--" {
			continue
		}
		if err := (opencode.Engine{}).CheckExtraArgs([]string{arg}); err == nil {
			t.Errorf("Invocation sets %s but CheckExtraArgs accepts it", arg)
		}
	}
}

func TestResumeRoundTrip(t *testing.T) {
	e := opencode.Engine{}
	for _, id := range []string{"ses_de361666cffeAGnfWJW8bMzObK", "abc", "A1-b2"} {
		line := e.ResumeLine(id)
		if want := "opencode --session " + id; line != want {
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
		{name: "alone", text: "opencode --session ses_abc123", want: "ses_abc123", wantOK: true},
		{name: "in footer", text: "answer\n\n⏱ 12s · opencode --session ses_de36", want: "ses_de36", wantOK: true},
		{name: "in code span", text: "`opencode --session ses_1`", want: "ses_1", wantOK: true},
		{name: "followed by period", text: "run opencode --session ses_1.", want: "ses_1", wantOK: true},
		{name: "last wins", text: "opencode --session ses_old\nopencode --session ses_new", want: "ses_new", wantOK: true},
		{name: "path before", text: "/usr/bin/opencode --session ses_1", want: "ses_1", wantOK: true},
		{name: "none", text: "nothing to see", wantOK: false},
		{name: "no id", text: "opencode --session", wantOK: false},
		{name: "flag not id", text: "opencode --session --continue", wantOK: false},
		{name: "other engine", text: "pi --session 01a21ca2", wantOK: false},
		{name: "longer word", text: "myopencode --session ses_1", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := opencode.Engine{}.ParseResume(tt.text)
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
				t.Errorf("%s imports %s; package opencode may import only the standard library and %s", f, p, allowed)
			}
			if slices.Contains([]string{"os", "os/exec", "net", "net/http", "io/fs", "syscall"}, p) {
				t.Errorf("%s imports %s; package opencode must stay pure", f, p)
			}
		}
	}
}
