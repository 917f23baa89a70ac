package orchestrator

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSlotsHandOutInArrivalOrder(t *testing.T) {
	ctx := context.Background()
	noWait := func() { t.Error("waited for a free slot") }
	if s := newSlots(0); s != nil || s.acquire(ctx, noWait) != nil {
		t.Fatal("no cap should never wait")
	}

	s := newSlots(1)
	if err := s.acquire(ctx, noWait); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 3)
	for i := range 3 {
		inLine := make(chan struct{})
		go func() {
			if err := s.acquire(ctx, func() { close(inLine) }); err != nil {
				t.Error(err)
				return
			}
			got <- i
		}()
		<-inLine
	}

	cctx, cancel := context.WithCancel(ctx)
	inLine := make(chan struct{})
	errc := make(chan error)
	go func() { errc <- s.acquire(cctx, func() { close(inLine) }) }()
	<-inLine
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter got %v", err)
	}

	for want := range 3 {
		s.release()
		if i := <-got; i != want {
			t.Errorf("slot went to waiter %d, want %d", i, want)
		}
	}
	s.release()
	if err := s.acquire(ctx, noWait); err != nil { // the cancelled waiter took nothing
		t.Fatal(err)
	}
}

// waitStats waits until o counts running runs and queued messages.
func waitStats(t *testing.T, o *Orchestrator, running, queued int) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		r, q := o.Stats()
		if r == running && q == queued {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("Stats() = %d running, %d queued; want %d, %d", r, q, running, queued)
		}
	}
}

// progressEdits returns the edits of each progress message by the id of the
// message it answers.
func (c *fakeChat) progressEdits() map[int64][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int64][]string{}
	for i, m := range c.sent {
		if strings.HasPrefix(m.Text.S, "starting ·") || strings.HasPrefix(m.Text.S, "queued ·") {
			out[m.ReplyTo] = nil
			for _, e := range c.edits[c.ids[i]] {
				out[m.ReplyTo] = append(out[m.ReplyTo], e.S)
			}
		}
	}
	return out
}

const waitingText = "waiting for a free slot"

// sendFromChats has n private chats send one message each at once.
func sendFromChats(o *Orchestrator, n int) {
	for i := range int64(n) {
		o.Handle(context.Background(), Message{ChatID: 1000 + i, MessageID: 1 + i, UserID: 7, Private: true, Text: "hi"})
	}
}

func TestConcurrencyCapQueuesRunsVisibly(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), delay: 10 * time.Millisecond, hold: make(chan struct{})}
	o := newTestOrchestrator(t, box, chat, func(o *Options) {
		o.DefaultProject = "app"
		o.MaxConcurrentRuns = 2
	})
	sendFromChats(o, 5)
	waitStats(t, o, 2, 3)
	close(box.hold)

	finals := chat.waitFinals(t, 5)
	waitStats(t, o, 0, 0)
	answered := map[int64]bool{}
	for _, f := range finals {
		if !strings.HasPrefix(f.Text.S, "done ·") {
			t.Errorf("final = %q", f.Text.S)
		}
		answered[f.ReplyTo] = true
	}
	if len(answered) != 5 {
		t.Errorf("answered messages %v, want 5", answered)
	}
	box.mu.Lock()
	peak, runs := box.peak, len(box.specs)
	box.mu.Unlock()
	if peak != 2 || runs != 5 {
		t.Errorf("%d runs, at most %d at once; want 5, 2", runs, peak)
	}

	waited := 0
	for msg, edits := range chat.progressEdits() {
		i := slices.IndexFunc(edits, func(s string) bool { return strings.Contains(s, waitingText) })
		if i < 0 {
			continue
		}
		waited++
		if want := "queued · claude · waiting for a free slot (2 runs at the limit)"; edits[i] != want {
			t.Errorf("message %d: waiting notice %q, want %q", msg, edits[i], want)
		}
		if last := edits[len(edits)-1]; !strings.HasPrefix(last, "working · claude") {
			t.Errorf("message %d: progress stayed %q after the run started", msg, last)
		}
	}
	if waited != 3 {
		t.Errorf("%d progress messages showed the wait, want 3", waited)
	}
}

func TestCloseEndsRunsWaitingForASlot(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), hold: make(chan struct{})}
	o := newTestOrchestrator(t, box, chat, func(o *Options) {
		o.DefaultProject = "app"
		o.MaxConcurrentRuns = 1
	})
	sendFromChats(o, 3)
	waitStats(t, o, 1, 2)

	start := time.Now()
	o.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	finals := chat.finals()
	if len(finals) != 3 {
		t.Fatalf("%d finals, want 3: %+v", len(finals), chat.sent)
	}
	edits := chat.progressEdits()
	notRun := 0
	for _, f := range finals {
		wasWaiting := slices.IndexFunc(edits[f.ReplyTo], func(s string) bool { return strings.Contains(s, waitingText) }) >= 0
		switch {
		case wasWaiting && strings.Contains(f.Text.S, notRunShutdown):
			notRun++
		case wasWaiting:
			t.Errorf("waiting message %d ended with %q", f.ReplyTo, f.Text.S)
		case !strings.Contains(f.Text.S, "shutting down"):
			t.Errorf("running message %d ended with %q", f.ReplyTo, f.Text.S)
		}
	}
	if notRun != 2 {
		t.Errorf("%d waiting runs told of the shutdown, want 2", notRun)
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.specs) != 1 {
		t.Errorf("%d runs reached the sandbox, want 1", len(box.specs))
	}
}

func TestTakenSlotsHoldBackWaitersUntilUnderTheCap(t *testing.T) {
	s := newSlots(1)
	s.take() // a restored run
	s.take() // another: over the cap
	got := make(chan struct{})
	go func() {
		if err := s.acquire(context.Background(), func() {}); err == nil {
			close(got)
		}
	}()
	s.release() // back at the cap: the waiter still waits
	select {
	case <-got:
		t.Fatal("a waiter got a slot while the runs were at the cap")
	case <-time.After(50 * time.Millisecond):
	}
	s.release()
	select {
	case <-got:
	case <-time.After(time.Second):
		t.Fatal("the waiter got no slot once the runs were under the cap")
	}
}
