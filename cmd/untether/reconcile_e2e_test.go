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
	w := newWorld(t, worldOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mine := "untether-" + w.instance + "-leftover"
	theirs := "untether-other" + w.instance + "-leftover"
	for _, c := range []struct{ name, instance string }{{mine, w.instance}, {theirs, "other" + w.instance}} {
		if _, err := podmanSvc.Podman(ctx, "create", "--name", c.name,
			"--label", "untether.instance="+c.instance, "--label", "untether.run=deadbeef",
			"--label", fmt.Sprintf("untether.chat=%d", groupChat), testImage, "claude"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { podmanSvc.Podman(context.Background(), "rm", "-f", mine, theirs) })

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
	names, err := podmanSvc.Podman(ctx, "ps", "-a", "--format", "{{.Names}}")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(names), mine) {
		t.Errorf("this instance's leftover container is still there")
	}
	if !strings.Contains(string(names), theirs) {
		t.Errorf("another instance's container was removed")
	}
	out, _ = w.untether("ps", "--config", w.configPath)
	if !strings.Contains(out, "no runs of instance "+w.instance) {
		t.Errorf("ps after reconcile:\n%s", out)
	}
}
