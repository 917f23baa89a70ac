package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// footerRe reads the resource footer of a final answer.
var footerRe = regexp.MustCompile(`⚙ ([0-9.]+) MiB / ([0-9.]+ [KMG]iB) peak · ([0-9.]+) s CPU · (\S+)`)

// TestFooterShowsWhatTheContainerUsed: an engine that holds 160 MiB gets a
// footer whose peak memory is within 10 % of it, with its limit, CPU time
// and wall time; with footer = false there is none.
func TestFooterShowsWhatTheContainerUsed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{memory: "256MiB"})
	w.cleanupVolumes()
	w.start()

	const hogMiB = 160
	sent := w.tg.UserSays(groupChat, alice, "hold some memory fake:hog="+strconv.Itoa(hogMiB))
	final := w.finalReply(groupChat, sent.MessageID, time.Minute)
	t.Logf("final answer: %q", final.Text)
	m := footerRe.FindStringSubmatch(final.Text)
	if m == nil {
		t.Fatalf("final answer has no resource footer: %q", final.Text)
	}
	peak, _ := strconv.ParseFloat(m[1], 64)
	if peak < hogMiB*0.9 || peak > hogMiB*1.1 {
		t.Errorf("peak memory %v MiB, want within 10%% of %d MiB: %q", peak, hogMiB, final.Text)
	}
	if m[2] != "256 MiB" {
		t.Errorf("memory limit %q, want 256 MiB", m[2])
	}
	if cpu, _ := strconv.ParseFloat(m[3], 64); cpu <= 0 || cpu > 30 {
		t.Errorf("CPU time %v s is not plausible", cpu)
	}
	if wall := m[4]; wall != "2s" && wall != "3s" && wall != "4s" && wall != "5s" {
		t.Errorf("wall time %q, want about the 2 s the hog holds", wall)
	}
}

func TestFooterOff(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{sandbox: "footer = false"})
	w.cleanupVolumes()
	w.start()
	sent := w.tg.UserSays(groupChat, alice, "hello")
	final := w.finalReply(groupChat, sent.MessageID, time.Minute)
	if strings.Contains(final.Text, "⚙") {
		t.Errorf("footer = false, yet the answer has one: %q", final.Text)
	}
}

// TestStallNoticeComesAndGoes: an engine silent past stall_after gets the
// notice on its progress message, with its container's CPU and memory;
// the notice goes when the engine prints again.
func TestStallNoticeComesAndGoes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{sandbox: `stall_after = "2500ms"`})
	w.cleanupVolumes()
	w.start()

	sent := w.tg.UserSays(groupChat, alice, "think hard fake:sleep=6s fake:delay=1s")
	w.finalReply(groupChat, sent.MessageID, time.Minute)
	progress, ok := progressMessage(w.tg.BotMessages(groupChat), sent.MessageID)
	if !ok {
		t.Fatal("no progress message")
	}
	notice := regexp.MustCompile(`⏳ no output for \d+s · CPU \d+% · [0-9.]+ [KM]iB`)
	stalled, resumed := -1, -1
	for i, e := range progress.Edits {
		switch {
		case notice.MatchString(e.Text):
			if stalled < 0 {
				stalled = i
			}
		case stalled >= 0 && resumed < 0 && !strings.Contains(e.Text, "⏳"):
			resumed = i
		}
	}
	if stalled < 0 {
		t.Fatalf("no edit carries the stall notice: %+v", editTexts(progress.Edits))
	}
	if resumed < 0 {
		t.Errorf("the stall notice stayed once the engine printed again: %+v", editTexts(progress.Edits))
	}
}

func editTexts(es []telegramtest.Edit) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Text
	}
	return out
}

// TestContainerKilledFromOutside: a run whose container is killed or
// removed behind the bridge's back ends within 10 s, saying so.
func TestContainerKilledFromOutside(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"kill", []string{"kill"}, "stopped from outside the bridge (signal 9)"},
		{"rm", []string{"rm", "--force"}, "removed from outside the bridge"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, worldOptions{})
			w.cleanupVolumes()
			w.start()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			sent := w.tg.UserSays(groupChat, alice, "take forever fake:sleep=5m")
			var name string
			pollUntil(t, "the run's container", 30*time.Second, func() bool { return w.hasContainer(ctx, &name) })
			time.Sleep(time.Second) // past the first readings of its usage
			if out, err := podmanSvc.Podman(ctx, append(tt.args, name)...); err != nil {
				t.Fatalf("podman %v: %v\n%s", tt.args, err, out)
			}
			killed := time.Now()
			final := w.finalReply(groupChat, sent.MessageID, 30*time.Second)
			took := time.Since(killed)
			t.Logf("the run ended %v after podman %v", took.Round(time.Millisecond), tt.args)
			if took > 10*time.Second {
				t.Errorf("the run ended %v after its container was killed, want within 10 s", took)
			}
			if !strings.HasPrefix(final.Text, "error · claude") || !strings.Contains(final.Text, tt.want) {
				t.Errorf("answer = %q, want an error saying %q", final.Text, tt.want)
			}
			if strings.Contains(final.Text, "Out of memory") {
				t.Errorf("a kill from outside is reported as out of memory: %q", final.Text)
			}
		})
	}
}
