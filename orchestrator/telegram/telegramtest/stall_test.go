package telegramtest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// stalled waits until n calls of method are held by Stall.
func stalled(t *testing.T, s *Server, method string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := s.WaitFor(ctx, func(v *Snapshot) bool {
		got := 0
		for _, c := range v.Calls() {
			if c.Method == method && c.Stalled {
				got++
			}
		}
		return got >= n
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStallHoldsCallsUntilUnstall(t *testing.T) {
	s := newTestServer(t, Options{})
	s.Stall("getMe", 1)
	url := s.URL() + "/bot" + s.Token() + "/getMe"
	done := make(chan error, 1)
	go func() {
		_, err := tryCall(t, url, map[string]any{})
		done <- err
	}()
	stalled(t, s, "getMe", 1)
	select {
	case err := <-done:
		t.Fatalf("stalled call returned: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	s.Unstall("getMe")
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an unstalled call got a response; want the connection dropped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Unstall did not end the stalled call")
	}
	if r := call(t, s, "getMe", map[string]any{}); !r.OK {
		t.Fatalf("getMe after Unstall = %+v", r)
	}
	calls := s.Calls()
	if len(calls) != 2 || !calls[0].Stalled || calls[0].HTTPStatus != 0 || calls[0].Finished.IsZero() || calls[1].Stalled {
		t.Errorf("calls = %+v, want a finished stalled call, then an answered one", calls)
	}
}

func TestStallCountsCallsAndHasNoEffect(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddChat(Chat{ID: 42, Type: "private"})
	s.Stall("sendMessage", 1)
	url := s.URL() + "/bot" + s.Token() + "/sendMessage"
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"chat_id":42,"text":"lost"}`))
		if err != nil {
			done <- err
			return
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	if err := <-done; err == nil {
		t.Fatal("stalled sendMessage got a response")
	}
	// The client gave up: the handler ended too.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, func(v *Snapshot) bool { return !v.Calls()[0].Finished.IsZero() }); err != nil {
		t.Fatal(err)
	}
	if r := call(t, s, "sendMessage", map[string]any{"chat_id": 42, "text": "kept"}); !r.OK {
		t.Fatalf("second sendMessage = %+v; one stall only", r)
	}
	if m := s.BotMessages(42); len(m) != 1 || m[0].Text != "kept" {
		t.Errorf("bot messages = %+v, want only the unstalled one", m)
	}
}

func TestCloseEndsStalledCalls(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	s.Stall("getUpdates", 3)
	url := s.URL() + "/bot" + s.Token() + "/getUpdates"
	done := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := tryCall(t, url, map[string]any{"timeout": 0})
			done <- err
		}()
	}
	stalled(t, s, "getUpdates", 3)
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on stalled calls")
	}
	for range 3 {
		if err := <-done; err == nil {
			t.Error("a stalled call got a response at Close")
		}
	}
}
