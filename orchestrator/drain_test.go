package orchestrator

import (
	"context"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// memRuns is a RunStore in memory, shared by the bridges of one test.
type memRuns struct {
	mu sync.Mutex
	m  map[string]RunRecord
}

func (r *memRuns) Put(id string, v RunRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[id] = v
	return nil
}

func (r *memRuns) Delete(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, id)
	return nil
}

func (r *memRuns) All() map[string]RunRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.m)
}

// detachBox is a fakeSandbox whose runs can be detached and reattached:
// containers lives across the bridges of a test.
type detachBox struct {
	*fakeSandbox
	detached   chan struct{}
	once       sync.Once
	containers *sync.Map // name → true while it exists
	reattached []string
	removed    []string
}

func newDetachBox(box *fakeSandbox, containers *sync.Map) *detachBox {
	return &detachBox{fakeSandbox: box, detached: make(chan struct{}), containers: containers}
}

func (b *detachBox) Run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error) {
	select {
	case <-b.detached:
		return sandbox.Result{}, sandbox.ErrDetached
	default:
	}
	b.containers.Store(spec.Name, true)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-b.detached:
			cancel()
		case <-runCtx.Done():
		}
	}()
	res, err := b.fakeSandbox.Run(runCtx, spec, onLine)
	select {
	case <-b.detached:
		return sandbox.Result{}, sandbox.ErrDetached
	default:
	}
	if !spec.Keep {
		b.containers.Delete(spec.Name)
	}
	return res, err
}

func (b *detachBox) Detach() { b.once.Do(func() { close(b.detached) }) }

func (b *detachBox) Reattach(ctx context.Context, name string, _ io.Reader, onLine func([]byte)) (sandbox.Result, error) {
	b.mu.Lock()
	b.reattached = append(b.reattached, name)
	b.mu.Unlock()
	if _, ok := b.containers.Load(name); !ok {
		return sandbox.Result{}, sandbox.ErrNotFound
	}
	return b.fakeSandbox.Run(ctx, sandbox.Spec{Name: name}, onLine)
}

func (b *detachBox) RemoveContainer(_ context.Context, name string) error {
	b.mu.Lock()
	b.removed = append(b.removed, name)
	b.mu.Unlock()
	b.containers.Delete(name)
	return nil
}

// sentText is the text a message was sent with.
func (c *fakeChat) sentText(id int64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range c.sent {
		if c.ids[i] == id {
			return m.Text.S
		}
	}
	return ""
}

// bridge is one life of the bridge over shared runs and chat.
func bridge(t *testing.T, box *detachBox, chat *fakeChat, runs *memRuns, policy string) *Orchestrator {
	return newTestOrchestrator(t, box.fakeSandbox, chat, func(o *Options) {
		o.Sandbox = box
		o.Reattacher = box
		o.Runs = runs
		o.Drain = policy
	})
}

