package orchestrator

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
)

// fakeDrafter is a fakeChat that shows drafts.
type fakeDrafter struct {
	*fakeChat
	mu     sync.Mutex
	drafts []Draft
	sends  []int // how many messages were sent before each draft
	err    error // returned by every Draft when set
}

func (c *fakeDrafter) Draft(_ context.Context, d Draft) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drafts = append(c.drafts, d)
	c.fakeChat.mu.Lock()
	c.sends = append(c.sends, len(c.fakeChat.sent))
	c.fakeChat.mu.Unlock()
	return c.err
}

func (c *fakeDrafter) all() ([]Draft, []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Draft(nil), c.drafts...), append([]int(nil), c.sends...)
}

const alicePrivate = int64(7)

func draftOrchestrator(t *testing.T, box *fakeSandbox, chat *fakeDrafter) *Orchestrator {
	return newTestOrchestrator(t, box, chat.fakeChat, func(o *Options) {
		o.Chat = chat
		o.DefaultProject = "app"
	})
}

// TestPrivateRunStreamsItsAnswerAsADraft: the answer as it is written goes
// to the private chat as drafts named by the user's message, newest text
// last, all before the final answer, which is sent as a message.
func TestPrivateRunStreamsItsAnswerAsADraft(t *testing.T) {
	chat := &fakeDrafter{fakeChat: newFakeChat()}
	box := &fakeSandbox{stream: fixture(t, "partial.jsonl"), delay: 30 * time.Millisecond}
	o := draftOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: alicePrivate, MessageID: 41, UserID: 7, Private: true, Text: "hi"})
	f := chat.waitFinals(t, 1)[0]
	if !strings.Contains(f.Text.S, "Done. Created hello.txt.") {
		t.Fatalf("final = %q", f.Text.S)
	}
	o.Close()
	drafts, sends := chat.all()
	if len(drafts) < 2 {
		t.Fatalf("%d drafts, want the preamble and the answer at least: %+v", len(drafts), drafts)
	}
	for i, d := range drafts {
		if d.ChatID != alicePrivate || d.ID != 41 || d.Text.S == "" {
			t.Errorf("draft %d = %+v", i, d)
		}
		if sends[i] > 1 { // the progress message only
			t.Errorf("draft %d came after the final answer", i)
		}
	}
	if last := drafts[len(drafts)-1].Text.S; last != "Done. Created hello.txt." {
		t.Errorf("last draft %q, want the whole answer", last)
	}
}

func TestGroupRunShowsNoDraft(t *testing.T) {
	chat := &fakeDrafter{fakeChat: newFakeChat()}
	box := &fakeSandbox{stream: fixture(t, "partial.jsonl"), delay: 10 * time.Millisecond}
	o := draftOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	chat.waitFinals(t, 1)
	o.Close()
	if d, _ := chat.all(); len(d) != 0 {
		t.Errorf("drafts in a group: %+v", d)
	}
}

// TestDraftsOffCarryOnSilently: a transport without drafts is asked once,
// and the answer comes as always.
func TestDraftsOffCarryOnSilently(t *testing.T) {
	chat := &fakeDrafter{fakeChat: newFakeChat(), err: ErrNoDrafts}
	box := &fakeSandbox{stream: fixture(t, "partial.jsonl"), delay: 30 * time.Millisecond}
	o := draftOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: alicePrivate, MessageID: 41, UserID: 7, Private: true, Text: "hi"})
	f := chat.waitFinals(t, 1)[0]
	o.Close()
	if !strings.HasPrefix(f.Text.S, "done ·") {
		t.Errorf("final = %q", f.Text.S)
	}
	if d, _ := chat.all(); len(d) != 1 {
		t.Errorf("%d drafts asked of a transport without drafts, want 1", len(d))
	}
}

// TestStopUnderTheDraftCancelsTheRun: the user's Stop cancels the run it
// names as /cancel does; a Stop of another draft, or from a stranger, does
// nothing.
func TestStopUnderTheDraftCancelsTheRun(t *testing.T) {
	chat := &fakeDrafter{fakeChat: newFakeChat()}
	box := &fakeSandbox{stream: fixture(t, "partial.jsonl"), hold: make(chan struct{})}
	o := draftOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{UpdateID: 1, ChatID: alicePrivate, MessageID: 41, UserID: 7, Private: true, Text: "hi"})
	deadline := time.Now().Add(5 * time.Second)
	for len(o.sup.here(alicePrivate, 0)) == 0 || o.sup.here(alicePrivate, 0)[0].getState() != stateRunning {
		if time.Now().After(deadline) {
			t.Fatal("the run did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	o.Handle(context.Background(), Message{UpdateID: 2, ChatID: alicePrivate, UserID: 7, Private: true, StoppedDraft: 40})
	o.Handle(context.Background(), Message{UpdateID: 3, ChatID: 99, UserID: 99, Private: true, StoppedDraft: 41})
	select {
	case <-time.After(200 * time.Millisecond):
	case <-chat.change:
		if len(chat.finals()) > 0 {
			t.Fatal("a Stop of another draft, or a stranger's, ended the run")
		}
	}
	o.Handle(context.Background(), Message{UpdateID: 4, ChatID: alicePrivate, UserID: 7, Private: true, StoppedDraft: 41})
	f := chat.waitFinals(t, 1)[0]
	if !strings.HasPrefix(f.Text.S, "error · claude") || !strings.Contains(f.Text.S, "Cancelled.") {
		t.Errorf("final after Stop = %q", f.Text.S)
	}
}

func TestDraftText(t *testing.T) {
	long := strings.Repeat("a", draftUnits) + "😀end"
	if got := tailUnits(long, draftUnits); !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "😀end") || utf16Len(got) > draftUnits {
		t.Errorf("tailUnits = %d units, %q…", utf16Len(got), got[:10])
	}
	if got := tailUnits("short", draftUnits); got != "short" {
		t.Errorf("tailUnits(short) = %q", got)
	}
	render := func(md string, max int) []Text { return []Text{plainText("one"), plainText("two: " + md)} }
	if got := draftText(render, "x"); got.S != "two: x" {
		t.Errorf("draftText with render = %q, want the last part", got.S)
	}
	if got := draftText(nil, "**x**"); got.S != "**x**" {
		t.Errorf("draftText without render = %q", got.S)
	}
}

// TestTextDoesNotBusyTheProgressMessage: the answer as it is written is
// the draft's; alone it changes nothing of the progress view.
func TestTextDoesNotBusyTheProgressMessage(t *testing.T) {
	v := newProgressView("claude", time.Now())
	if v.apply([]engines.Event{engines.Text{Text: "Hel"}, engines.Text{Text: "Hello"}}) {
		t.Error("Text alone made the progress view change")
	}
	if !v.apply([]engines.Event{engines.Text{Text: "Hello"}, engines.Action{ID: "a", Kind: engines.KindCommand, Title: "ls"}}) {
		t.Error("an action with a Text did not change the view")
	}
}
