package main

import (
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/claude"
)

func TestParseUsageDirectives(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prompt string
		want   usageDirectives
		err    string
	}{
		{"fake:cost=0.02", usageDirectives{cost: ptr(0.02)}, ""},
		{"fake:cost=0", usageDirectives{cost: ptr(0.0)}, ""},
		{"fake:usage-stream=50x1000", usageDirectives{usageCount: 50, usageTokens: 1000}, ""},
		{"fake:cost", usageDirectives{}, "needs an amount"},
		{"fake:cost=-1", usageDirectives{}, "not an amount"},
		{"fake:cost=much", usageDirectives{}, "not an amount"},
		{"fake:usage-stream=50", usageDirectives{}, "COUNTxTOKENS"},
		{"fake:usage-stream=0x10", usageDirectives{}, "COUNTxTOKENS"},
		{"fake:usage-stream=3x0", usageDirectives{}, "COUNTxTOKENS"},
	}
	for _, tt := range tests {
		d, err := parseDirectives(tt.prompt)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want one containing %q", tt.prompt, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.prompt, err)
			continue
		}
		got := d.usage
		if (got.cost == nil) != (tt.want.cost == nil) || (got.cost != nil && *got.cost != *tt.want.cost) ||
			got.usageCount != tt.want.usageCount || got.usageTokens != tt.want.usageTokens {
			t.Errorf("%s: %+v, want %+v", tt.prompt, got, tt.want)
		}
	}
}

// decodeClaude decodes a fake claude's stdout as the bridge does.
func decodeClaude(t *testing.T, stdout string, code int) []engines.Event {
	t.Helper()
	d := claude.Engine{}.NewDecoder()
	var evs []engines.Event
	for _, line := range lines(stdout) {
		got, err := d.Decode([]byte(line))
		if err != nil {
			t.Fatalf("decode %q: %v", line, err)
		}
		evs = append(evs, got...)
	}
	return append(evs, d.Finish(engines.Exit{Code: code})...)
}

func TestCostDirective(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: argv("hi fake:cost=0.02")}.run(t)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	evs := decodeClaude(t, r.stdout, r.code)
	if c := evs[len(evs)-1].(engines.Completed); !c.OK || c.Usage.CostUSD != 0.02 {
		t.Errorf("Completed = %+v, want OK costing $0.02", c)
	}
}

func TestUsageStreamDirective(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := fakeCmd{args: argv("hi fake:usage-stream=3x1000 fake:delay=50ms")}.run(t)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("took %v, want the messages spaced by the delay", took)
	}
	var updates []engines.UsageUpdate
	evs := decodeClaude(t, r.stdout, r.code)
	for _, ev := range evs {
		if u, ok := ev.(engines.UsageUpdate); ok {
			updates = append(updates, u)
		}
	}
	// Three streamed messages, then the captured stream's own two.
	if len(updates) != 5 {
		t.Fatalf("usage updates = %+v, want 5", updates)
	}
	if u := updates[2]; u.Model != "claude-sonnet-4-5" || u.Usage.InputTokens != 3000 || u.Usage.OutputTokens != 3000 {
		t.Errorf("third update = %+v, want 3000 tokens each way", u)
	}
	if c := evs[len(evs)-1].(engines.Completed); !c.OK || c.Resume != basicSession {
		t.Errorf("Completed = %+v", c)
	}
}

func TestUsageDirectivesAreForClaude(t *testing.T) {
	t.Parallel()
	r := fakeCmd{name: "codex", args: []string{"exec", "--json", "--skip-git-repo-check", "hi fake:cost=1"}}.run(t)
	if r.code != exitBadDirective || !strings.Contains(r.stderr, "for claude, not codex") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
