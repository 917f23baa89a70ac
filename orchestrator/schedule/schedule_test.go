package schedule

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones of the tests, whatever the host has
)

// fakeClock stands in for time.Now and time.After. It keeps only the latest
// wait, since the Scheduler's loop listens to no other, and counts the
// waits, so that a test knows when the loop has handled what it did.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	at      time.Time // deadline of the wait in ch
	ch      chan time.Time
	calls   int
	changed chan struct{} // closed on each After
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		c.ch = nil
	} else {
		c.at, c.ch = c.now.Add(d), ch
	}
	c.calls++
	close(c.changed)
	c.changed = make(chan struct{})
	return ch
}

// waitCalls waits until After has been called more than n times.
func (c *fakeClock) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		calls, changed := c.calls, c.changed
		c.mu.Unlock()
		if calls > n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the scheduler's loop did not wait again (After called %d times)", calls)
		}
	}
}

func (c *fakeClock) callCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// set moves the clock to now without waking anyone: the bridge is down.
func (c *fakeClock) set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now, c.ch = now, nil
}

// harness runs a Scheduler on a fake clock and collects what it fires.
type harness struct {
	t     *testing.T
	clk   *fakeClock
	path  string
	opts  Options
	s     *Scheduler
	fired chan Due
}

var t0 = time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{
		t:     t,
		clk:   newFakeClock(t0),
		path:  filepath.Join(t.TempDir(), "schedules.json"),
		opts:  opts,
		fired: make(chan Due, 1000),
	}
	h.start()
	return h
}

// start opens a Scheduler on the harness's file and waits until it has
// handled what was due at start.
func (h *harness) start() {
	h.t.Helper()
	opts := h.opts
	opts.Path = h.path
	opts.Now, opts.After = h.clk.Now, h.clk.After
	opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.Fire == nil {
		opts.Fire = func(d Due) { h.fired <- d }
	}
	s, err := New(opts)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	h.s = s
	h.t.Cleanup(func() { s.Close() })
	n := h.clk.callCount()
	if err := s.Start(h.t.Context()); err != nil {
		h.t.Fatal(err)
	}
	h.clk.waitCalls(h.t, n)
}

// restart stops the Scheduler, lets the clock run to at while the bridge
// is down, and starts a new one on the same file.
func (h *harness) restart(at time.Time) {
	h.t.Helper()
	h.s.Close()
	h.clk.set(at)
	h.start()
}

// do runs f, which wakes the loop, and waits until the loop has handled it.
func (h *harness) do(f func()) {
	h.t.Helper()
	n := h.clk.callCount()
	f()
	h.clk.waitCalls(h.t, n)
}

// advanceTo runs the clock to target, waking the loop at each of its
// deadlines on the way, as real time would.
func (h *harness) advanceTo(target time.Time) {
	h.t.Helper()
	for {
		c := h.clk
		c.mu.Lock()
		if c.ch == nil || c.at.After(target) {
			c.now = target
			c.mu.Unlock()
			return
		}
		c.now = c.at
		c.ch <- c.at
		c.ch = nil
		n := c.calls
		c.mu.Unlock()
		c.waitCalls(h.t, n)
	}
}

// take returns what fired since the last take.
func (h *harness) take() []Due {
	var out []Due
	for {
		select {
		case d := <-h.fired:
			out = append(out, d)
		default:
			return out
		}
	}
}

func (h *harness) add(tm Timer) Timer {
	h.t.Helper()
	var got Timer
	h.do(func() {
		var err error
		if got, err = h.s.Add(tm); err != nil {
			h.t.Fatalf("Add: %v", err)
		}
	})
	return got
}

