package telegramtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// noLimits keeps flood control out of tests about other rules.
var noLimits = Options{Limits: Limits{Disabled: true}}

func keyboard(data string) map[string]any {
	return map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "go", "callback_data": data}}}}
}

func TestSendMessageRules(t *testing.T) {
	emoji := "😀" // one rune, two UTF-16 code units
	tests := []struct {
		name     string
		params   map[string]any
		wantDesc string // empty: success
	}{
		{"plain", map[string]any{"text": "hi"}, ""},
		{"chat id as string", map[string]any{"chat_id": "42", "text": "hi"}, ""},
		{"empty text", map[string]any{"text": ""}, "Bad Request: message text is empty"},
		{"blank text", map[string]any{"text": " \n "}, "Bad Request: message text is empty"},
		{"no text", map[string]any{}, "Bad Request: message text is empty"},
		{"4096 ASCII", map[string]any{"text": strings.Repeat("a", 4096)}, ""},
		{"4097 ASCII", map[string]any{"text": strings.Repeat("a", 4097)}, "Bad Request: message is too long"},
		{"2048 emoji are 4096 units", map[string]any{"text": strings.Repeat(emoji, 2048)}, ""},
		{"2048 emoji and one letter", map[string]any{"text": strings.Repeat(emoji, 2048) + "a"},
			"Bad Request: message is too long"},
		{"4000 Cyrillic letters fit", map[string]any{"text": strings.Repeat("ж", 4000)}, ""},
		{"entity over an emoji", map[string]any{"text": emoji + "b",
			"entities": []map[string]any{{"type": "bold", "offset": 0, "length": 3}}}, ""},
		{"entity past the end", map[string]any{"text": emoji + "b",
			"entities": []map[string]any{{"type": "bold", "offset": 2, "length": 2}}},
			"Bad Request: can't parse entities: entity 0: range [2, 4) is outside the text of 3 UTF-16 code units"},
		{"unknown entity type", map[string]any{"text": "hello",
			"entities": []map[string]any{{"type": "blink", "offset": 0, "length": 1}}},
			`Bad Request: can't parse entities: entity 0: unsupported entity type "blink"`},
		{"empty entity", map[string]any{"text": "hello",
			"entities": []map[string]any{{"type": "bold", "offset": 1, "length": 0}}},
			"Bad Request: can't parse entities: entity 0: range [1, 1) is outside the text of 5 UTF-16 code units"},
		{"text_link without url", map[string]any{"text": "hello",
			"entities": []map[string]any{{"type": "text_link", "offset": 0, "length": 5}}},
			"Bad Request: can't parse entities: entity 0: text_link without url"},
		{"text_mention without user", map[string]any{"text": "hello",
			"entities": []map[string]any{{"type": "text_mention", "offset": 0, "length": 5}}},
			"Bad Request: can't parse entities: entity 0: text_mention without user"},
		{"pre with language", map[string]any{"text": "x := 1",
			"entities": []map[string]any{{"type": "pre", "offset": 0, "length": 6, "language": "go"}}}, ""},
		{"unknown fields ignored", map[string]any{"text": "hi", "future_field": map[string]any{"a": 1},
			"link_preview_options": map[string]any{"is_disabled": true}, "disable_notification": true}, ""},
		{"unknown chat", map[string]any{"chat_id": 777, "text": "hi"}, "Bad Request: chat not found"},
		{"channel username", map[string]any{"chat_id": "@news", "text": "hi"}, "Bad Request: chat not found"},
		{"reply to missing", map[string]any{"text": "hi", "reply_parameters": map[string]any{"message_id": 99}},
			"Bad Request: message to be replied not found"},
		{"reply to missing allowed", map[string]any{"text": "hi",
			"reply_parameters": map[string]any{"message_id": 99, "allow_sending_without_reply": true}}, ""},
		{"legacy reply to missing", map[string]any{"text": "hi", "reply_to_message_id": 99},
			"Bad Request: message to be replied not found"},
		{"callback data over 64 bytes", map[string]any{"text": "hi", "reply_markup": keyboard(strings.Repeat("d", 65))},
			"Bad Request: BUTTON_DATA_INVALID"},
		{"unsupported parse mode", map[string]any{"text": "hi", "parse_mode": "BBCode"},
			"Bad Request: unsupported parse_mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, noLimits)
			s.AddChat(Chat{ID: privateChat})
			if _, ok := tc.params["chat_id"]; !ok {
				tc.params["chat_id"] = privateChat
			}
			r := call(t, s, "sendMessage", tc.params)
			if tc.wantDesc == "" {
				mustOK(t, r, nil)
				if n := len(s.BotMessages(privateChat)); n != 1 {
					t.Errorf("%d bot messages, want 1", n)
				}
				return
			}
			wantError(t, r, http.StatusBadRequest, tc.wantDesc)
			if n := len(s.BotMessages(privateChat)); n != 0 {
				t.Errorf("a refused message was stored")
			}
		})
	}
}

