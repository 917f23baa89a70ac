package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/internal/mockapi"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// streamed makes the fake claude write its answer in pieces, gap apart.
const streamed = "explain fake:answer=The_answer_arrives_in_many_small_pieces_while_the_agent_writes_it fake:stream=16 fake:stream-gap=600ms"

// draftCalls are the sendMessageDraft calls made to chat.
func (w *world) draftCalls(chat int64) []telegramtest.Call {
	var out []telegramtest.Call
	for _, c := range w.calls("sendMessageDraft") {
		if id, _ := c.Params["chat_id"].(float64); int64(id) == chat {
			out = append(out, c)
		}
	}
	return out
}

// TestPrivateRunStreamsDraftsE2E: in a private chat the answer streams as a
// draft before the final message; the draft's Stop cancels a run like
// /cancel; a group run makes no draft call.
func TestPrivateRunStreamsDraftsE2E(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{defaultProject: true})
	w.cleanupVolumes()
	w.start()

	sent := w.tg.UserSays(alice.ID, alice, streamed)
	final := w.finalReply(alice.ID, sent.MessageID, 2*time.Minute)
	if !strings.HasPrefix(final.Text, "done · claude") ||
		!strings.Contains(final.Text, "The answer arrives in many small pieces while the agent writes it") {
		t.Errorf("final = %q", final.Text)
	}
	var before []telegramtest.Draft
	for _, d := range w.tg.Drafts(alice.ID) {
		if d.DraftID != sent.MessageID || !d.CanStop {
			t.Errorf("draft %+v: want draft_id %d and can_stop", d, sent.MessageID)
		}
		if d.At.Before(final.SentAt) {
			before = append(before, d)
		}
	}
	t.Logf("%d drafts before the final answer, %d in all", len(before), len(w.tg.Drafts(alice.ID)))
	if len(before) < 3 {
		t.Fatalf("%d drafts before the final answer, want at least 3: %+v", len(before), before)
	}
	for i := 1; i < len(before); i++ {
		gap := before[i].At.Sub(before[i-1].At)
		t.Logf("draft %d: %v after the one before: %q", i, gap.Round(time.Millisecond), before[i].Text)
		if gap < 900*time.Millisecond {
			t.Errorf("drafts %d and %d %v apart: faster than the private chat's limit", i-1, i, gap)
		}
	}
	if last := before[len(before)-1].Text; !strings.HasPrefix("The answer arrives in many small pieces while the agent writes it", last) {
		t.Errorf("last draft %q is not a prefix of the answer", last)
	}
	for _, c := range w.calls("sendMessageDraft") {
		if c.ErrorCode != 0 {
			t.Errorf("a draft was refused: %d %s", c.ErrorCode, c.Description)
		}
	}

	// Stop under the draft cancels the run as /cancel does: "Cancelled.",
	// and its container is gone.
	long := w.tg.UserSays(alice.ID, alice, "go on fake:case=partial fake:stream=60 fake:stream-gap=1s")
	w.waitFor("the long run's draft", time.Minute, func(s *telegramtest.Snapshot) bool {
		for _, d := range s.Drafts(alice.ID) {
			if d.DraftID == long.MessageID {
				return true
			}
		}
		return false
	})
	if _, ok := w.tg.StopDraft(alice.ID, long.MessageID); !ok {
		t.Fatal("StopDraft found no draft to stop")
	}
	stopped := w.finalReply(alice.ID, long.MessageID, time.Minute)
	if !strings.HasPrefix(stopped.Text, "error · claude") || !strings.Contains(stopped.Text, "Cancelled.") {
		t.Errorf("final after Stop = %q", stopped.Text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pollUntil(t, "the stopped run's container to go", 30*time.Second, func() bool { return len(w.containers(ctx)) == 0 })

	// A group keeps its edited progress message: no draft at all.
	g := w.tg.UserSays(groupChat, alice, streamed)
	if f := w.finalReply(groupChat, g.MessageID, 2*time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
		t.Errorf("group final = %q", f.Text)
	}
	if calls := w.draftCalls(groupChat); len(calls) != 0 {
		t.Errorf("%d sendMessageDraft calls for the group", len(calls))
	}
}

// TestDraftsFallBackOnAnOlderServerE2E: a Bot API server without
// sendMessageDraft answers 404; the run's answer arrives as always and
// the user sees no error; drafts are not tried again.
func TestDraftsFallBackOnAnOlderServerE2E(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{defaultProject: true, noDrafts: true})
	w.cleanupVolumes()
	w.start()

	for i, prompt := range []string{streamed, "again fake:case=partial " + streamed[len("explain "):]} {
		sent := w.tg.UserSays(alice.ID, alice, prompt)
		final := w.finalReply(alice.ID, sent.MessageID, 2*time.Minute)
		if !strings.HasPrefix(final.Text, "done · claude") || !strings.Contains(final.Text, "The answer arrives in many small pieces") {
			t.Errorf("run %d: final = %q", i, final.Text)
		}
	}
	calls := w.calls("sendMessageDraft")
	if len(calls) != 1 || calls[0].ErrorCode != 404 {
		t.Errorf("sendMessageDraft calls = %+v, want the one refused", calls)
	}
	for _, m := range w.tg.BotMessages(alice.ID) {
		if strings.Contains(strings.ToLower(m.Text), "draft") || strings.Contains(m.Text, "404") {
			t.Errorf("the user was told about the drafts: %q", m.Text)
		}
	}
}

// TestRealClaudeStreamsDraftsE2E: the real claude, against a model API
// that streams slowly, shows its answer as drafts in a private chat: each
// a prefix of what the model wrote, the answer's last.
func TestRealClaudeStreamsDraftsE2E(t *testing.T) {
	mock := mockapi.New(mockapi.Options{Mode: mockapi.ModeSlow, Delay: 200 * time.Millisecond})
	defer mock.Close()
	w := newWorld(t, worldOptions{
		defaultProject: true,
		memory:         "1GiB",
		pids:           512,
		network:        "host", // the mock listens on the host's loopback
		images:         map[string]string{"claude": "localhost/untether-claude:latest"},
		extra:          claudeMockConfig(mock),
	})
	w.cleanupVolumes()
	realEngineImages(t, w, "claude")
	if err := os.Chmod(w.project, 0o777); err != nil { // the image runs claude as uid 1000
		t.Fatal(err)
	}
	w.start()

	sent := w.tg.UserSays(alice.ID, alice, "create hello.txt containing hello")
	final := w.finalReply(alice.ID, sent.MessageID, 3*time.Minute)
	if !strings.HasPrefix(final.Text, "done · claude") || !strings.Contains(final.Text, mockapi.FinalCreate) {
		t.Fatalf("answer = %q", final.Text)
	}
	// The model's slow answer goes on past FinalCreate; the final message
	// holds it whole.
	var texts []string
	for _, d := range w.tg.Drafts(alice.ID) {
		if d.At.After(final.SentAt) {
			t.Errorf("draft %q after the final answer", d.Text)
		}
		if !strings.HasPrefix(mockapi.ToolPreamble, d.Text) && !strings.Contains(final.Text, d.Text) {
			t.Errorf("draft %q is neither the tool call's preamble nor the answer as it was written", d.Text)
		}
		texts = append(texts, d.Text)
	}
	t.Logf("%d drafts; the first %q", len(texts), texts[:min(len(texts), 6)])
	if len(texts) < 3 || !strings.HasPrefix(texts[len(texts)-1], mockapi.FinalCreate) {
		t.Errorf("drafts %q: want the preamble and the answer as they were written", texts)
	}
}
