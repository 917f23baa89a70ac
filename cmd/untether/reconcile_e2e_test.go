package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// TestLeftoverContainersAreReconciled: at start, the instance removes the
// containers it left behind and tells their chats; another instance's
// container is never touched. `untether ps` lists only this instance.
func TestLeftoverContainersAreReconciled(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const forum, topic = int64(-1003000000077), int64(42)
	w.tg.AddChat(telegramtest.Chat{ID: forum, Type: "supergroup", IsForum: true, Title: "forum"})
	mine := "untether-" + w.instance + "-leftover"
	inTopic := "untether-" + w.instance + "-leftover-topic"
	theirs := "untether-other" + w.instance + "-leftover"
	t.Cleanup(func() { podmanSvc.Podman(context.Background(), "rm", "--force", "--ignore", mine, inTopic, theirs) })
	for _, c := range []struct{ name, instance, run, chat string }{
		{mine, w.instance, "deadbeef", fmt.Sprint(groupChat)},
		{inTopic, w.instance, "feedf00d", fmt.Sprint(forum)},
		{theirs, "other" + w.instance, "deadbeef", fmt.Sprint(groupChat)},
	} {
		args := []string{"create", "--name", c.name, "--label", "untether.instance=" + c.instance,
			"--label", "untether.run=" + c.run, "--label", "untether.chat=" + c.chat}
		if c.name == inTopic {
			args = append(args, "--label", fmt.Sprintf("untether.topic=%d", topic))
		}
		if _, err := podmanSvc.Podman(ctx, append(args, testImage, "claude")...); err != nil {
			t.Fatal(err)
		}
	}

	out, err := w.untether("ps", "--config", w.configPath)
	if err != nil || !strings.Contains(out, mine) || strings.Contains(out, theirs) {
		t.Errorf("ps before start (err %v):\n%s", err, out)
	}

	w.start()
	w.waitFor("the chat to hear about the stopped run", 30*time.Second, func(s *telegramtest.Snapshot) bool {
		for _, m := range s.BotMessages(groupChat) {
			if strings.Contains(m.Text, "restarted while a run was in progress (run deadbeef)") {
				return true
			}
		}
		return false
	})
	w.waitFor("the forum topic to hear about its stopped run", 30*time.Second, func(s *telegramtest.Snapshot) bool {
		for _, m := range s.BotMessages(forum) {
			if strings.Contains(m.Text, "(run feedf00d)") {
				if m.ThreadID != topic {
					t.Errorf("the stopped run's notice went to topic %d, want %d", m.ThreadID, topic)
				}
				return true
			}
		}
		return false
	})
	names, err := podmanSvc.Podman(ctx, "ps", "-a", "--format", "{{.Names}}")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(names), mine) || strings.Contains(string(names), inTopic) {
		t.Errorf("this instance's leftover containers are still there:\n%s", names)
	}
	if !strings.Contains(string(names), theirs) {
		t.Errorf("another instance's container was removed")
	}
	out, _ = w.untether("ps", "--config", w.configPath)
	if !strings.Contains(out, "no runs of instance "+w.instance) {
		t.Errorf("ps after reconcile:\n%s", out)
	}
}
