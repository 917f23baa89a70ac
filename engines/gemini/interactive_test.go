package gemini_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/gemini"
)

func TestSession(t *testing.T) {
	for _, tt := range []struct {
		name    string
		req     engines.Request
		argv    []string
		wantErr string
	}{
		{name: "new", req: engines.Request{Prompt: "hi"}, argv: []string{"gemini", "--acp", "--skip-trust"}},
		{name: "model and extra args", req: engines.Request{Prompt: "hi", Model: "gemini-2.5-pro", ExtraArgs: []string{"--debug"}},
			argv: []string{"gemini", "--acp", "--skip-trust", "-m", "gemini-2.5-pro", "--debug"}},
		{name: "resume is loaded over ACP", req: engines.Request{Prompt: "hi", Resume: "abc-1"}, argv: []string{"gemini", "--acp", "--skip-trust"}},
		{name: "continue", req: engines.Request{Prompt: "hi", Continue: true}, wantErr: "not supported over ACP"},
		{name: "empty prompt", req: engines.Request{}, wantErr: "prompt is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv, p, err := gemini.Engine{}.Session(tt.req, engines.SessionOptions{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(inv.Argv, tt.argv) || inv.Stdin != nil {
				t.Errorf("argv = %q (stdin %q), want %q and no stdin", inv.Argv, inv.Stdin, tt.argv)
			}
			if inv.Env["GEMINI_SANDBOX"] != "false" || inv.Env["GEMINI_CLI_NO_RELAUNCH"] != "true" {
				t.Errorf("env = %v, want the CLI's sandbox and relaunch off", inv.Env)
			}
			if b, err := p.Open(); err != nil || !strings.Contains(string(b), `"method":"initialize"`) {
				t.Errorf("Open = %s, %v; want initialize", b, err)
			}
		})
	}
}

func TestAsks(t *testing.T) {
	if got := (gemini.Engine{}).Asks(); got != (engines.AskSupport{Permission: true, Always: true}) {
		t.Errorf("Asks = %+v", got)
	}
}
