package telegramtest

import (
	"net/http"
	"testing"
	"time"
)

func TestWindowWait(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	tests := []struct {
		name   string
		events []time.Duration // after t0
		now    time.Duration
		limit  int
		length time.Duration
		want   time.Duration
	}{
		{"empty", nil, 0, 1, time.Second, 0},
		{"full", []time.Duration{0}, 300 * ms, 1, time.Second, 700 * ms},
		{"expired exactly", []time.Duration{0}, time.Second, 1, time.Second, 0},
		{"room left", []time.Duration{0, 10 * ms}, 20 * ms, 3, time.Second, 0},
		{"oldest must leave", []time.Duration{0, 100 * ms, 200 * ms}, 500 * ms, 3, time.Second, 500 * ms},
		{"two must leave", []time.Duration{0, 100 * ms, 200 * ms}, 500 * ms, 2, time.Second, 600 * ms},
		{"old ones forgotten", []time.Duration{0, 1500 * ms}, 2 * time.Second, 1, time.Second, 500 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w window
			for _, e := range tc.events {
				w.add(t0.Add(e))
			}
			if got := w.wait(t0.Add(tc.now), tc.limit, tc.length); got != tc.want {
				t.Errorf("wait = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		wait time.Duration
		want int
	}{
		{time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {59500 * time.Millisecond, 60},
	}
	for _, tc := range tests {
		if got := retryAfterSeconds(tc.wait); got != tc.want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", tc.wait, got, tc.want)
		}
	}
}

func TestLimiterAdmit(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type try struct {
		at      time.Duration
		chat    int64
		typ     string
		perChat bool
		ok      bool
		retry   int
	}
	tests := []struct {
		name   string
		limits Limits
		tries  []try
	}{
		{"private 1/s", Limits{}, []try{
			{0, 1, "private", true, true, 0},
			{200 * time.Millisecond, 1, "private", true, false, 1},
			{300 * time.Millisecond, 2, "private", true, true, 0},
			{time.Second, 1, "private", true, true, 0},
		}},
		{"refused calls are not counted", Limits{PrivatePerSecond: 1}, []try{
			{0, 1, "private", true, true, 0},
			{500 * time.Millisecond, 1, "private", true, false, 1},
			{1000 * time.Millisecond, 1, "private", true, true, 0},
		}},
		{"group 2 per minute", Limits{GroupPerMinute: 2}, []try{
			{0, -1, "supergroup", true, true, 0},
			{time.Second, -1, "group", true, true, 0},
			{10 * time.Second, -1, "supergroup", true, false, 50},
		}},
		{"global", Limits{GlobalPerSecond: 2}, []try{
			{0, 1, "private", true, true, 0},
			{0, 2, "private", true, true, 0},
			{0, 0, "", false, false, 1},
		}},
		{"not per chat", Limits{}, []try{
			{0, 1, "private", false, true, 0},
			{0, 1, "private", false, true, 0},
		}},
		{"fixed retry_after", Limits{RetryAfter: 9}, []try{
			{0, 1, "private", true, true, 0},
			{0, 1, "private", true, false, 9},
		}},
		{"disabled", Limits{Disabled: true, PrivatePerSecond: 1}, []try{
			{0, 1, "private", true, true, 0},
			{0, 1, "private", true, true, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.limits)
			for i, tr := range tc.tries {
				retry, ok := l.admit(t0.Add(tr.at), tr.chat, tr.typ, tr.perChat)
				if ok != tr.ok || retry != tr.retry {
					t.Errorf("try %d: admit = %d, %v; want %d, %v", i, retry, ok, tr.retry, tr.ok)
				}
			}
		})
	}
}

// Flood control over HTTP, with the real clock.
func TestFloodControl(t *testing.T) {
	send := func(t *testing.T, s *Server, chat int64) apiResp {
		return call(t, s, "sendMessage", map[string]any{"chat_id": chat, "text": "x"})
	}
	want429 := func(t *testing.T, r apiResp, maxRetry int) {
		t.Helper()
		if r.Status != http.StatusTooManyRequests || r.Parameters == nil ||
			r.Parameters.RetryAfter < 1 || r.Parameters.RetryAfter > maxRetry {
			t.Fatalf("got %d %q %+v, want 429 with retry_after in 1..%d", r.Status, r.Description, r.Parameters, maxRetry)
		}
	}
	t.Run("private: second message within a second", func(t *testing.T) {
		s := newTestServer(t, Options{})
		s.AddChat(Chat{ID: privateChat})
		mustOK(t, send(t, s, privateChat), nil)
		want429(t, send(t, s, privateChat), 1)
		if n := len(s.BotMessages(privateChat)); n != 1 {
			t.Errorf("%d messages stored, want 1", n)
		}
		if c := s.Calls(); c[len(c)-1].HTTPStatus != 429 || c[len(c)-1].ErrorCode != 429 {
			t.Errorf("429 not recorded: %+v", c[len(c)-1])
		}
	})
	t.Run("private: window frees", func(t *testing.T) {
		s := newTestServer(t, Options{Limits: Limits{PrivateWindow: 100 * time.Millisecond}})
		s.AddChat(Chat{ID: privateChat})
		mustOK(t, send(t, s, privateChat), nil)
		want429(t, send(t, s, privateChat), 1)
		time.Sleep(120 * time.Millisecond)
		mustOK(t, send(t, s, privateChat), nil)
	})
	t.Run("group: 21st message within the window", func(t *testing.T) {
		s := newTestServer(t, Options{Limits: Limits{GlobalPerSecond: 100, GroupWindow: 2 * time.Second}})
		s.AddChat(Chat{ID: groupChat, Type: "supergroup", Title: "team"})
		for i := range 20 {
			if r := send(t, s, groupChat); !r.OK {
				t.Fatalf("message %d refused: %s", i+1, r.Description)
			}
		}
		want429(t, send(t, s, groupChat), 2)
	})
	t.Run("edits count only when asked", func(t *testing.T) {
		for _, count := range []bool{false, true} {
			s := newTestServer(t, Options{Limits: Limits{CountEdits: count}})
			s.AddChat(Chat{ID: privateChat})
			var m testMessage
			mustOK(t, send(t, s, privateChat), &m)
			r := call(t, s, "editMessageText", map[string]any{"chat_id": privateChat, "message_id": m.MessageID, "text": "y"})
			if r.OK == count {
				t.Errorf("CountEdits=%v: edit ok=%v", count, r.OK)
			}
		}
	})
}
