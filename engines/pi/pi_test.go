package pi_test

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

	tests := []struct {
		name    string
		req     engines.Request
		want    []string
		wantErr string // substring; empty means success
	}{
		{name: "new", req: engines.Request{Prompt: "create hello.txt"}, want: argv("--mode", "json", "create hello.txt")},
		{
			name: "model",
			req:  engines.Request{Prompt: "hi", Model: "mock/mock-model"},
			want: argv("--mode", "json", "--provider", "mock", "--model", "mock-model", "hi"),
		},
		{
			name: "model id with slashes",
			req:  engines.Request{Prompt: "hi", Model: "openrouter/anthropic/claude-sonnet-4.5"},
			want: argv("--mode", "json", "--provider", "openrouter", "--model", "anthropic/claude-sonnet-4.5", "hi"),
		},
		{
			name: "resume",
			req:  engines.Request{Prompt: "go on", Model: "mock/mock-model", Resume: session},
			want: argv("--mode", "json", "--provider", "mock", "--model", "mock-model", "--session", session, "go on"),
		},
		{name: "continue", req: engines.Request{Prompt: "say hi", Continue: true}, want: argv("--mode", "json", "--continue", "say hi")},
		{
			name: "resume wins over continue",
			req:  engines.Request{Prompt: "go on", Resume: session, Continue: true},
			want: argv("--mode", "json", "--session", session, "go on"),
		},
		{
			name: "extra args come first",
			req:  engines.Request{Prompt: "hi", Model: "mock/mock-model", ExtraArgs: []string{"--thinking", "high", "--unknown-flag"}},
			want: argv("--thinking", "high", "--unknown-flag", "--mode", "json", "--provider", "mock", "--model", "mock-model", "hi"),
		},
		{name: "prompt starting with dash", req: engines.Request{Prompt: "-v is broken"}, want: argv("--mode", "json", " -v is broken")},
		{name: "prompt starting with double dash", req: engines.Request{Prompt: "--help me"}, want: argv("--mode", "json", " --help me")},
		{name: "prompt starting with at", req: engines.Request{Prompt: "@bot fix it"}, want: argv("--mode", "json", " @bot fix it")},
		{name: "at inside the prompt", req: engines.Request{Prompt: "mail a@b.c"}, want: argv("--mode", "json", "mail a@b.c")},
		{name: "multi-line prompt unchanged", req: engines.Request{Prompt: " a\n\tb "}, want: argv("--mode", "json", " a\n\tb ")},
		{name: "empty prompt", req: engines.Request{}, wantErr: "prompt is empty"},
		{name: "blank prompt", req: engines.Request{Prompt: " \n\t"}, wantErr: "prompt is empty"},
		{name: "prompt with NUL", req: engines.Request{Prompt: "a\x00b"}, wantErr: "prompt contains a NUL"},
		{name: "resume flag injection", req: engines.Request{Prompt: "hi", Resume: "--no-session"}, wantErr: "resume id"},
		{name: "resume path", req: engines.Request{Prompt: "hi", Resume: "/home/agent/.pi/x.jsonl"}, wantErr: "resume id"},
		{name: "resume with space", req: engines.Request{Prompt: "hi", Resume: "a b"}, wantErr: "resume id"},
		{name: "resume too long", req: engines.Request{Prompt: "hi", Resume: strings.Repeat("a", 200)}, wantErr: "resume id"},
		{name: "model leading dash", req: engines.Request{Prompt: "hi", Model: "-x/y"}, wantErr: "model"},
		{name: "model with shell chars", req: engines.Request{Prompt: "hi", Model: "a/b;rm"}, wantErr: "model"},
		{name: "model without provider", req: engines.Request{Prompt: "hi", Model: "mock-model"}, wantErr: "provider/model"},
		{name: "model with empty provider", req: engines.Request{Prompt: "hi", Model: "/mock-model"}, wantErr: "provider/model"},
		{name: "model with empty id", req: engines.Request{Prompt: "hi", Model: "mock/"}, wantErr: "provider/model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := pi.Engine{}.Invocation(tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Invocation() error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "build pi invocation: ") {
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
			if wantEnv := map[string]string{"PI_OFFLINE": "1", "PI_TELEMETRY": "0"}; !maps.Equal(inv.Env, wantEnv) {
				t.Errorf("Env = %v, want %v", inv.Env, wantEnv)
			}
			if inv.Stdin != nil {
				t.Errorf("Stdin = %q, want none", inv.Stdin)
			}
		})
	}
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
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring; empty means accepted
	}{
		{name: "none"},
		{name: "harmless", args: []string{"--thinking", "high", "--tools=read,bash", "--no-skills", "@AGENTS.md"}},
		{name: "mode", args: []string{"--mode", "rpc"}, wantErr: "--mode"},
		{name: "mode with value", args: []string{"--mode=text"}, wantErr: "--mode"},
		{name: "print", args: []string{"-p"}, wantErr: "-p"},
		{name: "provider", args: []string{"--provider", "openai"}, wantErr: "--provider"},
		{name: "model", args: []string{"--model=gpt-5"}, wantErr: "--model"},
		{name: "session", args: []string{"--session", "x"}, wantErr: "--session"},
		{name: "continue", args: []string{"-c"}, wantErr: "-c"},
		{name: "resume picker", args: []string{"--resume"}, wantErr: "--resume"},
		{name: "no session", args: []string{"--no-session"}, wantErr: "--no-session"},
		{name: "session dir", args: []string{"--session-dir", "/tmp"}, wantErr: "--session-dir"},
		{name: "NUL", args: []string{"a\x00b"}, wantErr: "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pi.Engine{}.CheckExtraArgs(tt.args)
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
	inv, err := pi.Engine{}.Invocation(engines.Request{Prompt: "hi", Model: "a/b", Resume: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	cont, err := pi.Engine{}.Invocation(engines.Request{Prompt: "hi", Continue: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range append(inv.Argv, cont.Argv...) {
		if !strings.HasPrefix(arg, "-") {
			continue
		}
		if err := (pi.Engine{}).CheckExtraArgs([]string{arg}); err == nil {
			t.Errorf("Invocation sets %s but CheckExtraArgs accepts it", arg)
		}
	}
}

func TestResumeRoundTrip(t *testing.T) {
	e := pi.Engine{}
	for _, id := range []string{"01a21ca2-37e3-7253-97a4-ea52a50951da", "abc", "A1-b2"} {
		line := e.ResumeLine(id)
		if want := "pi --session " + id; line != want {
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
		{name: "alone", text: "pi --session 01a21ca2-37e3", want: "01a21ca2-37e3", wantOK: true},
		{name: "in footer", text: "answer\n\n⏱ 12s · pi --session 01a21ca2", want: "01a21ca2", wantOK: true},
		{name: "in code span", text: "`pi --session abc`", want: "abc", wantOK: true},
		{name: "followed by period", text: "run pi --session abc.", want: "abc", wantOK: true},
		{name: "last wins", text: "pi --session old\npi --session new", want: "new", wantOK: true},
		{name: "path before", text: "/usr/local/bin/pi --session abc", want: "abc", wantOK: true},
		{name: "none", text: "nothing to see", wantOK: false},
		{name: "no id", text: "pi --session", wantOK: false},
		{name: "flag not id", text: "pi --session --continue", wantOK: false},
		{name: "other engine", text: "opencode --session ses_1", wantOK: false},
		{name: "longer word", text: "api --session abc", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := pi.Engine{}.ParseResume(tt.text)
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
				t.Errorf("%s imports %s; package pi may import only the standard library and %s", f, p, allowed)
			}
			if slices.Contains([]string{"os", "os/exec", "net", "net/http", "io/fs", "syscall"}, p) {
				t.Errorf("%s imports %s; package pi must stay pure", f, p)
			}
		}
	}
}
