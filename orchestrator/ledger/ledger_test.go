package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator"
)

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func rec(run string, at time.Time, cost float64) orchestrator.CostRecord {
	return orchestrator.CostRecord{
		Time: at, Run: run, Instance: "dev", ChatID: -1, Project: "web", Engine: "claude",
		Model: "claude-sonnet-4-5", CostUSD: cost, InputTokens: 10, OutputTokens: 5, DurationMS: 1200,
		Outcome: orchestrator.OutcomeOK,
	}
}

func open(t *testing.T, dir string, log *slog.Logger) *Ledger {
	t.Helper()
	l, err := Open(Options{Dir: dir, Logger: log, Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestRecordsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, nil)
	for i, cost := range []float64{0.02, 0.03} {
		added, err := l.Record(rec(fmt.Sprint("r", i), t0.Add(time.Duration(i)*time.Minute), cost))
		if err != nil || !added {
			t.Fatalf("Record %d = %v, %v", i, added, err)
		}
	}
	l.Close()
	if _, err := l.Record(rec("late", t0, 1)); err == nil {
		t.Error("Record after Close succeeded")
	}
	l2 := open(t, dir, nil)
	got := l2.Since(t0)
	if len(got) != 2 || got[0].Run != "r0" || got[1].CostUSD != 0.03 || got[1].Time != t0.Add(time.Minute) {
		t.Fatalf("after reopen: %+v", got)
	}
	if got := l2.Since(t0.Add(30 * time.Second)); len(got) != 1 || got[0].Run != "r1" {
		t.Errorf("Since(t0+30s) = %+v", got)
	}
}

// A run concluded again after a restart (reattached) is recorded once.
func TestSameRunIsRecordedOnce(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, nil)
	if added, err := l.Record(rec("run1", t0, 0.02)); !added || err != nil {
		t.Fatalf("first Record = %v, %v", added, err)
	}
	if added, err := l.Record(rec("run1", t0.Add(time.Second), 0.02)); added || err != nil {
		t.Fatalf("second Record = %v, %v; want not added", added, err)
	}
	l.Close()
	l2 := open(t, dir, nil)
	if added, err := l2.Record(rec("run1", t0.Add(2*time.Second), 0.02)); added || err != nil {
		t.Fatalf("Record after reopen = %v, %v; want not added", added, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, File))
	if n := bytes.Count(data, []byte("\n")); n != 1 {
		t.Errorf("file has %d lines, want 1:\n%s", n, data)
	}
}

// A bridge killed while writing leaves a torn last line: reading skips it
// with a warning, and the next record starts on a line of its own.
func TestTornLastLineIsCutOff(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, nil)
	l.Record(rec("whole", t0, 0.02))
	l.Close()
	f, err := os.OpenFile(filepath.Join(dir, File), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-12-04T10:00:01Z","run":"torn","cost_u`)
	f.Close()

	var logs bytes.Buffer
	l2 := open(t, dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if got := l2.Since(t0); len(got) != 1 || got[0].Run != "whole" {
		t.Fatalf("records = %+v, want only the whole one", got)
	}
	if !strings.Contains(logs.String(), "torn last line") {
		t.Errorf("no warning about the torn line: %q", logs.String())
	}
	if added, err := l2.Record(rec("next", t0.Add(time.Minute), 0.01)); !added || err != nil {
		t.Fatalf("Record = %v, %v", added, err)
	}
	l2.Close()
	l3 := open(t, dir, nil)
	if got := l3.Since(t0); len(got) != 2 || got[1].Run != "next" {
		t.Errorf("records after the next write = %+v", got)
	}
}

func TestBadLineIsSkipped(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile(writeOne(t, dir))
	data := append([]byte("not json\n{}\n"), good...)
	os.WriteFile(filepath.Join(dir, File), data, 0o600)
	var logs bytes.Buffer
	l := open(t, dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if got := l.Since(t0); len(got) != 1 {
		t.Errorf("records = %+v, want the one good line", got)
	}
	if n := strings.Count(logs.String(), "does not decode"); n != 2 {
		t.Errorf("%d warnings, want 2: %s", n, logs.String())
	}
}

func writeOne(t *testing.T, dir string) string {
	t.Helper()
	sub := filepath.Join(dir, "one")
	os.Mkdir(sub, 0o755)
	l := open(t, sub, nil)
	l.Record(rec("good", t0, 0.5))
	l.Close()
	return filepath.Join(sub, File)
}

// Records older than Keep stay in the file but not in memory.
func TestOldRecordsAreNotKept(t *testing.T) {
	dir := t.TempDir()
	now := t0
	l, err := Open(Options{Dir: dir, Keep: 24 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Record(rec("old", t0.Add(-48*time.Hour), 1))
	l.Record(rec("new", t0, 2))
	if got := l.Since(time.Time{}); len(got) != 1 || got[0].Run != "new" {
		t.Errorf("records = %+v, want only the new one", got)
	}
	data, _ := os.ReadFile(filepath.Join(dir, File))
	if !bytes.Contains(data, []byte(`"old"`)) {
		t.Errorf("old record not in the file:\n%s", data)
	}
}

func TestConcurrentRecords(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := l.Record(rec(fmt.Sprint("r", i), t0, 0.01)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	l.Close()
	if got := open(t, dir, nil).Since(t0); len(got) != 20 {
		t.Errorf("%d records after reopen, want 20", len(got))
	}
}

// BenchmarkRecord measures one synced append: what a finished run adds to
// its answer's delivery.
func BenchmarkRecord(b *testing.B) {
	l, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Record(rec(fmt.Sprint("r", i), t0, 0.02)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen measures reading a ledger of 10,000 runs at start.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(Options{Dir: dir, Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	for i := range 10000 {
		r := rec(fmt.Sprint("r", i), t0, 0.02)
		line, _ := json.Marshal(r)
		buf.Write(append(line, '\n'))
	}
	l.Close()
	os.WriteFile(filepath.Join(dir, File), buf.Bytes(), 0o600)
	for b.Loop() {
		l, err := Open(Options{Dir: dir, Now: func() time.Time { return t0 }})
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
}
