package orchestrator

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/sandbox"
)

// memLedger is a CostLedger in memory.
type memLedger struct {
	mu   sync.Mutex
	recs []CostRecord
}

func (l *memLedger) Record(rec CostRecord) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Run == rec.Run {
			return false, nil
		}
	}
	l.recs = append(l.recs, rec)
	return true, nil
}

func (l *memLedger) Since(t time.Time) []CostRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []CostRecord
	for _, r := range l.recs {
		if !r.Time.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

func (l *memLedger) all() []CostRecord { return l.Since(time.Time{}) }

// costing returns claude's basic stream with its reported cost set.
func costing(t *testing.T, usd float64) []byte {
	t.Helper()
	s := fixture(t, "basic.jsonl")
	out := bytes.ReplaceAll(s, []byte(`"total_cost_usd":0.00147`), fmt.Appendf(nil, `"total_cost_usd":%v`, usd))
	if bytes.Equal(out, s) {
		t.Fatal("the basic stream has no total_cost_usd to replace")
	}
	return out
}

// The acceptance scenario: per_day $0.05, warn at 80 %, runs of $0.02.
func TestDayBudgetWarnsSpendsAndRefuses(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: costing(t, 0.02)}
	ledger := &memLedger{}
	o := newTestOrchestrator(t, box, chat, func(o *Options) {
		o.Ledger = ledger
		o.Budgets = Budgets{PerDay: 0.05, WarnAt: 80}
	})
	for i := int64(1); i <= 3; i++ {
		o.Handle(context.Background(), Message{ChatID: group, MessageID: i, UserID: 7, Text: "hi"})
		chat.waitFinals(t, int(i))
	}
	f := chat.finals()
	if strings.Contains(f[0].Text.S, "Budget") {
		t.Errorf("first answer mentions the budget: %q", f[0].Text.S)
	}
	if !strings.Contains(f[1].Text.S, "⚠ Budget: $0.04 of today's budget used (80%).") {
		t.Errorf("second answer has no warning: %q", f[1].Text.S)
	}
	if !strings.Contains(f[2].Text.S, "⛔ Budget: today's budget is spent ($0.06 of $0.05). New runs are refused until midnight UTC") ||
		strings.Contains(f[2].Text.S, "⚠") {
		t.Errorf("third answer does not say the budget is spent: %q", f[2].Text.S)
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 4, UserID: 7, Text: "hi"})
	if got := chat.replyTo(t, 4); !strings.HasPrefix(got, "Not run: today's budget is spent ($0.06 of $0.05). It resets at midnight UTC, in ") {
		t.Errorf("fourth message's reply = %q", got)
	}
	box.mu.Lock()
	n := len(box.specs)
	box.mu.Unlock()
	if n != 3 {
		t.Errorf("%d runs, want 3", n)
	}
	recs := ledger.all()
	if len(recs) != 3 {
		t.Fatalf("ledger = %+v", recs)
	}
	r := recs[0]
	if r.CostUSD != 0.02 || r.Outcome != OutcomeOK || r.Project != "app" || r.Engine != "claude" || r.ChatID != group ||
		r.Model != "claude-sonnet-4-5" || r.InputTokens != 240 || r.OutputTokens != 50 || r.Instance != "test" || r.Estimated {
		t.Errorf("record = %+v", r)
	}
}

func TestProjectDayBudgetRefusesOnlyThatProject(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: costing(t, 0.5)}
	ledger := &memLedger{}
	o := newTestOrchestrator(t, box, chat, func(o *Options) {
		o.Ledger = ledger
		o.Budgets = Budgets{PerProjectDay: 0.5}
		o.Projects = append(o.Projects, Project{Name: "web", Path: "/src/web", ChatID: -200, Images: map[string]string{"claude": "img"}})
	})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	if f := chat.waitFinals(t, 1)[0]; !strings.Contains(f.Text.S, "project app's budget for today is spent ($0.50 of $0.50)") {
		t.Errorf("answer = %q", f.Text.S)
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "hi"})
	if got := chat.replyTo(t, 2); !strings.Contains(got, "project app's budget for today is spent") {
		t.Errorf("reply = %q", got)
	}
	o.Handle(context.Background(), Message{ChatID: -200, MessageID: 3, UserID: 7, Text: "hi"})
	chat.waitFinals(t, 2)
}