func TestDetachedRunIsAnsweredByTheNextBridge(t *testing.T) {
	for _, finishedWhileDown := range []bool{false, true} {
		name := "reattach to a running container"
		if finishedWhileDown {
			name = "container finished while no bridge ran"
		}
		t.Run(name, func(t *testing.T) {
			chat := newFakeChat()
			runs := &memRuns{m: map[string]RunRecord{}}
			containers := &sync.Map{}
			first := newDetachBox(&fakeSandbox{stream: fixture(t, "basic.jsonl"), hold: make(chan struct{})}, containers)
			o1 := bridge(t, first, chat, runs, DrainDetach)
			o1.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "long job"})
			o1.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "next job"})
			progress := chat.progressOf(t, 1)
			waitStats(t, o1, 1, 1)
			waitFor(t, func() bool { first.mu.Lock(); defer first.mu.Unlock(); return len(first.specs) == 1 })

			o1.Drain(context.Background())
			// A prompt during the drain is kept for the next bridge; a
			// command is answered "restarting".
			o1.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "during the drain"})
			kept := chat.progressOf(t, 3)
			if got := chat.sentText(kept); !strings.Contains(got, "runs once it is back") {
				t.Errorf("reply during the drain = %q", got)
			}
			o1.Handle(context.Background(), Message{ChatID: group, MessageID: 4, UserID: 7, Text: "/status"})
			if got := chat.replyTo(t, 4); got != restarting {
				t.Errorf("reply to a command during the drain = %q", got)
			}
			if f := chat.finals(); len(f) != 0 {
				t.Fatalf("the detached bridge sent finals: %+v", f)
			}
			recs := runs.All()
			if len(recs) != 3 {
				t.Fatalf("records after the drain = %+v, want the running, the queued and the kept run", recs)
			}
			edits := chat.progressEdits()[1]
			if len(edits) == 0 || !strings.Contains(edits[len(edits)-1], "this run carries on") {
				t.Errorf("progress edits = %q, want a note that the run carries on", edits)
			}
			if e := chat.progressEdits()[2]; len(e) == 0 || !strings.Contains(e[len(e)-1], "runs once it is back") {
				t.Errorf("queued message edits = %q", e)
			}

			second := newDetachBox(&fakeSandbox{stream: fixture(t, "basic.jsonl")}, containers)
			if !finishedWhileDown {
				second.hold = make(chan struct{})
			}
			o2 := bridge(t, second, chat, runs, DrainDetach)
			taken := o2.Restore()
			if len(taken) != 3 {
				t.Errorf("Restore took %v, want 3 runs", taken)
			}
			o2.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "long job"}) // redelivered
			if second.hold != nil {
				close(second.hold)
			}
			finals := chat.waitFinals(t, 3)
			o2.Close()
			if finals[0].ReplyTo != 1 || finals[1].ReplyTo != 2 || finals[2].ReplyTo != 3 || !strings.HasPrefix(finals[0].Text.S, "done ·") {
				t.Errorf("finals = %+v", finals)
			}
			if len(second.reattached) != 1 || len(second.specs) != 3 {
				t.Errorf("reattached %q and ran %d specs; want 1 reattach and new runs for the queued and the kept message", second.reattached, len(second.specs)-len(second.reattached))
			}
			chat.mu.Lock()
			deleted := slices.Contains(chat.del, progress) && slices.Contains(chat.del, kept)
			chat.mu.Unlock()
			if !deleted {
				t.Error("the first progress message or the kept message's placeholder was not deleted after the answers")
			}
			if recs := runs.All(); len(recs) != 0 {
				t.Errorf("records left: %+v", recs)
			}
			left := 0
			containers.Range(func(any, any) bool { left++; return true })
			if left != 0 {
				t.Errorf("%d containers left", left)
			}
		})
	}
}

func TestDrainPolicies(t *testing.T) {
	cases := []struct {
		policy  string
		release time.Duration // when the held run is let go
		timeout time.Duration
		want    string
	}{
		{DrainWait, 50 * time.Millisecond, 5 * time.Second, "done ·"},
		{DrainWait, time.Hour, 100 * time.Millisecond, "Stopped: the bridge is shutting down"},
		{DrainKill, time.Hour, 5 * time.Second, "Stopped: the bridge is shutting down"},
	}
	for _, tc := range cases {
		t.Run(tc.policy+" "+tc.want, func(t *testing.T) {
			chat := newFakeChat()
			runs := &memRuns{m: map[string]RunRecord{}}
			box := newDetachBox(&fakeSandbox{stream: fixture(t, "basic.jsonl"), hold: make(chan struct{})}, &sync.Map{})
			o := bridge(t, box, chat, runs, tc.policy)
			o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "job"})
			waitFor(t, func() bool { box.mu.Lock(); defer box.mu.Unlock(); return len(box.specs) == 1 })
			release := time.AfterFunc(tc.release, func() { close(box.hold) })
			defer release.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			o.Drain(ctx)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Drain took %v", d)
			}
			f := chat.finals()
			if len(f) != 1 || !strings.Contains(f[0].Text.S, tc.want) {
				t.Errorf("finals = %+v, want one with %q", f, tc.want)
			}
			if tc.policy == DrainWait {
				told := false
				for _, e := range chat.progressEdits()[1] {
					told = told || strings.Contains(e, "The bridge is restarting: it waits up to")
				}
				if !told {
					t.Errorf("the running run's chat was not told of the wait: %q", chat.progressEdits()[1])
				}
			}
			if recs := runs.All(); len(recs) != 0 {
				t.Errorf("records left: %+v", recs)
			}
		})
	}
}

