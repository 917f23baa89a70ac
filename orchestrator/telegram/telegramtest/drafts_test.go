package telegramtest

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSendMessageDraftRules(t *testing.T) {
	const private, group = 42, -100
	tests := []struct {
		name     string
		params   map[string]any
		wantDesc string // empty: success
	}{
		{"text", map[string]any{"draft_id": 7, "text": "Hel"}, ""},
		{"empty text is the placeholder", map[string]any{"draft_id": 7, "text": ""}, ""},
		{"4096 units", map[string]any{"draft_id": 7, "text": strings.Repeat("a", 4096)}, ""},
		{"too long", map[string]any{"draft_id": 7, "text": strings.Repeat("a", 4097)}, "Bad Request: text is too long"},
		{"no draft id", map[string]any{"text": "x"}, `Bad Request: parameter "draft_id" is required`},
		{"zero draft id", map[string]any{"draft_id": 0, "text": "x"}, "Bad Request: draft_id must be non-zero"},
		{"negative draft id", map[string]any{"draft_id": -3, "text": "x"}, ""},
		{"group", map[string]any{"chat_id": group, "draft_id": 7, "text": "x"}, "Bad Request: draft is available only in private chats"},
		{"unknown chat", map[string]any{"chat_id": 777, "draft_id": 7, "text": "x"}, "Bad Request: chat not found"},
		{"entities", map[string]any{"draft_id": 7, "text": "bold",
			"entities": []map[string]any{{"type": "bold", "offset": 0, "length": 4}}}, ""},
		{"bad entities", map[string]any{"draft_id": 7, "text": "bold",
			"entities": []map[string]any{{"type": "bold", "offset": 2, "length": 4}}},
			"Bad Request: can't parse entities: entity 0: range [2, 6) is outside the text of 4 UTF-16 code units"},
		{"parse mode", map[string]any{"draft_id": 7, "text": "*b*", "parse_mode": "MarkdownV2"}, ""},
		{"bad parse mode", map[string]any{"draft_id": 7, "text": "x", "parse_mode": "BBCode"}, "Bad Request: unsupported parse_mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, Options{Limits: Limits{Disabled: true}})
			s.AddChat(Chat{ID: private, Type: "private"})
			s.AddChat(Chat{ID: group, Type: "supergroup"})
			if _, ok := tt.params["chat_id"]; !ok {
				tt.params["chat_id"] = private
			}
			r := call(t, s, "sendMessageDraft", tt.params)
			if tt.wantDesc == "" {
				var ok bool
				mustOK(t, r, &ok)
				if !ok || len(s.Drafts(private)) != 1 {
					t.Errorf("result %v, drafts %+v", ok, s.Drafts(private))
				}
				return
			}
			if r.OK || r.Status != 400 || r.Description != tt.wantDesc {
				t.Errorf("got %d %q, want 400 %q", r.Status, r.Description, tt.wantDesc)
			}
			if d := s.Drafts(private); len(d) != 0 {
				t.Errorf("a refused draft was recorded: %+v", d)
			}
		})
	}
}

func TestSendMessageDraftRecordsAndStops(t *testing.T) {
	s := newTestServer(t, Options{Limits: Limits{Disabled: true}})
	s.AddChat(Chat{ID: 42, Type: "private"})
	if _, ok := s.StopDraft(42, 7); ok {
		t.Fatal("StopDraft of a draft never shown succeeded")
	}
	call(t, s, "sendMessageDraft", map[string]any{"chat_id": 42, "draft_id": 7, "text": "Hel"})
	if _, ok := s.StopDraft(42, 7); ok {
		t.Fatal("StopDraft of a draft without can_stop succeeded")
	}
	mustOK(t, call(t, s, "sendMessageDraft", map[string]any{"chat_id": 42, "draft_id": 7, "text": "Hello",
		"can_stop": true, "entities": []map[string]any{{"type": "bold", "offset": 0, "length": 5}}}), nil)
	sent, ok := s.StopDraft(42, 7)
	if !ok || sent.UpdateID == 0 {
		t.Fatalf("StopDraft = %+v, %v", sent, ok)
	}
	mustOK(t, call(t, s, "sendMessageDraft", map[string]any{"chat_id": 42, "draft_id": 7, "text": "Hello, world"}), nil)
	d := s.Drafts(42)
	if len(d) != 3 || d[1].Text != "Hello" || !d[1].CanStop || len(d[1].Entities) != 1 || d[1].AfterStop || !d[2].AfterStop {
		t.Errorf("drafts = %+v", d)
	}
	var ups []json.RawMessage
	mustOK(t, call(t, s, "getUpdates", map[string]any{"allowed_updates": []string{"message", "stopped_message_generation"}}), &ups)
	if len(ups) != 1 || !strings.Contains(string(ups[0]), `"stopped_message_generation":{"chat":{"id":42,"type":"private"`) ||
		!strings.Contains(string(ups[0]), `"draft_id":7}`) {
		t.Errorf("updates = %s", ups)
	}
}

func TestSendMessageDraftOnAnOlderServer(t *testing.T) {
	s := newTestServer(t, Options{NoDrafts: true})
	s.AddChat(Chat{ID: 42, Type: "private"})
	r := call(t, s, "sendMessageDraft", map[string]any{"chat_id": 42, "draft_id": 7, "text": "Hel"})
	if r.OK || r.Status != 404 || r.Description != "Not Found" || len(s.Drafts(42)) != 0 {
		t.Errorf("got %d %q, drafts %+v; want 404 Not Found, none", r.Status, r.Description, s.Drafts(42))
	}
}

func TestSendMessageDraftCountsTowardTheChatLimit(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddChat(Chat{ID: 42, Type: "private"})
	mustOK(t, call(t, s, "sendMessageDraft", map[string]any{"chat_id": 42, "draft_id": 7, "text": "a"}), nil)
	if r := call(t, s, "sendMessage", map[string]any{"chat_id": 42, "text": "b"}); r.Status != 429 {
		t.Errorf("a message right after a draft: %d %q, want 429", r.Status, r.Description)
	}
}
