package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// TestQueuedSessionAcrossRestart: several messages wait behind a running
// run of one group session when the bridge gets SIGTERM (drain = detach).
// After the restart every message is answered exactly once, every "queued"
// placeholder became its message's progress message or was deleted, and
// runs.json ends empty — also when Telegram answers the bridge's sends
// with 500s and 429s for a while around the restart.
func TestQueuedSessionAcrossRestart(t *testing.T) {
	t.Parallel()
	for _, failing := range []bool{false, true} {
		name := "telegram healthy"
		if failing {
			name = "telegram failing sends"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, worldOptions{top: `drain = "detach"`})
			w.cleanupVolumes()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			d := w.start()
			first := w.tg.UserSays(groupChat, alice, "first fake:sleep=6s fake:delay=300ms")
			w.working(groupChat, first.MessageID)
			if failing {
				// Server errors and flood waits, mixed, for the placeholders
				// of the queued messages and what follows.
				w.tg.FailNext("sendMessage", 2, 500, "Internal Server Error", 0)
				w.tg.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 2", 2)
				w.tg.FailNext("sendMessage", 6, 500, "Internal Server Error", 0)
				w.tg.FailNext("editMessageText", 2, 500, "Internal Server Error", 0)
				w.tg.FailNext("deleteMessage", 2, 500, "Internal Server Error", 0)
			}
			queued := []telegramtest.Sent{first}
			for i := 2; i <= 4; i++ {
				queued = append(queued, w.tg.UserSays(groupChat, alice, fmt.Sprintf("message %d", i)))
			}
			last := queued[len(queued)-1]
			w.waitFor("every message taken", time.Minute, func(s *telegramtest.Snapshot) bool {
				return s.Acked(last.UpdateID)
			})
			if failing {
				w.tg.FailNext("sendMessage", 2, 429, "Too Many Requests: retry after 1", 1)
				w.tg.FailNext("sendMessage", 2, 500, "Internal Server Error", 0)
			}
			took := d.sigterm(t)
			t.Logf("SIGTERM to exit with 1 run detached and 3 queued: %v", took.Round(time.Millisecond))
			if failing {
				w.tg.FailNext("sendMessage", 1, 500, "Internal Server Error", 0)
				w.tg.FailNext("deleteMessage", 1, 500, "Internal Server Error", 0)
			}
			d2 := w.start()
			for _, m := range queued {
				w.finalReply(groupChat, m.MessageID, 3*time.Minute)
			}
			w.waitFor("no placeholder or progress message left", time.Minute, func(s *telegramtest.Snapshot) bool {
				return len(leftovers(s.BotMessages(groupChat))) == 0
			})
			time.Sleep(time.Second) // a second answer would land now
			for _, m := range queued {
				if n := w.finals(groupChat, m.MessageID); n != 1 {
					t.Errorf("message %d: %d final answers, want 1", m.MessageID, n)
				}
			}
			if n := len(w.engineCalls()); n != len(queued) {
				t.Errorf("engine ran %d times, want %d", n, len(queued))
			}
			if left := leftovers(w.tg.BotMessages(groupChat)); len(left) > 0 {
				t.Errorf("messages left in the chat: %q", left)
			}
			d2.stop(t)
			if recs := runRecords(t, w.dir); len(recs) != 0 {
				t.Errorf("runs.json after every answer: %v", recs)
			}
			pollUntil(t, "the containers removed", 30*time.Second, func() bool { return len(w.containers(ctx)) == 0 })
		})
	}
}

// leftovers are the bot's messages still in the chat that are neither a
// final answer nor the startup message: placeholders and progress
// messages that should have been deleted.
func leftovers(msgs []telegramtest.Message) []string {
	var out []string
	for _, m := range msgs {
		if m.Deleted || m.ReplyTo == 0 || strings.HasPrefix(m.Text, "done ·") || strings.HasPrefix(m.Text, "error ·") {
			continue
		}
		out = append(out, m.Text)
	}
	return out
}

// runRecords reads the instance's runs.json (empty when there is none).
func runRecords(t *testing.T, dir string) map[string]json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "runs.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var recs map[string]json.RawMessage
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatalf("runs.json: %v\n%s", err, data)
	}
	return recs
}

// TestMessageDuringDrainIsKept: a message that arrives while the bridge
// drains is kept for the next bridge before its update is confirmed, even
// when Telegram refuses the placeholder that says so; after the restart it
// runs and is answered once.
func TestMessageDuringDrainIsKept(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{top: "drain = \"wait\"\ndrain_timeout = \"8s\""})
	w.cleanupVolumes()
	d := w.start()
	first := w.tg.UserSays(groupChat, alice, "first fake:sleep=5s fake:delay=300ms")
	progress := w.working(groupChat, first.MessageID)
	d.cmd.Process.Signal(syscall.SIGTERM)
	w.waitFor("the drain to start", 30*time.Second, func(s *telegramtest.Snapshot) bool {
		return strings.Contains(findMessage(s.BotMessages(groupChat), progress.MessageID).Text, "waits up to")
	})
	w.tg.FailNext("sendMessage", 6, 500, "Internal Server Error", 0)
	late := w.tg.UserSays(groupChat, alice, "sent during the drain")
	w.waitFor("the late message confirmed", 30*time.Second, func(s *telegramtest.Snapshot) bool {
		return s.Acked(late.UpdateID)
	})
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the daemon did not stop")
	}
	if recs := runRecords(t, w.dir); len(recs) != 1 {
		t.Errorf("runs.json after the drain: %v, want the late message's record", recs)
	}
	w.start()
	if f := w.finalReply(groupChat, late.MessageID, 2*time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
		t.Errorf("the late message's answer = %q", f.Text)
	}
	w.waitFor("no placeholder or progress message left", time.Minute, func(s *telegramtest.Snapshot) bool {
		return len(leftovers(s.BotMessages(groupChat))) == 0
	})
	time.Sleep(time.Second) // a second answer would land now
	for _, m := range []telegramtest.Sent{first, late} {
		if n := w.finals(groupChat, m.MessageID); n != 1 {
			t.Errorf("message %d: %d final answers, want 1", m.MessageID, n)
		}
	}
}