func TestSendMessageResult(t *testing.T) {
	s := newTestServer(t, noLimits)
	s.AddChat(Chat{ID: groupChat, Type: "supergroup", Title: "team", IsForum: true})
	asked := s.UserSays(groupChat, alice, "question", InThread(7))
	var m testMessage
	mustOK(t, call(t, s, "sendMessage", map[string]any{
		"chat_id": groupChat, "text": "answer", "message_thread_id": 7,
		"reply_parameters": map[string]any{"message_id": asked.MessageID},
		"entities":         []map[string]any{{"type": "italic", "offset": 0, "length": 6}},
		"reply_markup":     keyboard("a"),
	}), &m)
	switch {
	case m.MessageID != asked.MessageID+1:
		t.Errorf("message_id = %d, want %d (shared with user messages)", m.MessageID, asked.MessageID+1)
	case !m.From.IsBot || m.From.ID != 123456789:
		t.Errorf("from = %+v", m.From)
	case m.Chat.ID != groupChat || m.Chat.Type != "supergroup":
		t.Errorf("chat = %+v", m.Chat)
	case m.ReplyToMessage == nil || m.ReplyToMessage.Text != "question":
		t.Errorf("reply_to_message = %+v", m.ReplyToMessage)
	case m.MessageThreadID != 7 || m.Text != "answer" || len(m.Entities) != 1 || m.Date == 0:
		t.Errorf("message = %+v", m)
	case string(m.ReplyMarkup) != `{"inline_keyboard":[[{"callback_data":"a","text":"go"}]]}`:
		t.Errorf("reply_markup = %s", m.ReplyMarkup)
	}
	got := s.BotMessages(groupChat)
	if len(got) != 1 || got[0].ReplyTo != asked.MessageID || got[0].ThreadID != 7 || got[0].Entities[0].Type != "italic" {
		t.Errorf("BotMessages = %+v", got)
	}
	if all := s.Messages(groupChat); len(all) != 2 || all[0].FromBot || !all[1].FromBot {
		t.Errorf("Messages = %+v", all)
	}
}

func TestEditAndDelete(t *testing.T) {
	type step struct {
		method   string
		params   map[string]any
		wantDesc string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"edit text", []step{{"editMessageText", map[string]any{"text": "new"}, ""}}},
		{"not modified", []step{{"editMessageText", map[string]any{"text": "old", "reply_markup": keyboard("k")},
			"Bad Request: " + descNotModified}}},
		{"dropping the keyboard is a change", []step{{"editMessageText", map[string]any{"text": "old"}, ""}}},
		{"markup only", []step{
			{"editMessageReplyMarkup", map[string]any{"reply_markup": keyboard("k2")}, ""},
			{"editMessageReplyMarkup", map[string]any{"reply_markup": keyboard("k2")}, "Bad Request: " + descNotModified},
		}},
		{"edit missing", []step{{"editMessageText", map[string]any{"message_id": 99, "text": "x"},
			"Bad Request: message to edit not found"}}},
		{"edit user message", []step{{"editMessageText", map[string]any{"message_id": 1, "text": "x"},
			"Bad Request: message can't be edited"}}},
		{"edit too long", []step{{"editMessageText", map[string]any{"text": strings.Repeat("a", 4097)},
			"Bad Request: MESSAGE_TOO_LONG"}}},
		{"inline message", []step{{"editMessageText", map[string]any{"inline_message_id": "abc", "text": "x"},
			"Bad Request: inline messages are not supported by telegramtest"}}},
		{"delete twice", []step{
			{"deleteMessage", map[string]any{}, ""},
			{"deleteMessage", map[string]any{}, "Bad Request: message to delete not found"},
			{"editMessageText", map[string]any{"text": "x"}, "Bad Request: message to edit not found"},
		}},
		{"delete missing", []step{{"deleteMessage", map[string]any{"message_id": 99},
			"Bad Request: message to delete not found"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, noLimits)
			s.UserSays(privateChat, alice, "hello") // message 1
			var sent testMessage
			mustOK(t, call(t, s, "sendMessage", map[string]any{"chat_id": privateChat, "text": "old",
				"reply_markup": keyboard("k")}), &sent)
			for _, st := range tc.steps {
				p := map[string]any{"chat_id": privateChat, "message_id": sent.MessageID}
				for k, v := range st.params {
					p[k] = v
				}
				r := call(t, s, st.method, p)
				if st.wantDesc != "" {
					wantError(t, r, http.StatusBadRequest, st.wantDesc)
					continue
				}
				mustOK(t, r, nil)
			}
		})
	}
}

