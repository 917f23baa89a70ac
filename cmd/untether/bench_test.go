package main

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkMessageToAnswer measures, over b.N runs of the fake claude in
// real containers (make bench runs 20), the time from getUpdates serving
// the user's message to the server receiving the first progress message,
// and to it receiving the final answer. Runs go one after another in one
// private chat, each sent once the chat's 1 message/s pace allows a send,
// so the first-message latency is the bridge's own.
func BenchmarkMessageToAnswer(b *testing.B) {
	w := newWorld(b, worldOptions{defaultProject: true})
	w.cleanupVolumes()
	w.start()
	chat := alice.ID
	var toProgress, toFinal []time.Duration

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent := w.tg.UserSays(chat, alice, fmt.Sprintf("benchmark message %d", i))
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
		toFinal = append(toFinal, final.SentAt.Sub(served))
		// Let the private chat's pace (1 message/s) pass before the next run.
		time.Sleep(time.Until(lastBotSend(w, chat).Add(1100 * time.Millisecond)))
	}
	b.StopTimer()

	p := func(ds []time.Duration, q float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[int(q*float64(len(s)-1)+0.5)]) / float64(time.Millisecond)
	}
	b.ReportMetric(p(toProgress, 0.5), "progress-p50-ms")
	b.ReportMetric(p(toProgress, 0.95), "progress-p95-ms")
	b.ReportMetric(p(toFinal, 0.5), "final-p50-ms")
	b.ReportMetric(p(toFinal, 0.95), "final-p95-ms")
	b.ReportMetric(0, "ns/op")
}

func lastBotSend(w *world, chat int64) time.Time {
	var last time.Time
	for _, m := range w.tg.BotMessages(chat) {
		if m.SentAt.After(last) {
			last = m.SentAt
		}
		for _, e := range m.Edits {
			if e.At.After(last) {
				last = e.At
			}
		}
		if m.Deleted && m.DeletedAt.After(last) {
			last = m.DeletedAt
		}
	}
	return last
}
