package telegramtest

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRouting(t *testing.T) {
	s := newTestServer(t, Options{})
	tests := []struct {
		name     string
		path     string
		wantCode int
		wantDesc string
	}{
		{"wrong token", "/bot123:" + strings.Repeat("x", 35) + "/getMe", 401, descUnauthorized},
		{"unknown method", "/bot" + s.Token() + "/sendTelepathy", 404, descNotFound},
		{"not a bot path", "/getMe", 404, descNotFound},
		{"method case ignored", "/bot" + s.Token() + "/GETME", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := callURL(t, s.URL()+tc.path, map[string]any{})
			if tc.wantCode == 200 {
				mustOK(t, r, nil)
				return
			}
			wantError(t, r, tc.wantCode, tc.wantDesc)
		})
	}
	calls := s.Calls()
	if len(calls) != len(tests) || calls[1].Method != "sendTelepathy" || calls[3].Method != "getMe" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestGetMe(t *testing.T) {
	s := newTestServer(t, Options{})
	var me struct {
		ID       int64  `json:"id"`
		IsBot    bool   `json:"is_bot"`
		Username string `json:"username"`
	}
	mustOK(t, call(t, s, "getMe", nil), &me)
	if me.ID != 123456789 || !me.IsBot || me.Username != "untether_test_bot" {
		t.Errorf("getMe = %+v", me)
	}
}

func TestGetUpdatesOffset(t *testing.T) {
	tests := []struct {
		name      string
		offset    int64 // relative to the first update id; 0 means absent
		absolute  int64 // used when offset is 0
		limit     int
		wantIdx   []int // indexes of the 3 updates returned
		wantAcked []int
	}{
		{name: "no offset returns all", wantIdx: []int{0, 1, 2}},
		{name: "offset confirms below", offset: 1, wantIdx: []int{1, 2}, wantAcked: []int{0}},
		{name: "offset past all", offset: 3, wantIdx: nil, wantAcked: []int{0, 1, 2}},
		{name: "negative offset from the end", absolute: -1, wantIdx: []int{2}, wantAcked: []int{0, 1}},
		{name: "limit", limit: 2, wantIdx: []int{0, 1}},
		{name: "limit clamped to 1", limit: -5, wantIdx: []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, Options{Limits: Limits{Disabled: true}})
			var ids []int64
			for i := range 3 {
				ids = append(ids, s.UserSays(privateChat, alice, "hi "+string(rune('a'+i))).UpdateID)
			}
			if ids[0] != firstUpdateID || ids[2] != ids[0]+2 {
				t.Fatalf("update ids = %v", ids)
			}
			p := map[string]any{}
			switch {
			case tc.offset != 0:
				p["offset"] = ids[0] + tc.offset
			case tc.absolute != 0:
				p["offset"] = tc.absolute
			}
			if tc.limit != 0 {
				p["limit"] = tc.limit
			}
			ups := getUpdates(t, s, p)
			var got []int
			for _, u := range ups {
				got = append(got, int(u.UpdateID-ids[0]))
			}
			if !slices.Equal(got, tc.wantIdx) {
				t.Errorf("returned %v, want %v", got, tc.wantIdx)
			}
			for i, id := range ids {
				if want := slices.Contains(tc.wantAcked, i); s.Acked(id) != want {
					t.Errorf("Acked(%d) = %v, want %v", i, !want, want)
				}
				_, served := s.ServedAt(id)
				if want := slices.Contains(tc.wantIdx, i); served != want {
					t.Errorf("ServedAt(%d) served = %v, want %v", i, served, want)
				}
			}
			// A confirmed update never comes back.
			again := getUpdates(t, s, map[string]any{})
			if len(again) != 3-len(tc.wantAcked) {
				t.Errorf("after confirmation %d updates remain, want %d", len(again), 3-len(tc.wantAcked))
			}
		})
	}
}

