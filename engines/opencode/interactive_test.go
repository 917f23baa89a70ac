package opencode_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/opencode"
)

func TestSession(t *testing.T) {
	for _, tt := range []struct {
		name    string
		req     engines.Request
		argv    []string
		wantErr string
	}{
		{name: "new", req: engines.Request{Prompt: "hi"}, argv: []string{"opencode", "acp"}},
		{name: "extra args", req: engines.Request{Prompt: "hi", ExtraArgs: []string{"--log-level", "WARN"}}, argv: []string{"opencode", "acp", "--log-level", "WARN"}},
		{name: "resume and model", req: engines.Request{Prompt: "hi", Resume: "ses_1", Model: "a/b"}, argv: []string{"opencode", "acp"}},
		{name: "continue", req: engines.Request{Prompt: "hi", Continue: true}, wantErr: "not supported over ACP"},
		{name: "bad model", req: engines.Request{Prompt: "hi", Model: "gpt"}, wantErr: "provider/model"},
		{name: "empty prompt", req: engines.Request{}, wantErr: "prompt is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv, p, err := opencode.Engine{}.Session(tt.req, engines.SessionOptions{})
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
			if perm := inv.Env["OPENCODE_PERMISSION"]; !strings.Contains(perm, `"bash":"ask"`) || !strings.Contains(perm, `"edit":"ask"`) {
				t.Errorf("OPENCODE_PERMISSION = %q, want bash and edit to ask", perm)
			}
			if inv.Env["OPENCODE_DISABLE_AUTOUPDATE"] != "1" || inv.Env["OPENCODE_DISABLE_SHARE"] != "1" {
				t.Errorf("env = %v, want auto-update and sharing off", inv.Env)
			}
			if b, err := p.Open(); err != nil || !strings.Contains(string(b), `"method":"initialize"`) {
				t.Errorf("Open = %s, %v; want initialize", b, err)
			}
		})
	}
}

func TestAsks(t *testing.T) {
	if got := (opencode.Engine{}).Asks(); got != (engines.AskSupport{Permission: true, Always: true}) {
		t.Errorf("Asks = %+v", got)
	}
}