func TestRestoreDeliversTheRestOfAnAnswer(t *testing.T) {
	chat := newFakeChat()
	runs := &memRuns{m: map[string]RunRecord{
		"aaa": {ChatID: group, MessageID: 1, UserID: 7, Project: "app", Engine: "claude", Container: "untether-test-aaa",
			ProgressID: 50, Final: []Text{{S: "done · part one"}, {S: "part two"}}, Delivered: 1},
		"bbb": {ChatID: group, MessageID: 2, UserID: 7, Project: "gone", Engine: "claude", Container: "untether-test-bbb"},
	}}
	containers := &sync.Map{}
	containers.Store("untether-test-aaa", true)
	box := newDetachBox(&fakeSandbox{stream: fixture(t, "basic.jsonl")}, containers)
	o := bridge(t, box, chat, runs, DrainDetach)
	if taken := o.Restore(); len(taken) != 0 {
		t.Errorf("Restore took %v", taken)
	}
	if got := chat.replyTo(t, 2); !strings.Contains(got, "no longer has this project") {
		t.Errorf("reply = %q", got)
	}
	o.Close()
	chat.mu.Lock()
	var sent []string
	for _, m := range chat.sent {
		if m.ReplyTo == 1 {
			sent = append(sent, m.Text.S)
		}
	}
	deleted := slices.Contains(chat.del, 50)
	chat.mu.Unlock()
	if !slices.Equal(sent, []string{"part two"}) {
		t.Errorf("sent after the restart: %q, want only the part not delivered", sent)
	}
	if !deleted || len(box.specs) != 0 {
		t.Errorf("progress deleted %v, runs %d", deleted, len(box.specs))
	}
	if recs := runs.All(); len(recs) != 0 {
		t.Errorf("records left: %+v", recs)
	}
	if _, ok := containers.Load("untether-test-aaa"); ok {
		t.Error("the answered run's container was not removed")
	}
}

// A restored run whose container never started, in a config that no longer
// has an image for its engine, is answered with that reason, not started
// from an empty spec.
func TestRestoredRunThatCannotStartAnew(t *testing.T) {
	chat := newFakeChat()
	runs := &memRuns{m: map[string]RunRecord{"0a0b0c0d0e0f": {
		ChatID: group, MessageID: 1, UserID: 7, Accepted: time.Now(), Project: "app", Engine: "claude",
		Session: "s", Queue: "q", Prompt: "job", Container: "untether-test-0a0b0c0d0e0f",
	}}}
	box := newDetachBox(&fakeSandbox{stream: fixture(t, "basic.jsonl")}, &sync.Map{})
	o := newTestOrchestrator(t, box.fakeSandbox, chat, func(o *Options) {
		o.Sandbox, o.Reattacher, o.Runs = box, box, runs
		o.Projects[0].Images = map[string]string{}
	})
	o.Restore()
	f := chat.waitFinals(t, 1)
	if !strings.Contains(f[0].Text.S, "No container image is configured for claude.") {
		t.Errorf("final = %q", f[0].Text.S)
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.specs) != 0 {
		t.Errorf("started %d containers from an empty spec", len(box.specs))
	}
}
