package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

const forumChat = int64(-1001000000077)

// reply waits for the bot's reply to userMsg that contains want.
func (w *world) reply(chat, userMsg int64, want string) telegramtest.Message {
	w.t.Helper()
	var got telegramtest.Message
	w.waitFor(fmt.Sprintf("a reply to message %d with %q", userMsg, want), time.Minute, func(s *telegramtest.Snapshot) bool {
		for _, m := range s.BotMessages(chat) {
			if m.ReplyTo == userMsg && strings.Contains(m.Text, want) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// working waits until the progress message of userMsg shows a running
// run, and returns it.
func (w *world) working(chat, userMsg int64) telegramtest.Message {
	w.t.Helper()
	var got telegramtest.Message
	w.waitFor(fmt.Sprintf("message %d to run", userMsg), time.Minute, func(s *telegramtest.Snapshot) bool {
		for _, m := range s.BotMessages(chat) {
			if m.ReplyTo == userMsg && strings.HasPrefix(m.Text, "working ·") {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

var cancelData = regexp.MustCompile(`"callback_data":"(cancel:[0-9a-f]+)"`)

func TestChatCommandsE2E(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{telegram: fmt.Sprintf("chat_id = %d", groupChat)})
	topicDir := filepath.Join(w.dir, "topic-project")
	if err := os.Mkdir(topicDir, 0o755); err != nil {
		t.Fatal(err)
	}
	appendConfig(t, w, fmt.Sprintf("\n[projects.topicx]\npath = %q\nchat_id = %d\ntopic_id = 7\n", topicDir, forumChat))
	w.tg.AddChat(telegramtest.Chat{ID: forumChat, Type: "supergroup", IsForum: true, Title: "forum"})
	w.cleanupVolumes()
	w.start()

	// The startup message and the command menu.
	w.waitFor("the startup message", 30*time.Second, func(s *telegramtest.Snapshot) bool {
		for _, m := range s.BotMessages(groupChat) {
			if strings.HasPrefix(m.Text, "untether dev started · engines: amp, claude, codex, gemini, opencode, pi · projects: test-claude, topicx") {
				return true
			}
		}
		return false
	})
	var menu []string
	for _, c := range w.tg.Commands() {
		menu = append(menu, c.Command)
	}
	for _, want := range []string{"cancel", "new", "agent", "model", "status", "projects", "help", "claude", "codex", "topicx"} {
		if !slices.Contains(menu, want) {
			t.Errorf("command menu %q lacks %q", menu, want)
		}
	}

	help := w.tg.UserSays(groupChat, alice, "/help@untether_test_bot")
	w.reply(groupChat, help.MessageID, "/cancel — Stop a run")
	projects := w.tg.UserSays(groupChat, alice, "/projects")
	w.reply(groupChat, projects.MessageID, "• test-claude · claude · this chat\n• topicx · claude · chat -1001000000077, topic 7")

	// A long run: /status shows its container's use; the cancel button of
	// a stranger does nothing, alice's stops it.
	long := w.tg.UserSays(groupChat, alice, "think hard fake:sleep=60s")
	progress := w.working(groupChat, long.MessageID)
	status := w.tg.UserSays(groupChat, alice, "/status")
	st := w.reply(groupChat, status.MessageID, "bridge-wide")
	if !regexp.MustCompile(`claude · test-claude · [0-9a-f]{12} · running \d+s · step \d+ · memory [0-9.]+ (KiB|MiB) of 256 MiB · CPU \d+%`).MatchString(st.Text) {
		t.Errorf("/status = %q", st.Text)
	}
	m := cancelData.FindStringSubmatch(string(progress.ReplyMarkup))
	if m == nil {
		t.Fatalf("progress message has no cancel button: %s", progress.ReplyMarkup)
	}
	w.tg.PressButton(groupChat, progress.MessageID, mallory, m[1])
	w.tg.PressButton(groupChat, progress.MessageID, alice, m[1])
	final := w.finalReply(groupChat, long.MessageID, time.Minute)
	if !strings.HasPrefix(final.Text, "error · claude") || !strings.Contains(final.Text, "Cancelled.") {
		t.Errorf("final after the cancel button = %q", final.Text)
	}
	answers := w.calls("answerCallbackQuery")
	if len(answers) != 2 || answers[0].Params["text"] != "Only the bridge's allowed users can do that." || answers[1].Params["text"] != "Cancelling…" {
		t.Errorf("callback answers = %+v", answers)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pollUntil(t, "the cancelled run's container to go", 30*time.Second, func() bool { return len(w.containers(ctx)) == 0 })

	// /cancel replying to the progress message.
	second := w.tg.UserSays(groupChat, alice, "another long one fake:sleep=60s")
	p2 := w.working(groupChat, second.MessageID)
	w.tg.UserSays(groupChat, alice, "/cancel", telegramtest.ReplyTo(p2.MessageID))
	if f := w.finalReply(groupChat, second.MessageID, time.Minute); !strings.Contains(f.Text, "Cancelled.") {
		t.Errorf("final after /cancel = %q", f.Text)
	}

	// /model then a run: the engine gets the model; /new: no resume.
	model := w.tg.UserSays(groupChat, alice, "/model claude-opus-4-1")
	w.reply(groupChat, model.MessageID, "claude here now uses claude-opus-4-1")
	first := w.tg.UserSays(groupChat, alice, "with a model")
	w.finalReply(groupChat, first.MessageID, time.Minute)
	fresh := w.tg.UserSays(groupChat, alice, "/new")
	w.reply(groupChat, fresh.MessageID, "New session")
	after := w.tg.UserSays(groupChat, alice, "after new")
	w.finalReply(groupChat, after.MessageID, time.Minute)
	calls := w.engineCalls()
	if len(calls) < 2 {
		t.Fatalf("engine calls = %+v", calls)
	}
	withModel, afterNew := calls[len(calls)-2].Argv, calls[len(calls)-1].Argv
	if i := slices.Index(withModel, "--model"); i < 0 || withModel[i+1] != "claude-opus-4-1" {
		t.Errorf("argv after /model = %q", withModel)
	}
	if slices.Contains(afterNew, "--resume") {
		t.Errorf("argv after /new resumes: %q", afterNew)
	}

	// /agent sets the chat's engine; /<engine> and /<project> directives
	// pick them for one message.
	agent := w.tg.UserSays(groupChat, alice, "/agent codex")
	w.reply(groupChat, agent.MessageID, "This chat now uses codex.")
	viaAgent := w.tg.UserSays(groupChat, alice, "which engine")
	if f := w.finalReply(groupChat, viaAgent.MessageID, time.Minute); !strings.HasPrefix(f.Text, "done · codex") {
		t.Errorf("after /agent codex: %q", f.Text)
	}
	directed := w.tg.UserSays(groupChat, alice, "/claude /topicx\nwork over there")
	if f := w.finalReply(groupChat, directed.MessageID, time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
		t.Errorf("after /claude /topicx: %q", f.Text)
	}
	if c := w.engineCallsIn(topicDir); len(c) != 1 || c[0].Argv[0] != "claude" {
		t.Errorf("the /topicx directive ran in the topic project: %+v", c)
	}
	if c := w.engineCalls(); c[len(c)-1].Argv[0] != "codex" {
		t.Errorf("last run in the group's project: %q, want codex", c[len(c)-1].Argv)
	}
	show := w.tg.UserSays(groupChat, alice, "/agent")
	w.reply(groupChat, show.MessageID, "This chat uses codex. Engines: amp, claude, codex, gemini, opencode, pi.")

	// A forum topic routed to its own project: the answer stays in it.
	inTopic := w.tg.UserSays(forumChat, alice, "in the topic", telegramtest.InThread(7))
	tf := w.finalReply(forumChat, inTopic.MessageID, time.Minute)
	if tf.ThreadID != 7 {
		t.Errorf("final answer left topic 7: thread %d", tf.ThreadID)
	}
	if c := w.engineCallsIn(topicDir); len(c) != 2 {
		t.Errorf("the topic's project ran %d times, want 2", len(c))
	}
	for _, m := range w.tg.BotMessages(forumChat) {
		if m.ThreadID != 7 {
			t.Errorf("bot message outside topic 7: %+v", m)
		}
	}
}

// appendConfig adds text to the world's config before the daemon starts.
func appendConfig(t *testing.T, w *world, text string) {
	t.Helper()
	f, err := os.OpenFile(w.configPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
