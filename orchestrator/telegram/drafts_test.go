package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

func draft(id int64, s string) orchestrator.Draft {
	return orchestrator.Draft{ChatID: private, ID: id, Text: text(s)}
}

// TestDraftsCoalesceAndArePaced: drafts of one id queued while the chat is
// paced collapse to the newest, they go within the private chat's limit,
// and they carry can_stop.
func TestDraftsCoalesceAndArePaced(t *testing.T) {
	srv := newServer(t, scaledLimits(false))
	c := newTestClient(t, srv, scaledPacing(), nil)
	send(t, c, private, "progress") // the chat's pace is taken now
	for i := 1; i <= 20; i++ {
		if err := c.Draft(t.Context(), draft(7, fmt.Sprint("answer ", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool {
		d := s.Drafts(private)
		return len(d) > 0 && d[len(d)-1].Text == "answer 20"
	})
	drafts := srv.Drafts(private)
	if len(drafts) > 3 {
		t.Errorf("%d drafts sent for 20 queued while paced, want them coalesced: %+v", len(drafts), drafts)
	}
	for _, d := range drafts {
		if !d.CanStop || d.DraftID != 7 {
			t.Errorf("draft %+v: want can_stop and id 7", d)
		}
	}
	for _, call := range calls(srv, "sendMessageDraft") {
		if call.ErrorCode == 429 {
			t.Errorf("a draft got 429: the outbox must pace drafts within the chat's limit")
		}
	}
}

// TestASendDropsQueuedDrafts: a draft still queued when the answer is sent
// would come after it; it is dropped.
func TestASendDropsQueuedDrafts(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	send(t, c, private, "progress") // the next write waits about a second
	if err := c.Draft(t.Context(), draft(7, "stale")); err != nil {
		t.Fatal(err)
	}
	send(t, c, private, "the answer")
	if err := c.Draft(t.Context(), draft(8, "next run")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool { return len(s.Drafts(private)) > 0 })
	if d := srv.Drafts(private); len(d) != 1 || d[0].Text != "next run" {
		t.Errorf("drafts = %+v, want only the one queued after the send", d)
	}
}

// TestDraftsOffWhenTheServerLacksTheMethod: an older server's 404 turns
// drafts off quietly: nothing is retried, later drafts fail with
// ErrNoDrafts, messages go on.
func TestDraftsOffWhenTheServerLacksTheMethod(t *testing.T) {
	srv := telegramtest.NewServer(telegramtest.Options{NoDrafts: true})
	t.Cleanup(srv.Close)
	srv.AddChat(telegramtest.Chat{ID: private, Type: "private"})
	logs := &logRecorder{}
	c := newTestClient(t, srv, defaultPacing(), slog.New(logs))
	if err := c.Draft(t.Context(), draft(7, "Hel")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, called("sendMessageDraft", 404))
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		err = c.Draft(t.Context(), draft(7, "Hello"))
	}
	if !errors.Is(err, orchestrator.ErrNoDrafts) {
		t.Fatalf("Draft after the 404 = %v, want ErrNoDrafts", err)
	}
	send(t, c, private, "the answer")
	if n := len(calls(srv, "sendMessageDraft")); n != 1 {
		t.Errorf("%d sendMessageDraft calls, want the one refused", n)
	}
	for _, l := range logs.all() {
		if l == "telegram write failed" {
			t.Errorf("the refused draft was logged as a failure: %q", logs.all())
		}
	}
}

func TestDraftRefusals(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	off, err := newClient(Options{Token: srv.Token(), APIURL: srv.URL(), NoDrafts: true}, defaultPacing())
	if err != nil {
		t.Fatal(err)
	}
	if err := off.Draft(t.Context(), draft(7, "x")); !errors.Is(err, orchestrator.ErrNoDrafts) {
		t.Errorf("Draft with NoDrafts = %v, want ErrNoDrafts", err)
	}
	c := newTestClient(t, srv, defaultPacing(), nil)
	if err := c.Draft(t.Context(), orchestrator.Draft{ChatID: group, ID: 7, Text: text("x")}); err == nil {
		t.Error("a draft to a group was taken")
	}
	if err := c.Draft(t.Context(), orchestrator.Draft{ChatID: private, Text: text("x")}); err == nil {
		t.Error("a draft without an id was taken")
	}
}

// TestPollDecodesStop: the user's Stop under a draft becomes a message that
// names the draft.
func TestPollDecodesStop(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	rec := &recorder{}
	poll(t, c, rec, &memOffset{})
	waitFor(t, srv, called("getUpdates", 0))
	if err := c.Draft(context.Background(), draft(41, "Hel")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool { return len(s.Drafts(private)) == 1 })
	sent, ok := srv.StopDraft(private, 41)
	if !ok || sent.UpdateID == 0 {
		t.Fatalf("StopDraft = %+v, %v: the poll must ask for stopped_message_generation", sent, ok)
	}
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool { return s.Acked(sent.UpdateID) })
	msgs := rec.all()
	want := orchestrator.Message{UpdateID: sent.UpdateID, ChatID: private, UserID: private, Private: true, StoppedDraft: 41}
	if len(msgs) != 1 || fmt.Sprint(msgs[0]) != fmt.Sprint(want) {
		t.Errorf("handled %+v, want %+v", msgs, want)
	}
}