func TestEditRecordsHistory(t *testing.T) {
	s := newTestServer(t, noLimits)
	s.AddChat(Chat{ID: privateChat})
	var sent, edited testMessage
	mustOK(t, call(t, s, "sendMessage", map[string]any{"chat_id": privateChat, "text": "v1"}), &sent)
	mustOK(t, call(t, s, "editMessageText", map[string]any{"chat_id": privateChat, "message_id": sent.MessageID,
		"text": "v2", "entities": []map[string]any{{"type": "code", "offset": 0, "length": 2}}}), &edited)
	if edited.Text != "v2" || edited.EditDate == 0 {
		t.Errorf("edited = %+v", edited)
	}
	mustOK(t, call(t, s, "deleteMessage", map[string]any{"chat_id": privateChat, "message_id": sent.MessageID}), nil)
	got := s.BotMessages(privateChat)
	if len(got) != 1 || got[0].Text != "v2" || len(got[0].Edits) != 1 || got[0].Edits[0].Entities[0].Type != "code" ||
		!got[0].Deleted || got[0].DeletedAt.IsZero() {
		t.Errorf("BotMessages = %+v", got)
	}
}

func TestAnswerCallbackQuery(t *testing.T) {
	tests := []struct {
		name     string
		id       func(Sent) string
		wait     time.Duration
		twice    bool
		wantDesc string
	}{
		{name: "in time", id: func(p Sent) string { return p.QueryID }},
		{name: "unknown id", id: func(Sent) string { return "123" }, wantDesc: "Bad Request: " + descQueryTooOld},
		{name: "too late", id: func(p Sent) string { return p.QueryID }, wait: 150 * time.Millisecond,
			wantDesc: "Bad Request: " + descQueryTooOld},
		{name: "answered twice", id: func(p Sent) string { return p.QueryID }, twice: true,
			wantDesc: "Bad Request: " + descQueryTooOld},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, Options{CallbackQueryTimeout: 100 * time.Millisecond})
			press := s.PressButton(privateChat, 5, alice, "data")
			time.Sleep(tc.wait)
			p := map[string]any{"callback_query_id": tc.id(press)}
			if tc.twice {
				mustOK(t, call(t, s, "answerCallbackQuery", p), nil)
			}
			r := call(t, s, "answerCallbackQuery", p)
			if tc.wantDesc == "" {
				mustOK(t, r, nil)
				return
			}
			wantError(t, r, http.StatusBadRequest, tc.wantDesc)
		})
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		commands []map[string]any
		wantDesc string
	}{
		{"valid", []map[string]any{{"command": "new_session", "description": "Start over"}}, ""},
		{"upper case", []map[string]any{{"command": "New", "description": "x"}}, "Bad Request: BOT_COMMAND_INVALID"},
		{"too long name", []map[string]any{{"command": strings.Repeat("a", 33), "description": "x"}},
			"Bad Request: BOT_COMMAND_INVALID"},
		{"empty description", []map[string]any{{"command": "a", "description": ""}},
			"Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"},
		{"long description", []map[string]any{{"command": "a", "description": strings.Repeat("d", 257)}},
			"Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, Options{})
			r := call(t, s, "setMyCommands", map[string]any{"commands": tc.commands})
			var got []map[string]any
			if tc.wantDesc != "" {
				wantError(t, r, http.StatusBadRequest, tc.wantDesc)
				mustOK(t, call(t, s, "getMyCommands", nil), &got)
				if len(got) != 0 {
					t.Errorf("refused commands were stored: %v", got)
				}
				return
			}
			mustOK(t, r, nil)
			mustOK(t, call(t, s, "getMyCommands", nil), &got)
			if len(got) != 1 || got[0]["command"] != "new_session" || len(s.Commands()) != 1 {
				t.Errorf("getMyCommands = %v", got)
			}
			mustOK(t, call(t, s, "deleteMyCommands", nil), nil)
			if len(s.Commands()) != 0 {
				t.Error("deleteMyCommands kept the commands")
			}
		})
	}
}

