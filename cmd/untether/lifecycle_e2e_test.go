package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// sigterm stops the daemon with SIGTERM and returns how long it took.
func (d *daemon) sigterm(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not stop within 30 s of SIGTERM")
	}
	return time.Since(start)
}

// finals counts the final answers to userMsg.
func (w *world) finals(chat, userMsg int64) int {
	n := 0
	for _, m := range w.tg.BotMessages(chat) {
		if m.ReplyTo == userMsg && (strings.HasPrefix(m.Text, "done ·") || strings.HasPrefix(m.Text, "error ·")) {
			n++
		}
	}
	return n
}

// containerState is the podman state (running, exited, ...) of the
// world's only container, "" when there is none.
func (w *world) containerState(ctx context.Context) string {
	w.t.Helper()
	names := w.containers(ctx)
	if len(names) != 1 {
		return strings.Join(names, ",")
	}
	out, err := podmanSvc.Podman(ctx, "inspect", "--format", "{{.State.Status}}", names[0])
	if err != nil {
		w.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestDetachedRunSurvivesRestart: SIGTERM mid-run with drain = "detach"
// exits at once and leaves the container running; the next daemon of the
// instance keeps editing the same progress message and delivers exactly one
// answer, also when the run ended while no daemon was up.
func TestDetachedRunSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, endsWhileDown := range []bool{false, true} {
		name := "reattach while it runs"
		if endsWhileDown {
			name = "run ends while no daemon is up"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, worldOptions{top: `drain = "detach"`})
			w.cleanupVolumes()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			d := w.start()
			msg := w.tg.UserSays(groupChat, alice, "a long job fake:sleep=4s fake:delay=300ms")
			progress := w.working(groupChat, msg.MessageID)

			took := d.sigterm(t)
			if took > 5*time.Second {
				t.Errorf("the daemon took %v to exit with drain = detach", took)
			}
			t.Logf("SIGTERM to exit with a run detached: %v", took.Round(time.Millisecond))
			if state := w.containerState(ctx); state != "running" {
				t.Fatalf("container after the drain: %q, want running", state)
			}
			pm := findMessage(w.tg.BotMessages(groupChat), progress.MessageID)
			if !strings.Contains(pm.Text, "this run carries on") {
				t.Errorf("progress message after the drain = %q", pm.Text)
			}
			editsBefore := len(pm.Edits)
			if endsWhileDown {
				pollUntil(t, "the container to exit", time.Minute, func() bool { return w.containerState(ctx) == "exited" })
			}

			w.start()
			final := w.finalReply(groupChat, msg.MessageID, time.Minute)
			if !strings.HasPrefix(final.Text, "done · claude") || !strings.Contains(final.Text, "Done. Created hello.txt.") {
				t.Errorf("final answer = %q", final.Text)
			}
			w.waitFor("the progress message deleted", 30*time.Second, func(s *telegramtest.Snapshot) bool {
				return findMessage(s.BotMessages(groupChat), progress.MessageID).Deleted
			})
			pm = findMessage(w.tg.BotMessages(groupChat), progress.MessageID)
			if !endsWhileDown && len(pm.Edits) <= editsBefore {
				t.Errorf("the new daemon never edited the progress message (%d edits before, %d after)", editsBefore, len(pm.Edits))
			}
			time.Sleep(500 * time.Millisecond) // a second answer would land now
			if n := w.finals(groupChat, msg.MessageID); n != 1 {
				t.Errorf("%d final answers, want 1", n)
			}
			if n := len(w.engineCalls()); n != 1 {
				t.Errorf("engine ran %d times, want 1", n)
			}
			pollUntil(t, "the container removed", 30*time.Second, func() bool { return len(w.containers(ctx)) == 0 })
		})
	}
}

func findMessage(msgs []telegramtest.Message, id int64) telegramtest.Message {
	for _, m := range msgs {
		if m.MessageID == id {
			return m
		}
	}
	return telegramtest.Message{}
}

// TestQueuedMessageRunsAfterRestart: a message waiting behind a run when the
// bridge stops runs after the restart instead of being lost.
func TestQueuedMessageRunsAfterRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{top: `drain = "kill"`})
	w.cleanupVolumes()
	d := w.start()
	first := w.tg.UserSays(groupChat, alice, "first fake:sleep=30s")
	w.working(groupChat, first.MessageID)
	second := w.tg.UserSays(groupChat, alice, "second")
	w.reply(groupChat, second.MessageID, "queued · claude · 1 ahead")
	d.sigterm(t)
	if f := w.finalReply(groupChat, first.MessageID, time.Second); !strings.Contains(f.Text, "shutting down") {
		t.Errorf("killed run's final = %q", f.Text)
	}
	w.start()
	if f := w.finalReply(groupChat, second.MessageID, time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
		t.Errorf("queued message's final after the restart = %q", f.Text)
	}
	if n := len(w.engineCalls()); n != 2 {
		t.Errorf("engine ran %d times, want 2", n)
	}
}

// TestMessagesMissedWhileOffline: a message older than missed_after when
// the bridge comes back is answered "missed", once, and not run.
func TestMessagesMissedWhileOffline(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{telegram: `missed_after = "2s"`})
	w.cleanupVolumes()
	d := w.start()
	d.kill()
	old := w.tg.UserSays(groupChat, alice, "sent while the bridge is down")
	time.Sleep(3 * time.Second)
	w.start()
	fresh := w.tg.UserSays(groupChat, alice, "sent once it is back")
	w.reply(groupChat, old.MessageID, "Missed while offline")
	w.finalReply(groupChat, fresh.MessageID, time.Minute)
	if n := len(w.engineCalls()); n != 1 {
		t.Errorf("engine ran %d times, want 1 (the fresh message only)", n)
	}
}

