package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/mymmrac/telego"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

func TestEntities(t *testing.T) {
	s := "héllo 😀 `x` resume: claude --resume abc"
	code := "claude --resume abc"
	off := len(s) - len(code)
	tests := []struct {
		name   string
		entity orchestrator.Entity
		want   string // text the entity covers; "" when it is dropped
		url    string
	}{
		{"offsets in UTF-16 units", orchestrator.Entity{Type: orchestrator.EntityCode, Offset: off, Length: len(code)}, code, ""},
		{"text link keeps its url", orchestrator.Entity{Type: orchestrator.EntityTextLink, Offset: 0, Length: len("héllo"), URL: "https://example.org"}, "héllo", "https://example.org"},
		{"out of range dropped", orchestrator.Entity{Type: orchestrator.EntityBold, Offset: off, Length: len(code) + 1}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := entities(orchestrator.Text{S: s, Entities: []orchestrator.Entity{tt.entity}})
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("entities = %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("entities = %+v", got)
			}
			u := utf16.Encode([]rune(s))
			if txt := string(utf16.Decode(u[got[0].Offset : got[0].Offset+got[0].Length])); txt != tt.want {
				t.Errorf("entity covers %q, want %q", txt, tt.want)
			}
			if got[0].URL != tt.url {
				t.Errorf("url = %q, want %q", got[0].URL, tt.url)
			}
		})
	}
}

func TestTextLinkReachesTheServer(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	link := orchestrator.Text{S: "see docs", Entities: []orchestrator.Entity{
		{Type: orchestrator.EntityTextLink, Offset: 4, Length: 4, URL: "https://example.org/docs"}}}
	if _, err := c.Send(t.Context(), orchestrator.Outgoing{ChatID: group, Text: link}); err != nil {
		t.Fatal(err)
	}
	msgs := srv.BotMessages(group)
	if len(msgs) != 1 || len(msgs[0].Entities) != 1 || msgs[0].Entities[0].URL != "https://example.org/docs" {
		t.Fatalf("messages = %+v", msgs)
	}
}

func TestSendEditDeleteAgainstTheServer(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	ctx := t.Context()

	if name, err := c.CheckToken(ctx); err != nil || name == "" {
		t.Fatalf("CheckToken = %q, %v", name, err)
	}
	user := srv.UserSays(group, telegramtest.User{ID: 5}, "hi")
	cancel := []orchestrator.Button{{Text: "cancel", Data: "cancel:run1"}}
	id, err := c.Send(ctx, orchestrator.Outgoing{ChatID: group, ReplyTo: user.MessageID, Text: text("starting"), Buttons: cancel})
	if err != nil {
		t.Fatal(err)
	}
	if m := srv.BotMessages(group); len(m) != 1 || !strings.Contains(string(m[0].ReplyMarkup), "cancel:run1") {
		t.Fatalf("sent %+v, want the cancel button", m)
	}
	working := orchestrator.Text{S: "working · `ls`", Entities: []orchestrator.Entity{{Type: orchestrator.EntityCode, Offset: len("working · "), Length: 4}}}
	if err := c.Edit(ctx, group, id, working, cancel); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool { return len(s.BotMessages(group)[0].Edits) == 1 })
	// Same text and buttons: "message is not modified", a success. Then
	// the keyboard goes.
	if err := c.Edit(ctx, group, id, working, cancel); err != nil {
		t.Fatal(err)
	}
	if err := c.Edit(ctx, group, id, working, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool { return len(s.BotMessages(group)[0].Edits) == 2 })
	if err := c.Delete(ctx, group, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool { return s.BotMessages(group)[0].Deleted })
	m := srv.BotMessages(group)[0]
	if m.ReplyTo != user.MessageID || m.ReplyMarkup != nil {
		t.Errorf("message = %+v, want a reply without keyboard", m)
	}
	if e := m.Edits[0].Entities; len(e) != 1 || e[0].Type != "code" || e[0].Offset != 10 || e[0].Length != 4 {
		t.Errorf("edit entities = %+v", e)
	}
}