func TestSendChatAction(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddChat(Chat{ID: privateChat})
	var ok bool
	mustOK(t, call(t, s, "sendChatAction", map[string]any{"chat_id": privateChat, "action": "typing"}), &ok)
	if !ok {
		t.Error("sendChatAction result is not true")
	}
	wantError(t, call(t, s, "sendChatAction", map[string]any{"chat_id": privateChat, "action": "dancing"}),
		http.StatusBadRequest, "Bad Request: wrong parameter action in request")
}

func TestFailNext(t *testing.T) {
	s := newTestServer(t, noLimits)
	s.AddChat(Chat{ID: privateChat})
	s.FailNext("sendMessage", 2, 429, "Too Many Requests: retry after 7", 7)
	p := map[string]any{"chat_id": privateChat, "text": "hi"}
	for range 2 {
		r := call(t, s, "sendMessage", p)
		wantError(t, r, http.StatusTooManyRequests, "Too Many Requests: retry after 7")
		if r.Parameters == nil || r.Parameters.RetryAfter != 7 {
			t.Errorf("parameters = %+v", r.Parameters)
		}
	}
	mustOK(t, call(t, s, "sendMessage", p), nil)
	if n := len(s.BotMessages(privateChat)); n != 1 {
		t.Errorf("%d messages, want 1: failed calls must have no effect", n)
	}
	calls := s.Calls()
	if len(calls) != 3 || calls[0].HTTPStatus != 429 || calls[0].ErrorCode != 429 || calls[2].HTTPStatus != 200 {
		t.Errorf("calls = %+v", calls)
	}
}

func TestSetDown(t *testing.T) {
	s := newTestServer(t, Options{})
	poll := pollResult(t, s, map[string]any{"timeout": 5})
	waitPolling(t, s, 1)
	s.SetDown(true)
	wantError(t, <-poll, http.StatusBadGateway, descBadGateway)
	wantError(t, call(t, s, "getMe", nil), http.StatusBadGateway, descBadGateway)
	s.SetDown(false)
	mustOK(t, call(t, s, "getMe", nil), nil)
}

func TestWaitFor(t *testing.T) {
	t.Run("wakes on change", func(t *testing.T) {
		s := newTestServer(t, noLimits)
		s.AddChat(Chat{ID: privateChat})
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			if _, err := tryCall(t, s.URL()+"/bot"+s.Token()+"/sendMessage",
				map[string]any{"chat_id": privateChat, "text": "done"}); err != nil {
				t.Error(err)
			}
		}()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err := s.WaitFor(ctx, func(v *Snapshot) bool {
			msgs := v.BotMessages(privateChat)
			return len(msgs) == 1 && msgs[0].Text == "done"
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("timeout shows the chat", func(t *testing.T) {
		s := newTestServer(t, noLimits)
		s.UserSays(privateChat, alice, "is anyone there?")
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		err := s.WaitFor(ctx, func(v *Snapshot) bool { return len(v.BotMessages(privateChat)) > 0 })
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"is anyone there?"`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("close ends the wait", func(t *testing.T) {
		s := NewServer(Options{})
		time.AfterFunc(50*time.Millisecond, s.Close)
		err := s.WaitFor(t.Context(), func(*Snapshot) bool { return false })
		if !errors.Is(err, ErrClosed) {
			t.Errorf("err = %v, want ErrClosed", err)
		}
	})
}

// Answers must be byte for byte what Telegram sends.
func TestResponseShape(t *testing.T) {
	s := newTestServer(t, Options{Limits: Limits{RetryAfter: 3}})
	s.AddChat(Chat{ID: privateChat})
	tests := []struct {
		name, method, body, want string
		wantStatus               int
	}{
		{"success", "sendChatAction", `{"chat_id":42,"action":"typing"}`, `{"ok":true,"result":true}`, 200},
		{"error", "sendMessage", `{"chat_id":1,"text":"x"}`,
			`{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, 400},
		{"first message", "sendMessage", `{"chat_id":42,"text":"x"}`, "", 200},
		{"flood", "sendMessage", `{"chat_id":42,"text":"x"}`,
			`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}`, 429},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := http.Post(s.URL()+"/bot"+s.Token()+"/"+tc.method, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			got, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.wantStatus || (tc.want != "" && string(got) != tc.want) {
				t.Errorf("got %d %s, want %d %s", res.StatusCode, got, tc.wantStatus, tc.want)
			}
		})
	}
}
