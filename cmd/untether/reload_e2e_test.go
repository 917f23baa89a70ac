package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// botSaid waits for a message of the bot in chat that contains want.
func (w *world) botSaid(chat int64, want string, limit time.Duration) telegramtest.Message {
	w.t.Helper()
	var got telegramtest.Message
	w.waitFor(fmt.Sprintf("the bot to say %q", want), limit, func(s *telegramtest.Snapshot) bool {
		for _, m := range s.BotMessages(chat) {
			if strings.Contains(m.Text, want) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// TestLiveConfigE2E: adding a project to the config file makes its chat
// work without a restart, while a run in flight goes on and answers once;
// a broken edit keeps the running config and says why.
func TestLiveConfigE2E(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{telegram: fmt.Sprintf("chat_id = %d", groupChat)})
	w.cleanupVolumes()
	const second = int64(-1001000000222)
	w.tg.AddChat(telegramtest.Chat{ID: second, Type: "supergroup", Title: "second"})
	d := w.start()

	long := w.tg.UserSays(groupChat, alice, "think it over fake:sleep=8s")
	w.working(groupChat, long.MessageID)
	early := w.tg.UserSays(second, alice, "anyone there?")
	w.reply(second, early.MessageID, "This chat is not linked to a project")

	dir := filepath.Join(w.dir, "second-project")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	appendConfig(t, w, fmt.Sprintf("\n[projects.second]\npath = %q\nchat_id = %d\n", dir, second))
	w.botSaid(groupChat, "✅ Config reloaded · projects: second, test-claude", time.Minute)

	later := w.tg.UserSays(second, alice, "hello from the new project")
	if final := w.finalReply(second, later.MessageID, time.Minute); !strings.HasPrefix(final.Text, "done · claude") {
		t.Fatalf("the new project's answer = %q", final.Text)
	}
	if final := w.finalReply(groupChat, long.MessageID, time.Minute); !strings.HasPrefix(final.Text, "done · claude") {
		t.Fatalf("the run in flight ended with %q", final.Text)
	}

	appendConfig(t, w, "\nbogus_key = 1\n")
	refused := w.botSaid(groupChat, "⚠️ The config was not reloaded: it has errors; the running config stays.", time.Minute)
	if !strings.Contains(refused.Text, "bogus_key") {
		t.Errorf("the refusal does not name the problem: %q", refused.Text)
	}
	still := w.tg.UserSays(second, alice, "still there?")
	w.finalReply(second, still.MessageID, time.Minute)

	// Each message was answered once.
	for chat, msg := range map[int64]int64{groupChat: long.MessageID, second: later.MessageID} {
		n := 0
		for _, m := range w.tg.BotMessages(chat) {
			if m.ReplyTo == msg && strings.HasPrefix(m.Text, "done ·") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("message %d in chat %d got %d answers", msg, chat, n)
		}
	}
	if out := d.out.String(); !strings.Contains(out, "config reloaded") || !strings.Contains(out, "config not reloaded") {
		t.Errorf("the log does not tell the reloads:\n%s", tail(out, 3000))
	}
}