// prompts names what fired: the timers' prompts, the crons' ids with their
// slots.
func prompts(ds []Due) []string {
	var out []string
	for _, d := range ds {
		switch {
		case d.Timer != nil:
			out = append(out, d.Timer.Prompt)
		case d.Cron != nil:
			s := d.Cron.ID + "@" + d.At.UTC().Format("01-02T15:04")
			if d.Missed {
				s += " missed"
			}
			out = append(out, s)
		}
	}
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func timer(chat int64, in time.Duration, prompt string) Timer {
	return Timer{ChatID: chat, UserID: 7, Prompt: prompt, Due: t0.Add(in)}
}

func TestTimersFireOnceInOrder(t *testing.T) {
	h := newHarness(t, Options{})
	h.add(timer(1, 5*time.Minute, "a"))
	h.add(timer(2, 2*time.Minute, "c"))
	h.add(timer(1, 2*time.Minute, "b"))
	h.add(timer(1, 90*time.Second, "first"))
	h.advanceTo(t0.Add(time.Minute))
	equal(t, "fired after 1m", prompts(h.take()), nil)
	h.advanceTo(t0.Add(10 * time.Minute))
	ds := h.take()
	equal(t, "fired", prompts(ds), []string{"first", "b", "c", "a"})
	for _, d := range ds {
		if d.Missed || !d.At.Equal(d.Timer.Due) || d.Timer.UserID != 7 {
			t.Errorf("due %+v (timer %+v)", d, *d.Timer)
		}
	}
	h.advanceTo(t0.Add(time.Hour))
	equal(t, "fired again", prompts(h.take()), nil)
	if got := h.s.List(1, 0); len(got) != 0 {
		t.Errorf("List after firing = %+v", got)
	}
}

func TestTimerAlreadyDueFiresAtOnce(t *testing.T) {
	h := newHarness(t, Options{})
	h.add(Timer{ChatID: 1, Prompt: "now", Due: t0.Add(-time.Second)})
	equal(t, "fired", prompts(h.take()), []string{"now"})
}

func TestListAndIDs(t *testing.T) {
	h := newHarness(t, Options{})
	a := h.add(timer(1, time.Hour, "a"))
	b := h.add(timer(1, 30*time.Minute, "b"))
	c := h.add(Timer{ChatID: 1, ThreadID: 9, Prompt: "topic", Due: t0.Add(time.Hour)})
	other := h.add(timer(2, time.Hour, "other"))
	if a.ID != 1 || b.ID != 2 || c.ID != 3 || other.ID != 1 {
		t.Errorf("ids = %d %d %d, other chat %d; want 1 2 3, 1", a.ID, b.ID, c.ID, other.ID)
	}
	if !a.Created.Equal(t0) {
		t.Errorf("Created = %v, want now", a.Created)
	}
	var got []string
	for _, tm := range h.s.List(1, 0) {
		got = append(got, tm.Prompt)
	}
	equal(t, "List(1, 0)", got, []string{"b", "a"})
	if l := h.s.List(1, 9); len(l) != 1 || l[0].Prompt != "topic" {
		t.Errorf("List(1, 9) = %+v", l)
	}
	h.do(func() { h.s.Cancel(1, 0, 2) })
	if d := h.add(timer(1, time.Hour, "d")); d.ID != 4 {
		t.Errorf("id after cancelling 2 = %d, want 4 (never reused while a higher one is pending)", d.ID)
	}
}

func TestCancel(t *testing.T) {
	h := newHarness(t, Options{})
	a := h.add(Timer{ChatID: 1, ReplyTo: 100, Prompt: "a", Due: t0.Add(2 * time.Minute)})
	h.add(Timer{ChatID: 1, ReplyTo: 101, Prompt: "b", Due: t0.Add(3 * time.Minute)})
	h.add(Timer{ChatID: 1, ThreadID: 5, ReplyTo: 102, Prompt: "c", Due: t0.Add(4 * time.Minute)})
	h.add(timer(1, 5*time.Minute, "d"))

	if _, err := h.s.Cancel(1, 5, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Cancel from another thread: %v, want ErrNotFound", err)
	}
	if _, err := h.s.Cancel(2, 0, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Cancel from another chat: %v, want ErrNotFound", err)
	}
	var got Timer
	var err error
	h.do(func() { got, err = h.s.Cancel(1, 0, a.ID) })
	if err != nil || got.Prompt != "a" {
		t.Errorf("Cancel = %+v, %v", got, err)
	}
	if _, err := h.s.Cancel(1, 0, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Cancel: %v, want ErrNotFound", err)
	}
	h.do(func() { got, err = h.s.CancelByMessage(1, 102) })
	if err != nil || got.Prompt != "c" {
		t.Errorf("CancelByMessage = %+v, %v", got, err)
	}
	if _, err := h.s.CancelByMessage(1, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("CancelByMessage(1, 0) matched a timer that answers no message: %v", err)
	}
	if _, err := h.s.CancelByMessage(1, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("CancelByMessage of no timer: %v, want ErrNotFound", err)
	}
	h.advanceTo(t0.Add(time.Hour))
	equal(t, "fired", prompts(h.take()), []string{"b", "d"})
}

func TestAddErrors(t *testing.T) {
	h := newHarness(t, Options{})
	for _, tm := range []Timer{
		{Prompt: "x", Due: t0},
		{ChatID: 1, Prompt: " ", Due: t0},
		{ChatID: 1, Prompt: "x"},
	} {
		if _, err := h.s.Add(tm); err == nil {
			t.Errorf("Add(%+v) succeeded", tm)
		}
	}
	for i := range MaxTimersPerChat {
		if _, err := h.s.Add(timer(1, time.Hour+time.Duration(i), "x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.s.Add(timer(1, time.Hour, "x")); !errors.Is(err, ErrTooMany) {
		t.Errorf("Add beyond the limit: %v, want ErrTooMany", err)
	}
	if _, err := h.s.Add(timer(2, time.Hour, "x")); err != nil {
		t.Errorf("Add in another chat: %v", err)
	}
}

func TestTimersSurviveRestart(t *testing.T) {
	h := newHarness(t, Options{})
	h.add(timer(1, 10*time.Minute, "soon"))
	h.add(timer(1, time.Hour, "later"))
	h.restart(t0.Add(30 * time.Minute)) // down from 10:00 to 10:30
	ds := h.take()
	equal(t, "fired at start", prompts(ds), []string{"soon"})
	if len(ds) == 1 && !ds[0].Missed {
		t.Errorf("a timer due while down fired without Missed")
	}
	if l := h.s.List(1, 0); len(l) != 1 || l[0].Prompt != "later" || l[0].ID != 2 {
		t.Errorf("List after restart = %+v", l)
	}
	h.restart(t0.Add(40 * time.Minute))
	equal(t, "fired at second start", prompts(h.take()), nil)
	h.advanceTo(t0.Add(2 * time.Hour))
	ds = h.take()
	equal(t, "fired", prompts(ds), []string{"later"})
	if len(ds) == 1 && ds[0].Missed {
		t.Errorf("a timer due while up fired with Missed")
	}
}

// The file says a timer or a slot fired before the callback runs.
func TestFiredIsRecordedBeforeCallback(t *testing.T) {
	var h *harness
	var checked []string
	h = newHarness(t, Options{
		Crons: []Cron{{ID: "tick", Schedule: "* * * * *", Prompt: "p"}},
		Fire: func(d Due) {
			f, err := readFile(h.path)
			if err != nil {
				t.Errorf("read file in Fire: %v", err)
				return
			}
			switch {
			case d.Timer != nil:
				if len(f.Timers) != 0 {
					t.Errorf("timer %d still in the file when it fires", d.Timer.ID)
				}
				checked = append(checked, "timer")
			case d.Cron != nil:
				if !f.Crons["tick"].LastFired.Equal(d.At) {
					t.Errorf("file's last_fired = %v when slot %v fires", f.Crons["tick"].LastFired, d.At)
				}
				checked = append(checked, "cron")
			}
		},
	})
	h.add(timer(1, 90*time.Second, "x"))
	h.advanceTo(t0.Add(2 * time.Minute))
	equal(t, "checked", checked, []string{"cron", "timer", "cron"})
}

// A change that cannot be written does not happen; a due timer whose firing
// cannot be written waits, and fires once the file can be written again.
func TestWriteFailure(t *testing.T) {
	h := newHarness(t, Options{})
	dir := filepath.Dir(h.path)
	h.add(timer(1, 2*time.Minute, "x"))
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Add(timer(1, time.Hour, "y")); err == nil {
		t.Errorf("Add succeeded without its file")
	}
	if _, err := h.s.Cancel(1, 0, 1); err == nil {
		t.Errorf("Cancel succeeded without its file")
	}
	h.advanceTo(t0.Add(3 * time.Minute))
	equal(t, "fired without a file", prompts(h.take()), nil)
	if l := h.s.List(1, 0); len(l) != 1 {
		t.Errorf("List = %+v, want the unfired timer", l)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	h.advanceTo(t0.Add(4 * time.Minute))
	equal(t, "fired once the file is back", prompts(h.take()), []string{"x"})
}

func TestCronEveryMinuteAcrossRestarts(t *testing.T) {
	h := newHarness(t, Options{
		Crons:       []Cron{{ID: "tick", Schedule: "* * * * *", Project: "p", Prompt: "go", ChatID: -5, TopicID: 3}},
		MissedAfter: 5 * time.Minute,
	})
	h.advanceTo(t0.Add(150 * time.Second)) // 10:02:30
	ds := h.take()
	equal(t, "fired", prompts(ds), []string{"tick@06-02T10:01", "tick@06-02T10:02"})
	if len(ds) > 0 && (ds[0].Cron.ChatID != -5 || ds[0].Cron.TopicID != 3 || ds[0].Cron.Prompt != "go") {
		t.Errorf("cron handed back as %+v", *ds[0].Cron)
	}
	// Down for ten seconds within the 10:02 slot: it does not fire again.
	h.restart(t0.Add(160 * time.Second))
	equal(t, "fired at restart mid-slot", prompts(h.take()), nil)
	h.advanceTo(t0.Add(4 * time.Minute))
	equal(t, "fired after restart", prompts(h.take()), []string{"tick@06-02T10:03", "tick@06-02T10:04"})
	// Down across the 10:05 slot: it fires once, at start; 20s late is
	// still on time.
	h.restart(t0.Add(5*time.Minute + 20*time.Second))
	equal(t, "fired at restart after a slot", prompts(h.take()), []string{"tick@06-02T10:05"})
	h.restart(t0.Add(5*time.Minute + 40*time.Second))
	equal(t, "fired at a second restart", prompts(h.take()), nil)
	h.advanceTo(t0.Add(6 * time.Minute))
	equal(t, "fired after", prompts(h.take()), []string{"tick@06-02T10:06"})
}

func TestMissedSlots(t *testing.T) {
	for _, tt := range []struct {
		name        string
		missedAfter time.Duration
		want        []string
	}{
		{"never fire missed slots", 0, nil},
		{"latest missed slot older than missed_after", 10 * time.Minute, nil},
		{"latest missed slot younger than missed_after", time.Hour, []string{"hourly@06-02T12:00 missed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{
				Crons:       []Cron{{ID: "hourly", Schedule: "0 * * * *", Prompt: "p"}},
				MissedAfter: tt.missedAfter,
			})
			h.advanceTo(t0.Add(30 * time.Minute))
			// Down from 10:30 to 12:20: the 11:00 and 12:00 slots are missed.
			h.restart(t0.Add(2*time.Hour + 20*time.Minute))
			equal(t, "fired at start", prompts(h.take()), tt.want)
			h.restart(t0.Add(2*time.Hour + 30*time.Minute))
			equal(t, "fired at second start", prompts(h.take()), nil)
			h.advanceTo(t0.Add(3 * time.Hour))
			equal(t, "fired after", prompts(h.take()), []string{"hourly@06-02T13:00"})
		})
	}
}

// A cron added to the config while the bridge was down has no slot before
// it was first seen.
func TestNewCronHasNoPastSlots(t *testing.T) {
	h := newHarness(t, Options{MissedAfter: 24 * time.Hour})
	h.opts.Crons = []Cron{{ID: "daily", Schedule: "0 6 * * *", Prompt: "p"}}
	h.restart(t0.Add(time.Hour))
	equal(t, "fired at start", prompts(h.take()), nil)
	// Down again across 06:00 the next day: that slot was after it was seen.
	h.restart(t0.Add(21 * time.Hour))
	equal(t, "fired at restart", prompts(h.take()), []string{"daily@06-03T06:00 missed"})
}

func TestRunOnce(t *testing.T) {
	h := newHarness(t, Options{
		Crons:       []Cron{{ID: "once", Schedule: "*/5 * * * *", Prompt: "p", RunOnce: true}},
		MissedAfter: time.Hour,
	})
	h.advanceTo(t0.Add(12 * time.Minute))
	equal(t, "fired", prompts(h.take()), []string{"once@06-02T10:05"})
	h.restart(t0.Add(30 * time.Minute))
	h.advanceTo(t0.Add(time.Hour))
	equal(t, "fired after restart", prompts(h.take()), nil)
	f, err := readFile(h.path)
	if err != nil || !f.Crons["once"].Done {
		t.Errorf("file = %+v, %v; want once done", f, err)
	}
}

// 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer; the
// clocks change on the last Sunday of March and of October.
func TestTimezone(t *testing.T) {
	for _, tt := range []struct {
		name      string
		from, to  time.Time
		want      []string
		dst, cron string
	}{
		{"spring forward", time.Date(2025, 3, 29, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC),
			[]string{"berlin@03-29T08:00", "berlin@03-30T07:00"}, "", "0 9 * * *"},
		{"fall back", time.Date(2025, 10, 25, 0, 0, 0, 0, time.UTC), time.Date(2025, 10, 27, 0, 0, 0, 0, time.UTC),
			[]string{"berlin@10-25T07:00", "berlin@10-26T08:00"}, "", "0 9 * * *"},
		{"weekdays", time.Date(2025, 6, 6, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC),
			[]string{"berlin@06-06T07:00", "berlin@06-09T07:00"}, "", "0 9 * * mon-fri"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := &harness{t: t, clk: newFakeClock(tt.from), path: filepath.Join(t.TempDir(), "s.json"), fired: make(chan Due, 100),
				opts: Options{Crons: []Cron{{ID: "berlin", Schedule: tt.cron, Timezone: "Europe/Berlin", Prompt: "p"}}}}
			h.start()
			h.advanceTo(tt.to)
			ds := h.take()
			equal(t, "fired", prompts(ds), tt.want)
			for _, d := range ds {
				if got := d.At.In(mustZone(t, "Europe/Berlin")).Format("15:04"); got != "09:00" {
					t.Errorf("slot %v is %s in Berlin", d.At, got)
				}
			}
		})
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestBadCrons(t *testing.T) {
	for _, tt := range []struct {
		name  string
		crons []Cron
		want  string
	}{
		{"four fields", []Cron{{ID: "a", Schedule: "0 9 * *"}}, `cron a: schedule "0 9 * *" has 4 fields, not 5`},
		{"six fields", []Cron{{ID: "a", Schedule: "0 0 9 * * *"}}, "has 6 fields, not 5"},
		{"hour out of range", []Cron{{ID: "a", Schedule: "0 24 * * *"}}, "above maximum"},
		{"not a number", []Cron{{ID: "a", Schedule: "x * * * *"}}, `cron a: schedule "x * * * *"`},
		{"descriptor", []Cron{{ID: "a", Schedule: "@daily"}}, "instead of a descriptor"},
		{"zone in the schedule", []Cron{{ID: "a", Schedule: "CRON_TZ=UTC 0 9 * * *"}}, "set the time zone with timezone"},
		{"empty schedule", []Cron{{ID: "a"}}, "cron a: empty schedule"},
		{"never fires", []Cron{{ID: "a", Schedule: "0 0 30 2 *"}}, "never fires"},
		{"unknown zone", []Cron{{ID: "a", Schedule: "* * * * *", Timezone: "Europe/Berln"}}, `cron a: unknown time zone "Europe/Berln"`},
		{"local zone", []Cron{{ID: "a", Schedule: "* * * * *", Timezone: "Local"}}, "depends on the host"},
		{"no id", []Cron{{Schedule: "* * * * *"}}, "cron without an id"},
		{"same id twice", []Cron{{ID: "a", Schedule: "* * * * *"}, {ID: "a", Schedule: "0 * * * *"}}, "cron a: the id is used twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Options{Path: filepath.Join(t.TempDir(), "s.json"), Crons: tt.crons, Fire: func(Due) {}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestBadFile(t *testing.T) {
	for _, tt := range []struct {
		name    string
		content string
		want    string
	}{
		{"not JSON", "{\"version\": 1, \"timers\": [", "is corrupt"},
		{"wrong type", `{"version": 1, "timers": {}}`, "is corrupt"},
		{"unknown version", `{"version": 2}`, "is corrupt (version 2, not 1)"},
		{"timer without chat", `{"version": 1, "timers": [{"id": 1, "prompt": "x", "due": "2025-06-02T10:00:00Z"}]}`, "lacks its id, chat or due time"},
		{"timer twice", `{"version": 1, "timers": [{"id": 1, "chat_id": 5, "due": "2025-06-02T10:00:00Z"}, {"id": 1, "chat_id": 5, "due": "2025-06-02T11:00:00Z"}]}`, "listed twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.json")
			os.WriteFile(path, []byte(tt.content), 0o600)
			_, err := New(Options{Path: path, Fire: func(Due) {}})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("New: %v, want an error naming the file, with %q", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), "move it aside") {
				t.Errorf("New: %v, want the way out", err)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		path := t.TempDir() // a directory cannot be read as a file, even by root
		_, err := New(Options{Path: path, Fire: func(Due) {}})
		if err == nil || !strings.HasPrefix(err.Error(), "read schedule file: ") {
			t.Errorf("New: %v", err)
		}
	})
}

func TestFileLayout(t *testing.T) {
	h := newHarness(t, Options{Crons: []Cron{{ID: "tick", Schedule: "* * * * *", Prompt: "p"}}})
	h.add(Timer{ChatID: -100, ThreadID: 4, UserID: 7, ReplyTo: 55, Project: "web", Engine: "codex", Prompt: "hi", Due: t0.Add(time.Hour)})
	h.advanceTo(t0.Add(time.Minute))
	data, err := os.ReadFile(h.path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"version": 1.0,
		"timers": []any{map[string]any{
			"id": 1.0, "chat_id": -100.0, "thread_id": 4.0, "user_id": 7.0, "reply_to": 55.0,
			"project": "web", "engine": "codex", "prompt": "hi",
			"due": "2025-06-02T11:00:00Z", "created": "2025-06-02T10:00:00Z",
		}},
		"crons": map[string]any{"tick": map[string]any{
			"since": "2025-06-02T10:00:00Z", "last_slot": "2025-06-02T10:01:00Z", "last_fired": "2025-06-02T10:01:00Z",
		}},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("file =\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	if fi, err := os.Stat(h.path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v, %v", fi, err)
	}
}

func TestCloseWithoutStart(t *testing.T) {
	s, err := New(Options{Path: filepath.Join(t.TempDir(), "s.json"), Fire: func(Due) {}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Errorf("second Start succeeded")
	}
	s.Close()
}
