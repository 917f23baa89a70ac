package orchestrator

import (
	"bytes"
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/amp"
	"github.com/untether-go/untether/engines/claude"
	"github.com/untether-go/untether/engines/codex"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/engines/gemini"
	"github.com/untether-go/untether/engines/opencode"
	"github.com/untether-go/untether/engines/pi"
	"github.com/untether-go/untether/sandbox"
)

// The error cases the real CLIs printed against a mock API that answered
// 401 and 500 (engines/enginetest/captures), decoded by their adapters,
// get the auth and the overloaded hints.
func TestFailureHintsOfCapturedErrors(t *testing.T) {
	for _, eng := range []engines.Engine{claude.Engine{}, codex.Engine{}, gemini.Engine{}, opencode.Engine{}, pi.Engine{}, amp.Engine{}} {
		for kase, want := range map[string]failureKind{"error_401": failAuth, "error_500": failOverloaded} {
			fsys := captures.Engine(eng.Name())
			data, err := fs.ReadFile(fsys, kase+".jsonl")
			if err != nil {
				t.Fatal(err)
			}
			stderr, _ := fs.ReadFile(fsys, kase+".stderr.txt")
			d := eng.NewDecoder()
			var c engines.Completed
			for _, line := range bytes.Split(data, []byte("\n")) {
				evs, _ := d.Decode(line)
				for _, ev := range evs {
					if e, ok := ev.(engines.Completed); ok {
						c = e
					}
				}
			}
			for _, ev := range d.Finish(engines.Exit{Code: 1, StderrTail: string(stderr)}) {
				if e, ok := ev.(engines.Completed); ok {
					c = e
				}
			}
			if c.OK {
				t.Fatalf("%s %s: the capture decodes to success", eng.Name(), kase)
			}
			if got := classifyFailure(c.Error, string(stderr)); got != want {
				t.Errorf("%s %s: %q classified %d, want %d", eng.Name(), kase, c.Error, got, want)
			}
		}
	}
}

// Messages the CLIs print for failures the captures do not have.
func TestFailureHintClassification(t *testing.T) {
	for _, tt := range []struct {
		text string
		want failureKind
	}{
		{"Invalid API key · Please run /login", failAuth},
		{"OAuth token has expired. Please obtain a new token or refresh your existing token.", failAuth},
		{`API Error: 403 {"type":"error","error":{"type":"permission_error","message":"forbidden"}}`, failAuth},
		{`API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization"}}`, failRateLimit},
		{"API error 429 (RESOURCE_EXHAUSTED): Resource has been exhausted (e.g. check quota).", failRateLimit},
		{"exceeded retry limit, last status: 429 Too Many Requests", failRateLimit},
		{"You exceeded your current quota, please check your plan and billing details. (insufficient_quota)", failQuota},
		{"Credit balance is too low", failQuota},
		{`API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, failOverloaded},
		{"unexpected status 503 Service Unavailable", failOverloaded},
		{"API Error: Connection error.", failNetwork},
		{"request to https://api.anthropic.com/v1/messages failed, reason: getaddrinfo ENOTFOUND api.anthropic.com", failNetwork},
		{"stream disconnected before completion: error sending request for url (https://api.openai.com/v1/responses)", failNetwork},
		{"TypeError: fetch failed", failNetwork},
		{"claude exited with code 1: cat: missing.txt: No such file or directory", 0},
		{"The agent ended without an answer.", 0},
		{"wrote 500 lines to report.txt", 0},
	} {
		if got := classifyFailure(tt.text); got != tt.want {
			t.Errorf("%q: classified %d, want %d", tt.text, got, tt.want)
		}
	}
}

// The hint is one line above the raw error, which stays.
func TestFailureHintIsAboveTheError(t *testing.T) {
	c := engines.Completed{Error: "Invalid API key · Fix external API key"}
	hint := failureHint("claude", c.Error)
	texts := finalTexts(finalView{header: "error · claude · 1s", runID: "r1", hint: hint}, c)
	want := "error · claude · 1s\n\n" + hint + "\nInvalid API key · Fix external API key\n(run r1)"
	if len(texts) != 1 || texts[0].S != want {
		t.Errorf("final = %q, want %q", texts[0].S, want)
	}
	if strings.Contains(hint, "\n") || !strings.Contains(hint, "[claude.env]") {
		t.Errorf("hint = %q", hint)
	}
}

func TestFailedRunShowsHint(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "error_401.jsonl"), result: sandboxResultExit(1)}
	ledger := &memLedger{}
	o := newTestOrchestrator(t, box, chat, func(o *Options) { o.Ledger = ledger })
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	f := chat.waitFinals(t, 1)[0]
	if !strings.Contains(f.Text.S, "💡 The model API refused claude's credentials") || !strings.Contains(f.Text.S, "\nInvalid API key") {
		t.Errorf("final = %q", f.Text.S)
	}
	if recs := ledger.all(); len(recs) != 1 || recs[0].Outcome != OutcomeError {
		t.Errorf("ledger = %+v", recs)
	}
}

func sandboxResultExit(code int) sandbox.Result { return sandbox.Result{ExitCode: code} }
