package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// BenchmarkMessageToAnswer measures, over b.N runs of the fake claude in
// real containers (make bench runs 20), the time from getUpdates serving
// the user's message to the server receiving the first progress message,
// and to it receiving the final answer.
//
// fresh-groups sends each message in a group of its own (each routed to a
// project), where Telegram's pace (20 messages a minute, bursts allowed)
// never delays the answer: that is the bridge's and the container's own
// latency. private-chat sends them one after another in one private chat,
// the way a user works: there Telegram allows one message a second, so the
// final answer follows the progress message by at least that.
func BenchmarkMessageToAnswer(b *testing.B) {
	b.Run("fresh-groups", func(b *testing.B) { benchRuns(b, true, "") })
	b.Run("private-chat", func(b *testing.B) { benchRuns(b, false, "") })
}

// BenchmarkSandboxCost runs the same fake engine on the same message in a
// container and as a plain process (fresh groups, so Telegram's pace does
// not hide the difference): final-p50 minus final-p50 is what the sandbox
// costs a run.
func BenchmarkSandboxCost(b *testing.B) {
	b.Run("container", func(b *testing.B) { benchRuns(b, true, "") })
	b.Run("process", func(b *testing.B) { benchRuns(b, true, "process") })
}

func benchRuns(b *testing.B, fresh bool, backend string) {
	benchRunsWith(b, fresh, backend, false, "")
}

// benchRunsWith is benchRuns, with warm = true when warm (it then waits
// for every project's warm container before the first message), and
// directives added to every message.
func benchRunsWith(b *testing.B, fresh bool, backend string, warm bool, directives string) {
	groups := make([]int64, b.N)
	for i := range groups {
		groups[i] = -2000000 - int64(i)
	}
	o := worldOptions{defaultProject: true, moreGroups: groups, backend: backend}
	if warm {
		o.sandbox = "warm = true"
	}
	w := newWorld(b, o)
	if backend == "process" {
		w.env = []string{"PATH=" + fakeEngineDir(b) + ":" + os.Getenv("PATH")}
	}
	w.cleanupVolumes()
	w.start()
	if warm {
		w.readyWarmN(len(groups) + 1)
	}
	var toProgress, toEvent, toFinal []time.Duration

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		chat := alice.ID
		if fresh {
			chat = groups[i]
		}
		sent := w.tg.UserSays(chat, alice, fmt.Sprintf("benchmark message %d %s", i, directives))
		final := w.finalReply(chat, sent.MessageID, time.Minute)
		served, ok := w.tg.ServedAt(sent.UpdateID)
		if !ok {
			b.Fatalf("update %d never served", sent.UpdateID)
		}
		progress, ok := progressMessage(w.tg.BotMessages(chat), sent.MessageID)
		if !ok {
			b.Fatalf("no progress message for run %d", i)
		}
		toProgress = append(toProgress, progress.SentAt.Sub(served))
		// The first edit of the progress message follows the engine's first
		// event at once (edits wait only for the previous edit).
		if len(progress.Edits) > 0 {
			toEvent = append(toEvent, progress.Edits[0].At.Sub(served))
		}
		toFinal = append(toFinal, final.SentAt.Sub(served))
		if !fresh {
			// Let the chat's pace pass so the next progress message is not
			// delayed by it.
			time.Sleep(time.Until(lastBotSend(w, chat).Add(1200 * time.Millisecond)))
		}
	}
	b.StopTimer()

	b.ReportMetric(percentile(toProgress, 0.5), "progress-p50-ms")
	b.ReportMetric(percentile(toProgress, 0.95), "progress-p95-ms")
	if len(toEvent) > 0 {
		b.ReportMetric(percentile(toEvent, 0.5), "event-p50-ms")
		b.ReportMetric(percentile(toEvent, 0.95), "event-p95-ms")
	}
	b.ReportMetric(percentile(toFinal, 0.5), "final-p50-ms")
	b.ReportMetric(percentile(toFinal, 0.95), "final-p95-ms")
	b.ReportMetric(0, "ns/op")
}

// percentile of ds in milliseconds (nearest rank).
func percentile(ds []time.Duration, q float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1)+0.5)]) / float64(time.Millisecond)
}