// usageStream is a claude stream whose assistant messages report n×1000
// input and output tokens, one message per line, then the basic stream's
// result.
func usageStream(t *testing.T, n int) []byte {
	t.Helper()
	lines := bytes.Split(bytes.TrimSpace(fixture(t, "basic.jsonl")), []byte("\n"))
	var b bytes.Buffer
	b.Write(lines[0])
	for i := range n {
		fmt.Fprintf(&b, "\n"+`{"type":"assistant","message":{"id":"msg_%d","model":"claude-sonnet-4-5","content":[{"type":"thinking","thinking":"x"}],"usage":{"input_tokens":1000,"output_tokens":1000}},"session_id":"ca28b1b9-709d-454a-8bc1-33169420ef03"}`, i)
	}
	b.WriteString("\n")
	b.Write(lines[len(lines)-1])
	return b.Bytes()
}

func TestPerRunBudgetCancelsFromStreamedUsage(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: usageStream(t, 20), delay: 20 * time.Millisecond, result: sandbox.Result{ExitCode: 0}}
	ledger := &memLedger{}
	o := newTestOrchestrator(t, box, chat, func(o *Options) {
		o.Ledger = ledger
		o.Budgets = Budgets{PerRun: 0.05, Prices: map[string]Price{"claude-sonnet": {Input: 3, Output: 15}}}
	})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	f := chat.waitFinals(t, 1)[0]
	// Each message costs $0.018: the third passes $0.05.
	if !strings.HasPrefix(f.Text.S, "error ·") || !strings.Contains(f.Text.S, "Stopped: this run passed its per-run budget of $0.05 (about $0.054 so far") {
		t.Errorf("answer = %q", f.Text.S)
	}
	recs := ledger.all()
	if len(recs) != 1 || recs[0].Outcome != OutcomeCancelled || recs[0].Reason != "per_run budget" ||
		!recs[0].Estimated || recs[0].InputTokens < 3000 {
		t.Errorf("ledger = %+v", recs)
	}
}

func TestPerRunOverageOfEndOnlyCostIsInTheFooter(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: costing(t, 0.12)}
	o := newTestOrchestrator(t, box, chat, func(o *Options) { o.Budgets = Budgets{PerRun: 0.05} })
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	f := chat.waitFinals(t, 1)[0]
	if !strings.HasPrefix(f.Text.S, "done ·") || !strings.Contains(f.Text.S, "⚠ This run cost $0.12, over its per-run budget of $0.05.") {
		t.Errorf("answer = %q", f.Text.S)
	}
}

