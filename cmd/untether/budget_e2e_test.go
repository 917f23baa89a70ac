package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ledgerRecord is the part of a cost ledger line the tests read.
type ledgerRecord struct {
	Run     string  `json:"run"`
	Project string  `json:"project"`
	Engine  string  `json:"engine"`
	CostUSD float64 `json:"cost_usd"`
	Outcome string  `json:"outcome"`
	Reason  string  `json:"reason"`
	Time    string  `json:"time"`
}

// ledgerRecords reads the instance's ledger.jsonl, skipping a torn last
// line as the bridge does.
func ledgerRecords(t *testing.T, dir string) []ledgerRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "ledger.jsonl"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []ledgerRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r ledgerRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Run != "" {
			out = append(out, r)
		}
	}
	return out
}

// TestDayBudgetAcrossKill is the budget's acceptance scenario in real
// containers: per_day = 0.05, warn_at = 80, runs that cost $0.02 each.
// The second answer warns, the bridge is killed (-9) during the third run
// and a torn line is left at the ledger's end; the restarted bridge
// reattaches the third run, records it once, and its answer says the
// budget is spent; the fourth message is refused with the reason. /usage
// and /stats agree with the ledger.
func TestDayBudgetAcrossKill(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{top: `drain = "detach"`, extra: "\n[budgets]\nper_day = 0.05\nwarn_at = 80\n"})
	w.cleanupVolumes()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := w.start()

	first := w.tg.UserSays(groupChat, alice, "first fake:cost=0.02")
	if f := w.finalReply(groupChat, first.MessageID, time.Minute); !strings.HasPrefix(f.Text, "done ·") || strings.Contains(f.Text, "Budget") {
		t.Errorf("first answer = %q, want done without a budget note", f.Text)
	}
	second := w.tg.UserSays(groupChat, alice, "second fake:cost=0.02")
	if f := w.finalReply(groupChat, second.MessageID, time.Minute); !strings.Contains(f.Text, "⚠ Budget: $0.04 of today's budget used (80%).") {
		t.Errorf("second answer = %q, want the warning", f.Text)
	}

	third := w.tg.UserSays(groupChat, alice, "third fake:cost=0.02 fake:sleep=5s fake:delay=200ms")
	// Its progress edits may wait behind the group's pace: the running
	// container says it started.
	var name string
	pollUntil(t, "the third run's container", 30*time.Second, func() bool { return w.hasContainer(ctx, &name) })
	d.kill()
	ledgerPath := filepath.Join(w.dir, "ledger.jsonl")
	f, err := os.OpenFile(ledgerPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-12-04T10:00:00Z","run":"torn","cost_u`)
	f.Close()

	d2 := w.start()
	f3 := w.finalReply(groupChat, third.MessageID, 2*time.Minute)
	if !strings.Contains(f3.Text, "⛔ Budget: today's budget is spent ($0.06 of $0.05). New runs are refused until midnight UTC") {
		t.Errorf("third answer = %q, want the budget spent", f3.Text)
	}
	if !strings.Contains(d2.out.String(), "torn last line") {
		t.Errorf("the restarted bridge did not warn about the torn line")
	}

	fourth := w.tg.UserSays(groupChat, alice, "fourth fake:cost=0.02")
	refusal := w.reply(groupChat, fourth.MessageID, "Not run:")
	if !strings.HasPrefix(refusal.Text, "Not run: today's budget is spent ($0.06 of $0.05). It resets at midnight UTC, in ") {
		t.Errorf("fourth message's reply = %q", refusal.Text)
	}

	time.Sleep(500 * time.Millisecond) // a second answer to the third would land now
	if n := w.finals(groupChat, third.MessageID); n != 1 {
		t.Errorf("third message: %d final answers, want 1", n)
	}
	if n := len(w.engineCalls()); n != 3 {
		t.Errorf("engine ran %d times, want 3", n)
	}
	recs := ledgerRecords(t, w.dir)
	runs := map[string]bool{}
	var sum float64
	for _, r := range recs {
		if runs[r.Run] {
			t.Errorf("run %s recorded twice", r.Run)
		}
		runs[r.Run] = true
		sum += r.CostUSD
		if r.Outcome != "ok" || r.Project != "test-claude" || r.Engine != "claude" {
			t.Errorf("record = %+v", r)
		}
	}
	if len(recs) != 3 || math.Abs(sum-0.06) > 1e-9 {
		t.Fatalf("ledger: %d records summing to %v, want 3 summing to 0.06: %+v", len(recs), sum, recs)
	}

	usage := w.tg.UserSays(groupChat, alice, "/usage")
	u := w.reply(groupChat, usage.MessageID, "Usage")
	today := regexp.MustCompile(`Today: \$([0-9.]+) · (\d+) runs`).FindStringSubmatch(u.Text)
	if today == nil {
		t.Fatalf("/usage = %q", u.Text)
	}
	if got, _ := strconv.ParseFloat(today[1], 64); math.Abs(got-sum) > 0.005 || today[2] != fmt.Sprint(len(recs)) {
		t.Errorf("/usage today = $%s in %s runs; the ledger has $%v in %d runs", today[1], today[2], sum, len(recs))
	}
	for _, want := range []string{"projects: test-claude $0.06", "engines: claude $0.06", "Budgets: per day $0.06 of $0.05"} {
		if !strings.Contains(u.Text, want) {
			t.Errorf("/usage lacks %q:\n%s", want, u.Text)
		}
	}
	stats := w.tg.UserSays(groupChat, alice, "/stats")
	if s := w.reply(groupChat, stats.MessageID, "Runs"); !strings.Contains(s.Text, "Today: 3 runs · 3 ok · median ") {
		t.Errorf("/stats = %q", s.Text)
	}
	pollUntil(t, "the containers removed", 30*time.Second, func() bool { return len(w.containers(ctx)) == 0 })
}

// TestPerRunBudgetCancelsLongRun: a run whose streamed usage passes
// per_run is cancelled as soon as it does, with the reason in its answer.
func TestPerRunBudgetCancelsLongRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{extra: "\n[budgets]\nper_run = 0.05\n\n" +
		"[budgets.prices.\"claude-sonnet-4-5\"]\ninput = 3.0\noutput = 15.0\ncached = 0.3\n"})
	w.cleanupVolumes()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.start()
	// 100 messages of 1000 tokens each way, $0.018 each, one every 200 ms:
	// 20 s if nothing stops it; the third passes $0.05.
	sent := time.Now()
	msg := w.tg.UserSays(groupChat, alice, "a long job fake:usage-stream=100x1000 fake:delay=200ms")
	f := w.finalReply(groupChat, msg.MessageID, time.Minute)
	took := time.Since(sent)
	t.Logf("message to the per-run budget's answer: %v", took.Round(time.Millisecond))
	if !strings.HasPrefix(f.Text, "error ·") || !strings.Contains(f.Text, "Stopped: this run passed its per-run budget of $0.05 (about $0.054 so far") {
		t.Errorf("answer = %q", f.Text)
	}
	if took > 15*time.Second {
		t.Errorf("the run took %v: it was not stopped at its budget", took)
	}
	recs := ledgerRecords(t, w.dir)
	if len(recs) != 1 || recs[0].Outcome != "cancelled" || recs[0].Reason != "per_run budget" || recs[0].CostUSD < 0.05 {
		t.Errorf("ledger = %+v", recs)
	}
	pollUntil(t, "the container removed", 30*time.Second, func() bool { return len(w.containers(ctx)) == 0 })
}

// TestKnownFailureGetsHint: an engine whose API refuses its key gets the
// auth hint above its own error, and the run is in the ledger as an error.
func TestKnownFailureGetsHint(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.cleanupVolumes()
	w.start()
	msg := w.tg.UserSays(groupChat, alice, "hi fake:case=error_401")
	f := w.finalReply(groupChat, msg.MessageID, time.Minute)
	if !strings.HasPrefix(f.Text, "error · claude") ||
		!strings.Contains(f.Text, "💡 The model API refused claude's credentials: check its API key ([claude.env] in the config) or log it in again.\nInvalid API key") {
		t.Errorf("answer = %q", f.Text)
	}
	if recs := ledgerRecords(t, w.dir); len(recs) != 1 || recs[0].Outcome != "error" {
		t.Errorf("ledger = %+v", recs)
	}
}