// TestKillNineUnderLoadAnswersEveryMessageOnce: 20 crashes at random
// moments while messages keep coming (spread over four groups, so that
// Telegram's 20 messages a minute per group leave room for the answers);
// every message is answered exactly once and nothing is left behind.
func TestKillNineUnderLoadAnswersEveryMessageOnce(t *testing.T) {
	t.Parallel()
	groups := []int64{-1001000000011, -1001000000012, -1001000000013}
	w := newWorld(t, worldOptions{maxRuns: 8, moreGroups: groups, telegram: `session_mode = "stateless"`})
	w.cleanupVolumes()
	chats := append([]int64{groupChat}, groups...)
	rng := rand.New(rand.NewPCG(1, 2))
	type sent struct{ chat, msg int64 }
	var all []sent
	for cycle := range 20 {
		d := w.start()
		chat := chats[cycle%len(chats)]
		m := w.tg.UserSays(chat, alice, fmt.Sprintf("cycle %d fake:delay=%dms", cycle, 50+rng.IntN(200)))
		all = append(all, sent{chat, m.MessageID})
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		d.kill()
	}
	w.start()
	for _, s := range all {
		w.finalReply(s.chat, s.msg, 3*time.Minute)
	}
	time.Sleep(time.Second) // a duplicate would land now
	for _, s := range all {
		if n := w.finals(s.chat, s.msg); n != 1 {
			t.Errorf("chat %d message %d got %d final answers", s.chat, s.msg, n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pollUntil(t, "every container removed", time.Minute, func() bool { return len(w.containers(ctx)) == 0 })
	if n := len(w.engineCalls()); n < len(all) {
		t.Errorf("engine ran %d times for %d messages", n, len(all))
	}
	left := 0
	for _, c := range chats {
		for _, m := range w.tg.BotMessages(c) {
			if isProgress(m.Text) && !m.Deleted {
				left++
			}
		}
	}
	// A crash between Telegram accepting a progress message and the bridge
	// recording its id leaves that message behind; the run itself is not
	// affected. Report it so a regression that makes it common shows.
	t.Logf("progress messages left behind by crashes: %d", left)
}

// TestTwoInstancesSideBySide: staging and dev, two bots and two configs on
// one host, both busy: no crosstalk in answers, state, containers or
// volumes; each one's ps and startup reconciliation ignore the other's.
func TestTwoInstancesSideBySide(t *testing.T) {
	t.Parallel()
	staging := newWorld(t, worldOptions{})
	dev := newWorld(t, worldOptions{})
	staging.cleanupVolumes()
	dev.cleanupVolumes()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	staging.start()
	dd := dev.start()

	var sMsgs, dMsgs []int64
	for i := range 3 {
		sMsgs = append(sMsgs, staging.tg.UserSays(groupChat, alice, fmt.Sprintf("staging %d fake:sleep=2s", i)).MessageID)
		dMsgs = append(dMsgs, dev.tg.UserSays(groupChat, alice, fmt.Sprintf("dev %d fake:sleep=2s", i)).MessageID)
	}
	pollUntil(t, "both instances to run", time.Minute, func() bool {
		return len(staging.containers(ctx)) > 0 && len(dev.containers(ctx)) > 0
	})
	sNames, dNames := staging.containers(ctx), dev.containers(ctx)
	if len(sNames) == 0 || len(dNames) == 0 {
		t.Fatalf("containers: staging %v, dev %v", sNames, dNames)
	}
	for _, n := range sNames {
		if !strings.HasPrefix(n, "untether-"+staging.instance+"-") {
			t.Errorf("staging container %q lacks its instance prefix", n)
		}
	}
	ps, err := staging.untether("ps", "--config", staging.configPath)
	if err != nil {
		t.Fatalf("ps: %v\n%s", err, ps)
	}
	for _, n := range dNames {
		if strings.Contains(ps, n) {
			t.Errorf("staging's ps shows dev's container %s:\n%s", n, ps)
		}
	}

	// Dev crashes and restarts mid-run: its reconciliation leaves staging's
	// containers alone and staging's runs finish.
	dd.kill()
	dev.start()
	for _, id := range sMsgs {
		if f := staging.finalReply(groupChat, id, time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
			t.Errorf("staging answer = %q", f.Text)
		}
	}
	for _, id := range dMsgs {
		dev.finalReply(groupChat, id, time.Minute)
	}
	for _, w := range []*world{staging, dev} {
		other := dev
		if w == dev {
			other = staging
		}
		if n := len(w.tg.Calls()); n == 0 {
			t.Errorf("%s server saw no calls", w.instance)
		}
		for _, c := range w.calls("sendMessage") {
			if s, _ := c.Params["text"].(string); strings.Contains(s, other.instance) {
				t.Errorf("%s's bot sent a message about %s: %q", w.instance, other.instance, s)
			}
		}
		for _, f := range []string{"last_update_id.json", "sessions.json", "untether.toml.lock", "status.json"} {
			if _, err := os.Stat(filepath.Join(w.dir, f)); err != nil {
				t.Errorf("%s: %v", w.instance, err)
			}
		}
		out, err := podmanSvc.Podman(ctx, "volume", "ls", "-q", "--filter", "label=untether.instance="+w.instance)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range strings.Fields(string(out)) {
			if !strings.HasPrefix(v, "untether-"+w.instance+"-") {
				t.Errorf("volume %s labelled %s", v, w.instance)
			}
		}
	}
	if s, d := len(staging.engineCalls()), len(dev.engineCalls()); s != 3 || d < 3 {
		t.Errorf("engine runs: staging %d (want 3), dev %d (want at least 3)", s, d)
	}
}