// A run concluded again (reattached after a restart) is recorded once and
// its answer says what the first conclusion said.
func TestDayNotesAreTheSameWhenConcludedAgain(t *testing.T) {
	now := time.Date(2026, 12, 4, 22, 30, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	ledger := &memLedger{}
	g := &budget{b: &Budgets{PerDay: 1, WarnAt: 50, Location: berlin}, ledger: ledger, now: func() time.Time { return now }}
	// 22:30 UTC is 23:30 in Berlin: a run at 23:10 UTC belongs to the
	// next day there.
	ledger.Record(CostRecord{Run: "a", Time: now.Add(-time.Hour), CostUSD: 0.4})
	ledger.Record(CostRecord{Run: "b", Time: now, CostUSD: 0.2})
	notes := g.dayNotes("b", "p")
	if len(notes) != 1 || !strings.Contains(notes[0], "$0.60 of today's budget used (60%)") {
		t.Errorf("notes = %q", notes)
	}
	if added, _ := ledger.Record(CostRecord{Run: "b", Time: now.Add(time.Minute), CostUSD: 0.2}); added {
		t.Fatal("recorded twice")
	}
	now = now.Add(time.Minute)
	if again := g.dayNotes("b", "p"); fmt.Sprint(again) != fmt.Sprint(notes) {
		t.Errorf("notes again = %q, want %q", again, notes)
	}
	if got := g.refusal("p"); got != "" {
		t.Errorf("refusal before midnight = %q", got)
	}
	now = now.Add(40 * time.Minute)
	ledger.Record(CostRecord{Run: "c", Time: now, CostUSD: 0.5})
	if notes := g.dayNotes("c", "p"); len(notes) != 1 || !strings.Contains(notes[0], "$0.50 of today's budget used (50%)") {
		t.Errorf("a run of the next day: notes %q, want a day of its own", notes)
	}
	// Concluded again once its day is over, b's answer says nothing of
	// that day's budget.
	if notes := g.dayNotes("b", "p"); len(notes) != 0 {
		t.Errorf("notes of a run of yesterday = %q", notes)
	}
}

func TestOutcome(t *testing.T) {
	for _, tt := range []struct {
		name string
		res  sandbox.Result
		own  bool
		c    engines.Completed
		want string
	}{
		{"ok", sandbox.Result{}, true, engines.Completed{OK: true}, OutcomeOK},
		{"engine error", sandbox.Result{ExitCode: 1}, true, engines.Completed{}, OutcomeError},
		{"crash", sandbox.Result{ExitCode: 2}, false, engines.Completed{}, OutcomeCrash},
		{"no answer, exit 0", sandbox.Result{}, false, engines.Completed{}, OutcomeError},
		{"oom", sandbox.Result{OOMKilled: true, ExitCode: 137}, false, engines.Completed{}, OutcomeOOM},
		{"timeout", sandbox.Result{TimedOut: true, ExitCode: 143}, false, engines.Completed{}, OutcomeTimeout},
		{"cancelled", sandbox.Result{Cancelled: true, ExitCode: 143}, false, engines.Completed{}, OutcomeCancelled},
	} {
		if got := outcome(tt.res, tt.own, tt.c); got != tt.want {
			t.Errorf("%s: outcome = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFormatUSD(t *testing.T) {
	for usd, want := range map[float64]string{
		0: "$0.00", 0.02: "$0.02", 0.06: "$0.06", 0.00147: "$0.0015", 0.054: "$0.054", 1: "$1.00", 12.345: "$12.35", 0.5: "$0.50",
	} {
		if got := formatUSD(usd); got != want {
			t.Errorf("formatUSD(%v) = %q, want %q", usd, got, want)
		}
	}
}

func TestPricePrefersTheLongestPrefix(t *testing.T) {
	b := Budgets{Prices: map[string]Price{"claude": {Input: 1}, "claude-opus": {Input: 15}, "claude-sonnet-4-5": {Input: 3}}}
	for model, want := range map[string]float64{"claude-sonnet-4-5": 3, "claude-opus-4-1-2025": 15, "claude-haiku": 1} {
		if p, ok := b.price(model); !ok || p.Input != want {
			t.Errorf("price(%s) = %+v, %v; want input %v", model, p, ok, want)
		}
	}
	if _, ok := b.price("gpt-5"); ok {
		t.Error("gpt-5 has a price")
	}
}

func TestUsageAndStats(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) // a Friday
	ledger := &memLedger{}
	for _, r := range []CostRecord{
		{Run: "1", Time: now.Add(-time.Hour), Project: "web", Engine: "claude", CostUSD: 0.02, DurationMS: 10000, Outcome: OutcomeOK},
		{Run: "2", Time: now.Add(-2 * time.Hour), Project: "api", Engine: "codex", CostUSD: 0.03, DurationMS: 30000, Outcome: OutcomeOOM},
		{Run: "3", Time: now.Add(-48 * time.Hour), Project: "web", Engine: "claude", CostUSD: 1, DurationMS: 20000, Outcome: OutcomeTimeout},
		{Run: "4", Time: now.Add(-72 * time.Hour), Project: "web", Engine: "claude", CostUSD: 2, DurationMS: 40000, Outcome: OutcomeOK, Estimated: true},
		// Monday 30 November: this week, not this month.
		{Run: "5", Time: now.Add(-96 * time.Hour), Project: "web", Engine: "claude", CostUSD: 4, DurationMS: 50000, Outcome: OutcomeOK},
	} {
		ledger.Record(r)
	}
	c := &commands{bud: &budget{b: &Budgets{Location: time.UTC, PerDay: 5}, ledger: ledger, now: func() time.Time { return now }}}
	want := `Usage (days in UTC):

Today: $0.05 · 2 runs
  projects: api $0.03, web $0.02
  engines: codex $0.03, claude $0.02

This week: $7.05 · 5 runs (part estimated from tokens)
  projects: web $7.02, api $0.03
  engines: claude $7.02, codex $0.03

This month: $3.05 · 4 runs (part estimated from tokens)
  projects: web $3.02, api $0.03
  engines: claude $3.02, codex $0.03

Budgets: per day $0.05 of $5.00`
	if got := c.usage(); got != want {
		t.Errorf("usage =\n%s\nwant\n%s", got, want)
	}
	stats := c.stats()
	for _, s := range []string{
		"Today: 2 runs · 1 ok · failed: 1 oom · median 20s",
		"This week: 5 runs · 3 ok · failed: 1 oom, 1 timeout · median 30s",
		"  claude: 3 runs · 2 ok · failed: 1 timeout · median 20s",
		"This month: 4 runs · 2 ok · failed: 1 oom, 1 timeout · median 25s",
	} {
		if !strings.Contains(stats, s) {
			t.Errorf("stats lack %q:\n%s", s, stats)
		}
	}
	if got := (&commands{bud: &budget{b: &Budgets{}}}).usage(); got != "This bridge keeps no cost ledger." {
		t.Errorf("usage without a ledger = %q", got)
	}
}

func TestPerRunStop(t *testing.T) {
	b := &Budgets{PerRun: 0.05, Prices: map[string]Price{"m": {Input: 3, Output: 15}}}
	for _, tt := range []struct {
		name, model string
		u           engines.Usage
		want        string
	}{
		{"within, estimated", "m", engines.Usage{InputTokens: 2000, OutputTokens: 2000}, ""},
		{"past, estimated", "m", engines.Usage{InputTokens: 3000, OutputTokens: 3000}, "about $0.054 so far, estimated from 3000 input and 3000 output tokens of m"},
		{"no price", "other", engines.Usage{InputTokens: 1e6, OutputTokens: 1e6}, ""},
		{"reported cost wins", "other", engines.Usage{CostUSD: 0.06}, "($0.06 so far, as the engine reports)"},
		{"reported cost within", "m", engines.Usage{InputTokens: 1e6, CostUSD: 0.05}, ""},
	} {
		got := perRunStop(b, tt.model, tt.u)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A message queued before the budget was spent is refused when its turn
// comes, with the reason in its answer; it never runs.
func TestQueuedRunIsRefusedOnceTheBudgetIsSpent(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: costing(t, 0.02), delay: 30 * time.Millisecond}
	ledger := &memLedger{}
	o := newTestOrchestrator(t, box, chat, func(o *Options) {
		o.Ledger = ledger
		o.Budgets = Budgets{PerDay: 0.02}
	})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "then this"})
	f := chat.waitFinals(t, 2)
	if !strings.Contains(f[0].Text.S, "is spent") || f[0].ReplyTo != 1 {
		t.Errorf("first answer = %q", f[0].Text.S)
	}
	if !strings.HasPrefix(f[1].Text.S, "error ·") || !strings.Contains(f[1].Text.S, "Not run: today's budget is spent ($0.02 of $0.02)") || f[1].ReplyTo != 2 {
		t.Errorf("second answer = %q", f[1].Text.S)
	}
	box.mu.Lock()
	runs := len(box.specs)
	box.mu.Unlock()
	if runs != 1 || len(ledger.all()) != 1 {
		t.Errorf("%d runs, %d records; want 1 and 1", runs, len(ledger.all()))
	}
}