func TestBadTokenIsAClearError(t *testing.T) {
	if _, err := New(Options{Token: "nonsense", APIURL: "http://127.0.0.1:1"}); err == nil {
		t.Fatal("malformed token accepted")
	}
	srv := newServer(t, telegramtest.Limits{})
	c, err := New(Options{Token: "987654321:AAE-untether-telegramtest-token-999", APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CheckToken(t.Context())
	if err == nil {
		t.Fatal("wrong token accepted")
	}
	if strings.Contains(err.Error(), "987654321:AAE") {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestSetCommands(t *testing.T) {
	t.Parallel()
	srv := newServer(t, telegramtest.Limits{})
	srv.FailNext("setMyCommands", 1, 429, "Too Many Requests: retry after 1", 1)
	c := newTestClient(t, srv, defaultPacing(), nil)
	cmds := []orchestrator.Command{{Name: "cancel", Description: "cancel a run"}, {Name: "new", Description: "start a new session"}}
	if err := c.SetCommands(t.Context(), cmds); err != nil {
		t.Fatal(err)
	}
	got := srv.Commands()
	if len(got) != 2 || got[0].Command != "cancel" || got[1].Description != "start a new session" {
		t.Errorf("commands = %+v", got)
	}
	if err := c.SetCommands(t.Context(), []orchestrator.Command{{Name: "Bad Name", Description: "x"}}); err == nil {
		t.Error("an invalid command was accepted")
	}
}

// recorder is a Handler that remembers messages.
type recorder struct {
	mu   sync.Mutex
	msgs []orchestrator.Message
}

func (r *recorder) Handle(_ context.Context, m orchestrator.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}

func (r *recorder) all() []orchestrator.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]orchestrator.Message(nil), r.msgs...)
}

type memOffset struct {
	mu sync.Mutex
	id int64
	ok bool
}

func (m *memOffset) Load() (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id, m.ok, nil
}

func (m *memOffset) Save(id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.id, m.ok = id, true
	return nil
}

// poll runs c.Poll until the test ends.
func poll(t *testing.T, c *Client, h Handler, off OffsetStore) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Poll(ctx, h, off) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Poll returned %v after cancel", err)
		}
	})
}

func TestPollHandsOverThenRecordsEachUpdate(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	first := srv.UserSays(group, telegramtest.User{ID: 5}, "one")
	// An earlier daemon handled "one" already.
	off := &memOffset{id: first.UpdateID, ok: true}
	second := srv.UserSays(group, telegramtest.User{ID: 5}, "two", telegramtest.ReplyTo(first.MessageID))
	rec := &recorder{}
	poll(t, c, rec, off)
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool { return s.Acked(second.UpdateID) })
	msgs := rec.all()
	if len(msgs) != 1 || msgs[0].Text != "two" || msgs[0].ReplyToText != "one" ||
		msgs[0].ReplyToID != first.MessageID || msgs[0].UserID != 5 {
		t.Fatalf("handled %+v, want only \"two\" replying to \"one\"", msgs)
	}
	if id, _, _ := off.Load(); id != second.UpdateID {
		t.Errorf("offset = %d, want %d", id, second.UpdateID)
	}
}

func TestPollDecodes(t *testing.T) {
	t.Parallel()
	const forum = int64(-1002)
	srv := newServer(t, telegramtest.Limits{})
	srv.AddChat(telegramtest.Chat{ID: forum, Type: "supergroup", IsForum: true})
	c := newTestClient(t, srv, defaultPacing(), nil)
	rec := &recorder{}
	poll(t, c, rec, &memOffset{})
	// Presses are queued only once the poll asked for callback queries.
	waitFor(t, srv, called("getUpdates", 0))

	bot, err := c.Send(t.Context(), orchestrator.Outgoing{ChatID: forum, ThreadID: 7, Text: text("progress"),
		Buttons: []orchestrator.Button{{Text: "cancel", Data: "cancel:r1"}}})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-2 * time.Second)
	tests := []struct {
		name  string
		sent  telegramtest.Sent
		check func(m orchestrator.Message) bool
	}{
		{"private message", srv.UserSays(private, telegramtest.User{ID: private}, "hello"),
			func(m orchestrator.Message) bool {
				return m.Private && m.ChatID == private && m.Text == "hello" && m.ThreadID == 0 && m.Sent.After(before)
			}},
		{"reply inside a topic", srv.UserSays(forum, telegramtest.User{ID: 5}, "again", telegramtest.InThread(7), telegramtest.ReplyTo(bot)),
			func(m orchestrator.Message) bool {
				return !m.Private && m.ThreadID == 7 && m.ReplyToID == bot && m.ReplyToText == "progress" && m.ReplyToBot != ""
			}},
		{"button press", srv.PressButton(forum, bot, telegramtest.User{ID: 6}, "cancel:r1"),
			func(m orchestrator.Message) bool {
				return m.CallbackID != "" && m.CallbackData == "cancel:r1" && m.MessageID == bot &&
					m.ChatID == forum && m.ThreadID == 7 && m.UserID == 6 && m.Text == ""
			}},
	}
	last := tests[len(tests)-1].sent.UpdateID
	if last == 0 {
		t.Fatal("the button press was not queued: Poll does not ask for callback_query")
	}
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool { return s.Acked(last) })
	got := map[int64]orchestrator.Message{}
	for _, m := range rec.all() {
		got[m.UpdateID] = m
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, ok := got[tt.sent.UpdateID]; !ok || !tt.check(m) {
				t.Errorf("decoded %+v (handled: %v)", m, ok)
			}
		})
	}
}

