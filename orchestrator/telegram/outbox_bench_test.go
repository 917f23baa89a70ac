package telegram

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// BenchmarkOutboxFinalDelay measures, at Telegram's real limits, how long a
// final answer waits in the outbox while 50 runs (25 groups, 25 private
// chats, one run each) edit their progress messages every 2 s: the time from
// calling Send to its return. The chat's own pace is the floor: up to 1.1 s
// in a private chat that was just edited, nothing in a group with tokens to
// spare.
func BenchmarkOutboxFinalDelay(b *testing.B) {
	var groups, privates []time.Duration
	var refused int
	for range b.N {
		g, p, n := finalDelays(b)
		groups, privates, refused = append(groups, g...), append(privates, p...), refused+n
	}
	all := append(slices.Clone(groups), privates...)
	b.ReportMetric(ms(percentile(all, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(all, 95)), "p95-ms")
	b.ReportMetric(ms(percentile(all, 100)), "max-ms")
	b.ReportMetric(ms(percentile(groups, 95)), "group-p95-ms")
	b.ReportMetric(ms(percentile(privates, 95)), "private-p95-ms")
	b.ReportMetric(float64(refused), "429s")
}

// finalDelays runs the 50 runs once; it returns the delays of the final
// answers in groups and in private chats, and how many calls the server
// refused with 429.
func finalDelays(b *testing.B) (groups, privates []time.Duration, refused int) {
	srv := telegramtest.NewServer(telegramtest.Options{})
	defer srv.Close()
	c, err := New(Options{Token: srv.Token(), APIURL: srv.URL(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	type run struct {
		chat        int64
		start, life time.Duration
		parts       int
		delay       time.Duration
		err         error
		privateChat bool
	}
	runs := make([]*run, 50)
	for i := range runs {
		chat := int64(-5000 - i)
		if i%2 == 1 {
			chat = int64(5000 + i)
		}
		srv.AddChat(telegramtest.Chat{ID: chat})
		runs[i] = &run{chat: chat, privateChat: chat > 0, parts: 1 + i%2,
			start: time.Duration(rng.Int64N(int64(2 * time.Second))),
			life:  4*time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))}
	}
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Go(func() { r.delay, r.err = benchRun(c, r.chat, i, r.start, r.life, r.parts) })
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		b.Fatal(err)
	}
	for _, r := range runs {
		switch {
		case r.err != nil:
			b.Fatal(r.err)
		case r.privateChat:
			privates = append(privates, r.delay)
		default:
			groups = append(groups, r.delay)
		}
	}
	for _, call := range srv.Calls() {
		if call.ErrorCode == 429 {
			refused++
		}
	}
	return groups, privates, refused
}

// benchRun is one run; it returns how long the first part of its final
// answer took to send.
func benchRun(c *Client, chat int64, run int, start, life time.Duration, parts int) (time.Duration, error) {
	ctx := context.Background()
	wait := time.NewTimer(start)
	<-wait.C
	id, err := c.Send(ctx, orchestrator.Outgoing{ChatID: chat, Text: text(fmt.Sprintf("run %d starting", run))})
	if err != nil {
		return 0, err
	}
	end := time.NewTimer(life)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
editing:
	for step := 1; ; step++ {
		select {
		case <-tick.C:
			if err := c.Edit(ctx, chat, id, text(fmt.Sprintf("run %d step %d", run, step)), nil); err != nil {
				return 0, err
			}
		case <-end.C:
			break editing
		}
	}
	var delay time.Duration
	for part := range parts {
		sent := time.Now()
		if _, err := c.Send(ctx, orchestrator.Outgoing{ChatID: chat, Text: text(fmt.Sprintf("run %d part %d", run, part))}); err != nil {
			return 0, err
		}
		if part == 0 {
			delay = time.Since(sent)
		}
	}
	return delay, c.Delete(ctx, chat, id)
}

// percentile is the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100
	return s[max(i, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
