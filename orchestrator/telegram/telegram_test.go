package telegram

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

const chat = int64(-1001)

func newClient(t *testing.T, srv *telegramtest.Server) *Client {
	t.Helper()
	c, err := New(Options{Token: srv.Token(), APIURL: srv.URL(), PollTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEntitiesUseUTF16Offsets(t *testing.T) {
	s := "héllo 😀 `x` resume: claude --resume abc"
	code := "claude --resume abc"
	off := len(s) - len(code)
	got := entities(orchestrator.Text{S: s, Entities: []orchestrator.Entity{{Type: orchestrator.EntityCode, Offset: off, Length: len(code)}}})
	if len(got) != 1 {
		t.Fatalf("entities = %+v", got)
	}
	u := utf16.Encode([]rune(s))
	if txt := string(utf16.Decode(u[got[0].Offset : got[0].Offset+got[0].Length])); txt != code {
		t.Errorf("entity covers %q, want %q", txt, code)
	}
}

func TestSendEditDeleteAgainstTheServer(t *testing.T) {
	srv := telegramtest.NewServer(telegramtest.Options{})
	defer srv.Close()
	srv.AddChat(telegramtest.Chat{ID: chat, Type: "supergroup"})
	c := newClient(t, srv)
	ctx := context.Background()

	if name, err := c.CheckToken(ctx); err != nil || name == "" {
		t.Fatalf("CheckToken = %q, %v", name, err)
	}
	user := srv.UserSays(chat, telegramtest.User{ID: 5}, "hi")
	id, err := c.Send(ctx, orchestrator.Outgoing{ChatID: chat, ReplyTo: user.MessageID, Text: orchestrator.Text{S: "starting"}})
	if err != nil {
		t.Fatal(err)
	}
	text := orchestrator.Text{S: "working · `ls`", Entities: []orchestrator.Entity{{Type: orchestrator.EntityCode, Offset: len("working · "), Length: 4}}}
	if err := c.Edit(ctx, chat, id, text); err != nil {
		t.Fatal(err)
	}
	// The same text again is "message is not modified": a success.
	if err := c.Edit(ctx, chat, id, text); err != nil {
		t.Errorf("unchanged edit: %v", err)
	}
	if err := c.Delete(ctx, chat, id); err != nil {
		t.Fatal(err)
	}
	msgs := srv.BotMessages(chat)
	if len(msgs) != 1 || msgs[0].ReplyTo != user.MessageID || !msgs[0].Deleted || len(msgs[0].Edits) != 1 {
		t.Fatalf("messages = %+v", msgs)
	}
	if e := msgs[0].Edits[0].Entities; len(e) != 1 || e[0].Type != "code" || e[0].Offset != 10 || e[0].Length != 4 {
		t.Errorf("edit entities = %+v", e)
	}
}

func TestSendWaitsOutA429(t *testing.T) {
	srv := telegramtest.NewServer(telegramtest.Options{})
	defer srv.Close()
	srv.AddChat(telegramtest.Chat{ID: chat, Type: "supergroup"})
	srv.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 1", 1)
	c := newClient(t, srv)
	start := time.Now()
	if _, err := c.Send(context.Background(), orchestrator.Outgoing{ChatID: chat, Text: orchestrator.Text{S: "x"}}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("resent after %v, before retry_after", took)
	}
	if n := len(srv.BotMessages(chat)); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}

func TestPacingAvoids429InAPrivateChat(t *testing.T) {
	srv := telegramtest.NewServer(telegramtest.Options{})
	defer srv.Close()
	const private = int64(42)
	srv.AddChat(telegramtest.Chat{ID: private, Type: "private"})
	c := newClient(t, srv)
	for i := 0; i < 3; i++ {
		if _, err := c.Send(context.Background(), orchestrator.Outgoing{ChatID: private, Text: orchestrator.Text{S: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, call := range srv.Calls() {
		if call.ErrorCode == 429 {
			t.Errorf("server answered 429: the client did not pace")
		}
	}
}

func TestBadTokenIsAClearError(t *testing.T) {
	if _, err := New(Options{Token: "nonsense", APIURL: "http://127.0.0.1:1"}); err == nil {
		t.Fatal("malformed token accepted")
	}
	srv := telegramtest.NewServer(telegramtest.Options{})
	defer srv.Close()
	c, err := New(Options{Token: "987654321:AAE-untether-telegramtest-token-999", APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CheckToken(context.Background())
	if err == nil {
		t.Fatal("wrong token accepted")
	}
	if strings.Contains(err.Error(), "987654321:AAE") {
		t.Errorf("error leaks the token: %v", err)
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

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.msgs) }

type memOffset struct {
	mu    sync.Mutex
	id    int64
	ok    bool
	saves int
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
	m.saves++
	return nil
}

func TestPollHandsOverThenRecordsEachUpdate(t *testing.T) {
	srv := telegramtest.NewServer(telegramtest.Options{})
	defer srv.Close()
	srv.AddChat(telegramtest.Chat{ID: chat, Type: "supergroup"})
	c := newClient(t, srv)
	first := srv.UserSays(chat, telegramtest.User{ID: 5}, "one")
	// An earlier daemon handled "one" already.
	off := &memOffset{id: first.UpdateID, ok: true}
	second := srv.UserSays(chat, telegramtest.User{ID: 5}, "two", telegramtest.ReplyTo(first.MessageID))

	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- c.Poll(ctx, rec, off) }()
	if err := srv.WaitFor(ctx, func(s *telegramtest.Snapshot) bool { return s.Acked(second.UpdateID) }); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Poll returned %v after cancel", err)
	}
	if rec.count() != 1 || rec.msgs[0].Text != "two" || rec.msgs[0].ReplyToText != "one" || rec.msgs[0].UserID != 5 {
		t.Fatalf("handled %+v, want only \"two\" replying to \"one\"", rec.msgs)
	}
	if id, _, _ := off.Load(); id != second.UpdateID {
		t.Errorf("offset = %d, want %d", id, second.UpdateID)
	}
}

func TestPollSurvivesAnOutage(t *testing.T) {
	srv := telegramtest.NewServer(telegramtest.Options{})
	defer srv.Close()
	srv.AddChat(telegramtest.Chat{ID: chat, Type: "supergroup"})
	c := newClient(t, srv)
	srv.SetDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- c.Poll(ctx, rec, &memOffset{}) }()
	time.Sleep(300 * time.Millisecond)
	srv.SetDown(false)
	sent := srv.UserSays(chat, telegramtest.User{ID: 5}, "after the outage")
	if err := srv.WaitFor(ctx, func(s *telegramtest.Snapshot) bool { return s.Acked(sent.UpdateID) }); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if rec.count() != 1 {
		t.Errorf("handled %d messages, want 1", rec.count())
	}
}