func TestDecodeTopicOpenerIsNotAReply(t *testing.T) {
	var u telego.Update
	raw := `{"update_id": 9, "message": {"message_id": 12, "message_thread_id": 3, "is_topic_message": true,
		"date": 1700000000, "chat": {"id": -100, "type": "supergroup", "is_forum": true},
		"from": {"id": 5, "is_bot": false, "first_name": "A"}, "text": "hi",
		"reply_to_message": {"message_id": 3, "date": 1690000000, "chat": {"id": -100, "type": "supergroup"},
			"forum_topic_created": {"name": "t", "icon_color": 1}}}}`
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		t.Fatal(err)
	}
	m, ok := decode(update{Update: u})
	if !ok || m.ThreadID != 3 || m.ReplyToID != 0 || !m.Sent.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("decoded %+v", m)
	}
}

func TestPollSurvivesAnOutage(t *testing.T) {
	t.Parallel()
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	srv.SetDown(true)
	rec := &recorder{}
	poll(t, c, rec, &memOffset{})
	waitFor(t, srv, called("getUpdates", 502))
	srv.SetDown(false)
	sent := srv.UserSays(group, telegramtest.User{ID: 5}, "after the outage")
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool { return s.Acked(sent.UpdateID) })
	if n := len(rec.all()); n != 1 {
		t.Errorf("handled %d messages, want 1", n)
	}
}

func TestAnswerCallbackWhileTheChatIsPaused(t *testing.T) {
	t.Parallel()
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	id, err := c.Send(t.Context(), orchestrator.Outgoing{ChatID: private, Text: text("progress"),
		Buttons: []orchestrator.Button{{Text: "cancel", Data: "c"}}})
	if err != nil {
		t.Fatal(err)
	}
	press := srv.PressButton(private, id, telegramtest.User{ID: private}, "c")
	srv.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 3", 3)
	sent := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), orchestrator.Outgoing{ChatID: private, Text: text("final")})
		sent <- err
	}()
	waitFor(t, srv, called("sendMessage", 429))
	start := time.Now()
	if err := c.AnswerCallback(t.Context(), press.QueryID, "cancelling"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, called("answerCallbackQuery", 0))
	if took := time.Since(start); took > time.Second {
		t.Errorf("answer took %v: it waited for the paused chat", took)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// A second answer is refused; the answerer logs that and goes on.
	if err := c.AnswerCallback(t.Context(), press.QueryID, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, called("answerCallbackQuery", 400))
	if a := calls(srv, "answerCallbackQuery"); len(a) != 2 || !strings.Contains(a[1].Description, "query is too old") {
		t.Errorf("answers = %+v, want the second refused", a)
	}
}

func TestWritesAfterCloseFail(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(t.Context(), orchestrator.Outgoing{ChatID: group, Text: text("x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := c.Edit(t.Context(), group, 1, text("x"), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Edit after Close: %v", err)
	}
}

// stopper cancels the poll while handling its first message.
type stopper struct {
	recorder
	cancel context.CancelFunc
}

func (s *stopper) Handle(ctx context.Context, m orchestrator.Message) {
	s.recorder.Handle(ctx, m)
	s.cancel()
}

func TestPollLeavesTheRestOfABatchWhenStopped(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	first := srv.UserSays(group, telegramtest.User{ID: 5}, "one")
	srv.UserSays(group, telegramtest.User{ID: 5}, "two")
	ctx, cancel := context.WithCancel(context.Background())
	h := &stopper{cancel: cancel}
	off := &memOffset{}
	if err := c.Poll(ctx, h, off); err != nil {
		t.Fatal(err)
	}
	if msgs := h.all(); len(msgs) != 1 {
		t.Errorf("handled %d messages after the stop, want 1", len(msgs))
	}
	if id, ok, _ := off.Load(); !ok || id != first.UpdateID {
		t.Errorf("offset = %d, %v; want %d: the second update is the next start's", id, ok, first.UpdateID)
	}
}
