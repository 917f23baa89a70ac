package telegramtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// apiResp is a Bot API answer as a client reads it.
type apiResp struct {
	Status      int             `json:"-"`
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// newTestServer starts a server closed at the end of the test.
func newTestServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

// call posts params as JSON to method with the server's token.
func call(t *testing.T, s *Server, method string, params any) apiResp {
	t.Helper()
	return callURL(t, s.URL()+"/bot"+s.Token()+"/"+method, params)
}

func callURL(t *testing.T, url string, params any) apiResp {
	t.Helper()
	r, err := tryCall(t, url, params)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryCall is callURL for goroutines other than the test's, which must not
// call t.Fatal.
func tryCall(t *testing.T, url string, params any) (apiResp, error) {
	var r apiResp
	body, err := json.Marshal(params)
	if err != nil {
		return r, fmt.Errorf("encode params: %w", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return r, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, fmt.Errorf("post %s: %w", url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return r, fmt.Errorf("read body: %w", err)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		return r, fmt.Errorf("Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("decode %s: %w", raw, err)
	}
	r.Status = res.StatusCode
	if !r.OK && r.ErrorCode != r.Status {
		return r, fmt.Errorf("error_code %d differs from HTTP status %d", r.ErrorCode, r.Status)
	}
	return r, nil
}

// mustOK fails the test unless the call succeeded, and decodes its result.
func mustOK(t *testing.T, r apiResp, result any) {
	t.Helper()
	if !r.OK || r.Status != http.StatusOK {
		t.Fatalf("call failed: %d %s", r.Status, r.Description)
	}
	if result != nil {
		if err := json.Unmarshal(r.Result, result); err != nil {
			t.Fatalf("decode result %s: %v", r.Result, err)
		}
	}
}

// wantError fails the test unless the call failed with code and description.
func wantError(t *testing.T, r apiResp, code int, desc string) {
	t.Helper()
	if r.OK || r.Status != code || r.Description != desc {
		t.Fatalf("got ok=%v %d %q, want %d %q", r.OK, r.Status, r.Description, code, desc)
	}
}

type testMessage struct {
	MessageID       int64 `json:"message_id"`
	MessageThreadID int64 `json:"message_thread_id"`
	From            struct {
		ID    int64 `json:"id"`
		IsBot bool  `json:"is_bot"`
	} `json:"from"`
	Date int64 `json:"date"`
	Chat struct {
		ID   int64  `json:"id"`
		Type string `json:"type"`
	} `json:"chat"`
	ReplyToMessage *testMessage     `json:"reply_to_message"`
	EditDate       int64            `json:"edit_date"`
	Text           string           `json:"text"`
	Entities       []map[string]any `json:"entities"`
	ReplyMarkup    json.RawMessage  `json:"reply_markup"`
}

type testUpdate struct {
	UpdateID      int64        `json:"update_id"`
	Message       *testMessage `json:"message"`
	CallbackQuery *struct {
		ID      string      `json:"id"`
		Data    string      `json:"data"`
		Message testMessage `json:"message"`
	} `json:"callback_query"`
}

// getUpdates calls getUpdates and decodes the updates.
func getUpdates(t *testing.T, s *Server, params map[string]any) []testUpdate {
	t.Helper()
	var ups []testUpdate
	mustOK(t, call(t, s, "getUpdates", params), &ups)
	return ups
}

// waitPolling waits until a getUpdates call is parked.
func waitPolling(t *testing.T, s *Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := s.WaitFor(ctx, func(v *Snapshot) bool {
		pending := 0
		for _, c := range v.Calls() {
			if c.Method == "getUpdates" && c.HTTPStatus == 0 {
				pending++
			}
		}
		return pending >= n
	})
	if err != nil {
		t.Fatal(err)
	}
}

const (
	privateChat int64 = 42
	groupChat   int64 = -100123
)

var alice = User{ID: 42, FirstName: "Alice", Username: "alice"}