func TestGetUpdatesContent(t *testing.T) {
	s := newTestServer(t, Options{Limits: Limits{Disabled: true}})
	s.UserSays(privateChat, alice, "/start@untether_test_bot now")
	var sent testMessage
	mustOK(t, call(t, s, "sendMessage", map[string]any{"chat_id": privateChat, "text": "hello",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "ok", "callback_data": "x"}}}}}), &sent)
	press := s.PressButton(privateChat, sent.MessageID, alice, "x")
	ups := getUpdates(t, s, nil)
	if len(ups) != 2 || ups[0].Message == nil || ups[1].CallbackQuery == nil {
		t.Fatalf("updates = %+v", ups)
	}
	m := ups[0].Message
	wantEnt := map[string]any{"type": "bot_command", "offset": 0.0, "length": float64(len("/start@untether_test_bot"))}
	if m.Text != "/start@untether_test_bot now" || len(m.Entities) != 1 || !mapsEqual(m.Entities[0], wantEnt) {
		t.Errorf("message = %+v", m)
	}
	if m.Chat.Type != "private" || m.From.ID != alice.ID || m.From.IsBot {
		t.Errorf("chat/from = %+v / %+v", m.Chat, m.From)
	}
	cq := ups[1].CallbackQuery
	if cq.ID != press.QueryID || cq.Data != "x" || cq.Message.MessageID != sent.MessageID || !cq.Message.From.IsBot {
		t.Errorf("callback query = %+v", cq)
	}
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// pollResult runs a getUpdates in the background.
func pollResult(t *testing.T, s *Server, params map[string]any) <-chan apiResp {
	ch := make(chan apiResp, 1)
	go func() {
		r, err := tryCall(t, s.URL()+"/bot"+s.Token()+"/getUpdates", params)
		if err != nil {
			t.Error(err)
		}
		ch <- r
	}()
	return ch
}

func TestGetUpdatesLongPoll(t *testing.T) {
	t.Run("wakes on update", func(t *testing.T) {
		s := newTestServer(t, Options{})
		start := time.Now()
		res := pollResult(t, s, map[string]any{"timeout": 5})
		waitPolling(t, s, 1)
		sent := s.UserSays(privateChat, alice, "wake up")
		r := <-res
		var ups []testUpdate
		mustOK(t, r, &ups)
		if len(ups) != 1 || ups[0].UpdateID != sent.UpdateID {
			t.Fatalf("updates = %+v", ups)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("long poll answered after %v", d)
		}
	})
	t.Run("times out empty", func(t *testing.T) {
		s := newTestServer(t, Options{})
		start := time.Now()
		ups := getUpdates(t, s, map[string]any{"timeout": 1})
		if d := time.Since(start); len(ups) != 0 || d < 900*time.Millisecond || d > 3*time.Second {
			t.Errorf("got %d updates after %v, want 0 after ~1s", len(ups), d)
		}
	})
	t.Run("newer poll ends the pending one with 409", func(t *testing.T) {
		s := newTestServer(t, Options{})
		first := pollResult(t, s, map[string]any{"timeout": 5})
		waitPolling(t, s, 1)
		second := pollResult(t, s, map[string]any{"timeout": 5})
		wantError(t, <-first, http.StatusConflict, descConflict)
		waitPolling(t, s, 1)
		s.UserSays(privateChat, alice, "for the survivor")
		var ups []testUpdate
		mustOK(t, <-second, &ups)
		if len(ups) != 1 {
			t.Errorf("survivor got %d updates", len(ups))
		}
	})
	t.Run("close ends the poll", func(t *testing.T) {
		s := NewServer(Options{})
		res := pollResult(t, s, map[string]any{"timeout": 30})
		waitPolling(t, s, 1)
		start := time.Now()
		s.Close()
		<-res
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Close took %v", d)
		}
	})
	t.Run("allowed_updates filters new updates", func(t *testing.T) {
		s := newTestServer(t, Options{})
		getUpdates(t, s, map[string]any{"allowed_updates": []string{"callback_query"}})
		if sent := s.UserSays(privateChat, alice, "ignored"); sent.UpdateID != 0 || sent.MessageID != 1 {
			t.Errorf("UserSays = %+v, want no update but a message", sent)
		}
		getUpdates(t, s, map[string]any{"allowed_updates": []string{}})
		if sent := s.UserSays(privateChat, alice, "seen"); sent.UpdateID == 0 {
			t.Error("an empty allowed_updates did not restore the default")
		}
	})
}
