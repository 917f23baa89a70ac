package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// send sends s to chat and returns the message id.
func send(t testing.TB, c *Client, chat int64, s string) int64 {
	t.Helper()
	id, err := c.Send(context.Background(), orchestrator.Outgoing{ChatID: chat, Text: text(s)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// sendLater sends from a goroutine; the result comes on the channel.
func sendLater(c *Client, chat int64, s string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), orchestrator.Outgoing{ChatID: chat, Text: text(s)})
		done <- err
	}()
	return done
}

// queuedSends waits until the outbox holds n sends for chat, in flight
// excluded, so a test knows its goroutines' sends are queued.
func queuedSends(t testing.TB, c *Client, chat int64, n int) {
	t.Helper()
	waitQueued(t, c, chat, func(q *chatQueue) int { return len(q.sends) }, n)
}

// waitQueued waits until count says at least n writes of a kind are queued
// for chat.
func waitQueued(t testing.TB, c *Client, chat int64, count func(*chatQueue) int, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		c.out.mu.Lock()
		got := 0
		if q := c.out.chats[chat]; q != nil {
			got = count(q)
		}
		c.out.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued for chat %d, want %d", got, chat, n)
		}
		<-tick.C
	}
}

// flush closes the client, delivering what is queued.
func flush(t testing.TB, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// describe lists successful write calls as "method text|message_id".
func describe(cs []telegramtest.Call) []string {
	var out []string
	for _, c := range cs {
		switch c.Method {
		case "sendMessage", "editMessageText":
			out = append(out, fmt.Sprintf("%s %v", c.Method, c.Params["text"]))
		case "deleteMessage":
			out = append(out, fmt.Sprintf("%s %v", c.Method, c.Params["message_id"]))
		}
	}
	return out
}

func TestEditsCoalesceDuringAPause(t *testing.T) {
	t.Parallel()
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	id := send(t, c, group, "starting")
	srv.FailNext("editMessageText", 1, 429, "Too Many Requests: retry after 1", 1)
	if err := c.Edit(t.Context(), group, id, text("v0"), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, called("editMessageText", 429))
	for i := 1; i <= 10; i++ {
		if err := c.Edit(t.Context(), group, id, text(fmt.Sprintf("v%d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, c)
	edits := calls(srv, "editMessageText")
	if got := describe(edits); !slices.Equal(got, []string{"editMessageText v0", "editMessageText v10"}) {
		t.Fatalf("edit calls = %q, want the refused v0 then only v10", got)
	}
	if gap := edits[1].At.Sub(edits[0].Finished); gap < time.Second {
		t.Errorf("edit resent %v after the 429, before retry_after", gap)
	}
}

func TestSendsGoBeforeDeletesBeforeEdits(t *testing.T) {
	t.Parallel()
	srv := newServer(t, scaledLimits(false))
	c := newTestClient(t, srv, scaledPacing(), nil)
	m1 := send(t, c, group, "m1")
	m2 := send(t, c, group, "m2")
	srv.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 1", 1)
	a := sendLater(c, group, "A")
	waitFor(t, srv, called("sendMessage", 429))
	// The chat is paused: everything below waits in its queue.
	for _, err := range []error{
		c.Edit(t.Context(), group, m1, text("edit of m1"), nil),
		c.Edit(t.Context(), group, m2, text("edit of m2"), nil),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	deleted := make(chan error, 1)
	go func() { deleted <- c.Delete(t.Context(), group, m1) }() // waits for the deletion
	waitQueued(t, c, group, func(q *chatQueue) int { return len(q.deletes) }, 1)
	b := sendLater(c, group, "B")
	queuedSends(t, c, group, 2)
	for _, done := range []<-chan error{a, b, deleted} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	flush(t, c)
	var after []telegramtest.Call
	for _, call := range srv.Calls() {
		if call.ErrorCode == 0 && call.Method != "getMe" && call.Params["text"] != "m1" && call.Params["text"] != "m2" {
			after = append(after, call)
		}
	}
	want := []string{"sendMessage A", "sendMessage B", fmt.Sprintf("deleteMessage %d", m1), "editMessageText edit of m2"}
	if got := describe(after); !slices.Equal(got, want) {
		t.Errorf("calls after the pause = %q, want %q", got, want)
	}
}

func TestAPausedChatDoesNotHoldUpOthers(t *testing.T) {
	t.Parallel()
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	srv.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 3", 3)
	paused := sendLater(c, private, "waits")
	waitFor(t, srv, called("sendMessage", 429))
	start := time.Now()
	send(t, c, group, "goes")
	if took := time.Since(start); took > time.Second {
		t.Errorf("a send to another chat took %v", took)
	}
	if err := <-paused; err != nil {
		t.Fatal(err)
	}
}

func TestFloodControlStorm(t *testing.T) {
	t.Parallel()
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	id := send(t, c, private, "progress")
	// Every write for a while: the edit, then the send, are refused.
	srv.FailNext("editMessageText", 1, 429, "Too Many Requests: retry after 3", 3)
	srv.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 3", 3)
	edit := func(s string) {
		if err := c.Edit(t.Context(), private, id, text(s), nil); err != nil {
			t.Fatal(err)
		}
	}
	edit("p1")
	waitFor(t, srv, called("editMessageText", 429))
	final := sendLater(c, private, "final")
	for i := 2; i <= 5; i++ {
		edit(fmt.Sprintf("p%d", i))
	}
	waitFor(t, srv, called("sendMessage", 429))
	for i := 6; i <= 9; i++ {
		edit(fmt.Sprintf("p%d", i))
	}
	if err := <-final; err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	got := describe(succeeded(srv.Calls()))
	want := []string{"sendMessage progress", "sendMessage final", "editMessageText p9"}
	if !slices.Equal(got, want) {
		t.Errorf("successful calls = %q, want %q", got, want)
	}
	all := srv.Calls()
	for i, call := range all {
		if call.ErrorCode != 429 {
			continue
		}
		for _, next := range all[i+1:] {
			if next.Method != "getMe" && next.At.Sub(call.Finished) < 3*time.Second {
				t.Errorf("%s %v after a 429 with retry_after 3", next.Method, next.At.Sub(call.Finished))
			}
		}
	}
}

// TestLoadStaysUnderTheLimits runs 20 runs across 5 chats at once, each as
// the orchestrator does: progress, edits, a final answer in parts, delete.
func TestLoadStaysUnderTheLimits(t *testing.T) {
	tests := []struct {
		name       string
		countEdits bool
	}{
		{"telegram counts messages", false},
		{"telegram counts edits too", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, scaledLimits(tt.countEdits))
			chats := []int64{-2001, -2002, -2003, 3001, 3002}
			for _, id := range chats {
				srv.AddChat(telegramtest.Chat{ID: id})
			}
			c := newTestClient(t, srv, scaledPacing(), nil)
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Go(func() { errs <- loadRun(c, chats[i%len(chats)], i) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			flush(t, c)
			for _, call := range srv.Calls() {
				if call.ErrorCode == 429 {
					t.Errorf("%s at %s answered 429", call.Method, call.At.Format("15:04:05.000"))
				}
			}
			for i := range 20 {
				checkRun(t, srv.BotMessages(chats[i%len(chats)]), i)
			}
		})
	}
}

// loadRun is one run: its final answer has 1 to 3 parts.
func loadRun(c *Client, chat int64, run int) error {
	ctx := context.Background()
	id, err := c.Send(ctx, orchestrator.Outgoing{ChatID: chat, Text: text(fmt.Sprintf("run %d starting", run))})
	if err != nil {
		return err
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for step := range 10 {
		if err := c.Edit(ctx, chat, id, text(fmt.Sprintf("run %d step %d", run, step)), nil); err != nil {
			return err
		}
		<-tick.C
	}
	for part := range 1 + run%3 {
		if _, err := c.Send(ctx, orchestrator.Outgoing{ChatID: chat, Text: text(fmt.Sprintf("run %d part %d", run, part))}); err != nil {
			return err
		}
	}
	return c.Delete(ctx, chat, id)
}

// checkRun checks that a run's parts arrived in order and its progress
// message was deleted.
func checkRun(t *testing.T, msgs []telegramtest.Message, run int) {
	t.Helper()
	next := 0
	for _, m := range msgs {
		switch {
		case m.Text == fmt.Sprintf("run %d part %d", run, next):
			next++
		case strings.HasPrefix(m.Text, fmt.Sprintf("run %d part ", run)):
			t.Errorf("run %d: %q arrived before part %d", run, m.Text, next)
		case strings.HasPrefix(m.Text, fmt.Sprintf("run %d s", run)) && !m.Deleted:
			t.Errorf("run %d: progress message not deleted", run)
		}
	}
	if want := 1 + run%3; next != want {
		t.Errorf("run %d: %d parts arrived in order, want %d", run, next, want)
	}
}

func TestWriteOutcomes(t *testing.T) {
	const failed = "telegram write failed"
	tests := []struct {
		name string
		// run drives the client; it returns the message whose failures
		// are counted in the log.
		run  func(t *testing.T, srv *telegramtest.Server, c *Client) int64
		logs int
	}{
		{"an unchanged edit is a success", func(t *testing.T, srv *telegramtest.Server, c *Client) int64 {
			id := send(t, c, group, "x")
			for i := 1; i <= 2; i++ {
				_ = c.Edit(t.Context(), group, id, text("y"), nil)
				waitFor(t, srv, callCount("editMessageText", i))
			}
			flush(t, c)
			if got := len(calls(srv, "editMessageText")); got != 2 {
				t.Errorf("%d edit calls, want 2", got)
			}
			return id
		}, 0},
		{"a refused send returns the error", func(t *testing.T, srv *telegramtest.Server, c *Client) int64 {
			_, err := c.Send(t.Context(), orchestrator.Outgoing{ChatID: -999, Text: text("x")})
			if err == nil || !strings.Contains(err.Error(), "chat not found") {
				t.Errorf("Send = %v, want chat not found", err)
			}
			if n := len(calls(srv, "sendMessage")); n != 1 {
				t.Errorf("%d sendMessage calls, want 1: a 400 is not retried", n)
			}
			return 0
		}, 0},
		{"a failing edit is logged once", func(t *testing.T, srv *telegramtest.Server, c *Client) int64 {
			id := send(t, c, group, "x")
			srv.FailNext("editMessageText", 3, 400, "Bad Request: can't parse entities", 0)
			for i := 1; i <= 3; i++ {
				_ = c.Edit(t.Context(), group, id, text(fmt.Sprintf("v%d", i)), nil)
				waitFor(t, srv, callCount("editMessageText", i))
			}
			flush(t, c)
			return id
		}, 1},
		{"an edit of a deleted message is dropped", func(t *testing.T, srv *telegramtest.Server, c *Client) int64 {
			id := send(t, c, group, "x")
			_ = c.Delete(t.Context(), group, id)
			waitFor(t, srv, called("deleteMessage", 0))
			_ = c.Edit(t.Context(), group, id, text("late"), nil)
			flush(t, c)
			if n := len(calls(srv, "editMessageText")); n != 0 {
				t.Errorf("%d edit calls, want none", n)
			}
			return id
		}, 0},
		{"server trouble is retried", func(t *testing.T, srv *telegramtest.Server, c *Client) int64 {
			id := send(t, c, group, "x")
			srv.FailNext("deleteMessage", 2, 502, "Bad Gateway", 0)
			_ = c.Delete(t.Context(), group, id)
			flush(t, c)
			if m := srv.BotMessages(group); !m[0].Deleted {
				t.Error("message not deleted")
			}
			return id
		}, 0},
		{"a send gives up after repeated server trouble", func(t *testing.T, srv *telegramtest.Server, c *Client) int64 {
			srv.FailNext("sendMessage", maxAttempts, 502, "Bad Gateway", 0)
			_, err := c.Send(t.Context(), orchestrator.Outgoing{ChatID: group, Text: text("x")})
			if err == nil || !strings.Contains(err.Error(), "giving up") {
				t.Errorf("Send = %v, want giving up", err)
			}
			return 0
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, scaledLimits(false))
			rec := &logRecorder{}
			c := newTestClient(t, srv, scaledPacing(), slog.New(rec))
			id := tt.run(t, srv, c)
			if n := rec.count(failed, "message", id); n != tt.logs {
				t.Errorf("%d %q lines for message %d, want %d; log:\n%s", n, failed, id, tt.logs, strings.Join(rec.all(), "\n"))
			}
			for _, line := range rec.all() {
				if strings.Contains(line, srv.Token()) {
					t.Errorf("log leaks the token: %s", line)
				}
			}
		})
	}
}

func TestSendWithdrawnWhenCtxEnds(t *testing.T) {
	t.Parallel()
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	srv.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 2", 2)
	a := sendLater(c, private, "A")
	waitFor(t, srv, called("sendMessage", 429))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Send(ctx, orchestrator.Outgoing{ChatID: private, Text: text("B")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send = %v, want the deadline", err)
	}
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	if got := describe(succeeded(srv.Calls())); !slices.Equal(got, []string{"sendMessage A"}) {
		t.Errorf("sent %q, want only A", got)
	}
}

func TestPacingAvoids429(t *testing.T) {
	tests := []struct {
		name string
		chat int64
		n    int
	}{
		{"private chat", private, 3},
		{"group burst", group, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, telegramtest.Limits{})
			c := newTestClient(t, srv, defaultPacing(), nil)
			var results []<-chan error
			for i := range tt.n {
				results = append(results, sendLater(c, tt.chat, fmt.Sprint(i)))
			}
			for _, r := range results {
				if err := <-r; err != nil {
					t.Fatal(err)
				}
			}
			for _, call := range srv.Calls() {
				if call.ErrorCode == 429 {
					t.Errorf("server answered 429: the client did not pace")
				}
			}
			if n := len(srv.BotMessages(tt.chat)); n != tt.n {
				t.Errorf("%d messages, want %d", n, tt.n)
			}
		})
	}
}

func TestClose(t *testing.T) {
	t.Run("flushes queued writes", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, scaledLimits(false))
		c := newTestClient(t, srv, scaledPacing(), nil)
		id := send(t, c, group, "progress")
		// A pause makes the sends pile up in the queue.
		srv.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 1", 1)
		var results []<-chan error
		for i := range 8 {
			results = append(results, sendLater(c, group, fmt.Sprintf("part %d", i)))
		}
		waitFor(t, srv, called("sendMessage", 429))
		queuedSends(t, c, group, 8)
		_ = c.Edit(t.Context(), group, id, text("done"), nil)
		flush(t, c)
		for _, r := range results {
			if err := <-r; err != nil {
				t.Errorf("send: %v", err)
			}
		}
		msgs := srv.BotMessages(group)
		if len(msgs) != 9 || msgs[0].Text != "done" {
			t.Errorf("after Close: %d messages, first %q; want 9, the edit applied", len(msgs), msgs[0].Text)
		}
	})
	t.Run("gives up when ctx ends", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, telegramtest.Limits{})
		c := newTestClient(t, srv, defaultPacing(), nil)
		srv.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 5", 5)
		a := sendLater(c, private, "A")
		waitFor(t, srv, called("sendMessage", 429))
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := c.Close(ctx); err == nil || !strings.Contains(err.Error(), "1 writes not delivered") {
			t.Errorf("Close = %v, want 1 write not delivered", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Close took %v", took)
		}
		if err := <-a; !errors.Is(err, ErrClosed) {
			t.Errorf("queued Send = %v, want ErrClosed", err)
		}
	})
}

func TestDeleteWaitsForItsOutcome(t *testing.T) {
	t.Parallel()
	srv := newServer(t, scaledLimits(false))
	c := newTestClient(t, srv, scaledPacing(), nil)
	id := send(t, c, group, "x")
	if err := c.Delete(t.Context(), group, id); err != nil {
		t.Fatal(err)
	}
	if m := srv.BotMessages(group); !m[0].Deleted {
		t.Error("Delete returned before the message was deleted")
	}
	srv.FailNext("deleteMessage", 1, 400, "Bad Request: message can't be deleted", 0)
	other := send(t, c, group, "y")
	if err := c.Delete(t.Context(), group, other); err == nil || !strings.Contains(err.Error(), "can't be deleted") {
		t.Errorf("Delete of an undeletable message = %v", err)
	}
}