func lastBotSend(w *world, chat int64) time.Time {
	var last time.Time
	for _, m := range w.tg.BotMessages(chat) {
		last = later(last, m.SentAt)
		for _, e := range m.Edits {
			last = later(last, e.At)
		}
		if m.Deleted {
			last = later(last, m.DeletedAt)
		}
	}
	return last
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// BenchmarkTelegramCallsPerRun measures the Telegram calls one run costs
// against how long it runs: the fake engine replays its 9-line stream with
// a delay between lines. The target is at most one edit per 2 s of run plus
// 3 calls (progress message, final answer, delete).
func BenchmarkTelegramCallsPerRun(b *testing.B) {
	for _, delay := range []time.Duration{250 * time.Millisecond, 750 * time.Millisecond, 1500 * time.Millisecond} {
		b.Run(fmt.Sprintf("delay-%v", delay), func(b *testing.B) { benchCalls(b, delay) })
	}
}

func benchCalls(b *testing.B, delay time.Duration) {
	groups := make([]int64, b.N)
	for i := range groups {
		groups[i] = -3000000 - int64(i)
	}
	w := newWorld(b, worldOptions{moreGroups: groups})
	w.cleanupVolumes()
	w.start()
	var calls, edits, budget, seconds []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent := w.tg.UserSays(groups[i], alice, fmt.Sprintf("run %d fake:delay=%v", i, delay))
		final := w.finalReply(groups[i], sent.MessageID, 2*time.Minute)
		progress, ok := progressMessage(w.tg.BotMessages(groups[i]), sent.MessageID)
		if !ok {
			b.Fatal("no progress message")
		}
		w.waitFor("the progress message deleted", time.Minute, func(s *telegramtest.Snapshot) bool {
			return findMessage(s.BotMessages(groups[i]), progress.MessageID).Deleted
		})
		n, e := 0, 0
		for _, c := range w.tg.Calls() {
			chat, _ := c.Params["chat_id"].(float64)
			if int64(chat) != groups[i] || c.ErrorCode != 0 {
				continue
			}
			switch c.Method {
			case "sendMessage", "deleteMessage":
				n++
			case "editMessageText":
				n++
				e++
			}
		}
		length := final.SentAt.Sub(progress.SentAt).Seconds()
		calls = append(calls, float64(n))
		edits = append(edits, float64(e))
		// One edit per 2 s window the run spans (started windows count).
		limit := math.Ceil(length/2) + 3
		budget = append(budget, limit)
		seconds = append(seconds, length)
		if float64(n) > limit {
			b.Errorf("run of %.1f s made %d calls, over the budget of %.0f", length, n, limit)
		}
	}
	b.StopTimer()
	b.ReportMetric(mean(seconds), "run-s")
	b.ReportMetric(mean(calls), "calls/run")
	b.ReportMetric(mean(edits), "edits/run")
	b.ReportMetric(mean(budget), "budget-calls")
	b.ReportMetric(0, "ns/op")
}

func mean(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

// BenchmarkApproval measures an interactive run's two latencies over b.N
// runs of the fake claude's control protocol (the real CLI's captured
// exchange) in real containers, each in a fresh group: from the bridge
// reading the engine's permission request to the request's message being
// accepted by Telegram (through the outbox), and from the bridge taking a
// button press to the answer being on the run's stdin (the last hop, into
// the container's FIFO, is sandbox/podman's BenchmarkLiveStdinWrite). Both
// are what the daemon logs for each request ("request shown", "request
// answered").
func BenchmarkApproval(b *testing.B) {
	groups := make([]int64, b.N)
	for i := range groups {
		groups[i] = -4000000 - int64(i)
	}
	w := newWorld(b, worldOptions{defaultProject: true, moreGroups: groups, top: "approvals = true"})
	w.cleanupVolumes()
	d := w.start()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent := w.tg.UserSays(groups[i], alice, fmt.Sprintf("approval benchmark %d", i))
		ask := w.askMessage(groups[i], sent.MessageID, "🔐 claude asks to run Bash", time.Minute)
		w.press(ask, "Approve")
		if final := w.finalReply(groups[i], sent.MessageID, time.Minute); !strings.HasPrefix(final.Text, "done ·") {
			b.Fatalf("run %d answered %q", i, final.Text)
		}
	}
	b.StopTimer()
	shown, answered := loggedLatencies(d.out.String(), "request shown"), loggedLatencies(d.out.String(), "request answered")
	if len(shown) != b.N || len(answered) != b.N {
		b.Fatalf("logged %d shown and %d answered requests for %d runs", len(shown), len(answered), b.N)
	}
	b.ReportMetric(percentile(shown, 0.5), "shown-p50-ms")
	b.ReportMetric(percentile(shown, 0.95), "shown-p95-ms")
	b.ReportMetric(percentile(answered, 0.5), "to-stdin-p50-ms")
	b.ReportMetric(percentile(answered, 0.95), "to-stdin-p95-ms")
	b.ReportMetric(0, "ns/op")
}

// loggedLatencies reads the latency= of the daemon's log lines msg.
func loggedLatencies(log, msg string) []time.Duration {
	var out []time.Duration
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="`+msg+`"`) {
			continue
		}
		_, v, ok := strings.Cut(line, " latency=")
		if !ok {
			continue
		}
		v, _, _ = strings.Cut(v, " ")
		if d, err := time.ParseDuration(v); err == nil {
			out = append(out, d)
		}
	}
	return out
}
