package claude_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/claude"
)

func TestName(t *testing.T) {
	if got := (claude.Engine{}).Name(); got != "claude" {
		t.Errorf("Name() = %q, want claude", got)
	}
}

func TestInvocation(t *testing.T) {
	base := []string{
		"claude", "-p", "--output-format", "stream-json", "--verbose",
		"--permission-mode", "bypassPermissions",
	}
	with := func(extra ...string) []string { return append(slices.Clone(base), extra...) }
	const session = "ca28b1b9-709d-454a-8bc1-33169420ef03"

	tests := []struct {
		name    string
		req     engines.Request
		want    []string
		wantErr string // substring; empty means success
	}{
		{name: "new", req: engines.Request{Prompt: "create hello.txt"}, want: with("--", "create hello.txt")},
		{name: "resume", req: engines.Request{Prompt: "go on", Resume: session}, want: with("--resume", session, "--", "go on")},
		{name: "model", req: engines.Request{Prompt: "hi", Model: "claude-sonnet-4-5"}, want: with("--model", "claude-sonnet-4-5", "--", "hi")},
		{
			name: "model and resume",
			req:  engines.Request{Prompt: "hi", Model: "us.anthropic.claude-sonnet-4-5-v1:0", Resume: session},
			want: with("--model", "us.anthropic.claude-sonnet-4-5-v1:0", "--resume", session, "--", "hi"),
		},
		{name: "model alias", req: engines.Request{Prompt: "hi", Model: "opus"}, want: with("--model", "opus", "--", "hi")},
		{name: "prompt starting with dash", req: engines.Request{Prompt: "--help me"}, want: with("--", "--help me")},
		{name: "multi-line prompt unchanged", req: engines.Request{Prompt: " a\n\tb "}, want: with("--", " a\n\tb ")},
		{name: "empty prompt", req: engines.Request{}, wantErr: "prompt is empty"},
		{name: "blank prompt", req: engines.Request{Prompt: " \n\t"}, wantErr: "prompt is empty"},
		{name: "prompt with NUL", req: engines.Request{Prompt: "a\x00b"}, wantErr: "prompt contains a NUL"},
		{name: "resume flag injection", req: engines.Request{Prompt: "hi", Resume: "--dangerously-skip-permissions"}, wantErr: "resume id"},
		{name: "resume with space", req: engines.Request{Prompt: "hi", Resume: "abc def"}, wantErr: "resume id"},
		{name: "resume with slash", req: engines.Request{Prompt: "hi", Resume: "../etc"}, wantErr: "resume id"},
		{name: "resume too long", req: engines.Request{Prompt: "hi", Resume: strings.Repeat("a", 200)}, wantErr: "resume id"},
		{name: "model leading dash", req: engines.Request{Prompt: "hi", Model: "-x"}, wantErr: "model"},
		{name: "model with space", req: engines.Request{Prompt: "hi", Model: "claude sonnet"}, wantErr: "model"},
		{name: "model with shell chars", req: engines.Request{Prompt: "hi", Model: "a;rm"}, wantErr: "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := claude.Engine{}.Invocation(tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Invocation() error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "build claude invocation: ") {
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
				"IS_SANDBOX":                               "1",
				"DISABLE_AUTOUPDATER":                      "1",
				"DISABLE_TELEMETRY":                        "1",
				"DISABLE_ERROR_REPORTING":                  "1",
				"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
			}
			if len(inv.Env) != len(wantEnv) {
				t.Errorf("Env = %v, want %v", inv.Env, wantEnv)
			}
			for k, v := range wantEnv {
				if inv.Env[k] != v {
					t.Errorf("Env[%s] = %q, want %q", k, inv.Env[k], v)
				}
			}
		})
	}
}

func TestResumeRoundTrip(t *testing.T) {
	e := claude.Engine{}
	for _, id := range []string{"ca28b1b9-709d-454a-8bc1-33169420ef03", "abc", "A1-b2"} {
		line := e.ResumeLine(id)
		if want := "claude --resume " + id; line != want {
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
		{name: "alone", text: "claude --resume abc-123", want: "abc-123", wantOK: true},
		{name: "in footer", text: "answer\n\n⏱ 12s · claude --resume ca28b1b9-709d", want: "ca28b1b9-709d", wantOK: true},
		{name: "in code span", text: "`claude --resume abc`", want: "abc", wantOK: true},
		{name: "followed by period", text: "run claude --resume abc.", want: "abc", wantOK: true},
		{name: "last wins", text: "claude --resume old\nclaude --resume new", want: "new", wantOK: true},
		{name: "invalid last keeps earlier", text: "claude --resume good\nclaude --resume -bad", want: "good", wantOK: true},
		{name: "tab separator", text: "claude --resume\tabc", want: "abc", wantOK: true},
		{name: "path before", text: "/usr/bin/claude --resume abc", want: "abc", wantOK: true},
		{name: "none", text: "nothing to see", wantOK: false},
		{name: "empty", text: "", wantOK: false},
		{name: "no id", text: "claude --resume", wantOK: false},
		{name: "no space", text: "claude --resumeabc", wantOK: false},
		{name: "flag not id", text: "claude --resume --model x", wantOK: false},
		{name: "other engine", text: "codex resume abc", wantOK: false},
		{name: "longer word", text: "myclaude --resume abc", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := claude.Engine{}.ParseResume(tt.text)
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
				t.Errorf("%s imports %s; package claude may import only the standard library and %s", f, p, allowed)
			}
			if slices.Contains([]string{"os", "os/exec", "net", "net/http", "io/fs", "syscall"}, p) {
				t.Errorf("%s imports %s; package claude must stay pure", f, p)
			}
		}
	}
}
