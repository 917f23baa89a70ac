package telegramtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Chat describes a chat the bot is in.
type Chat struct {
	ID int64
	// Type is "private", "group" or "supergroup". Empty: private for a
	// positive ID, supergroup for a negative one.
	Type string
	// Title of a group; for a private chat, the peer's first name.
	Title   string
	IsForum bool
}

// User is a person who talks to the bot.
type User struct {
	ID        int64
	FirstName string
	Username  string
}

// Entity is a MessageEntity.
type Entity struct {
	Type           string
	Offset, Length int // in UTF-16 code units
	URL, Language  string
	UserID         int64 // text_mention
	CustomEmojiID  string
}

// Edit is one successful edit of a message.
type Edit struct {
	Text        string
	Entities    []Entity
	ReplyMarkup json.RawMessage
	At          time.Time
}

// Message is a message of a chat as the server holds it: sent by the bot or
// by a user (UserSays).
type Message struct {
	ChatID, MessageID, ThreadID, ReplyTo int64
	FromBot                              bool
	From                                 User
	Text                                 string
	Entities                             []Entity
	// Kind is the file a message carries ("document", "photo", "voice",
	// "audio"), "" for a text message; Caption is then its caption.
	Kind    string
	Caption string
	// ReplyMarkup is the markup as sent, as canonical JSON (keys sorted).
	ReplyMarkup json.RawMessage
	SentAt      time.Time
	// Edits are the successful edits in order; Text, Entities and
	// ReplyMarkup hold the state after the last.
	Edits     []Edit
	Deleted   bool
	DeletedAt time.Time
}

// message is the server's record of a Message.
type message struct {
	id, threadID, replyTo int64
	from                  wireUser
	text                  string
	entities              []wireEntity
	markup                json.RawMessage
	media                 *media // nil for a text message
	sentAt                time.Time
	edits                 []Edit
	deleted               bool
	deletedAt             time.Time
}

type chatState struct {
	chat     Chat
	peer     User // the other side of a private chat
	nextID   int64
	msgs     []*message
	byID     map[int64]*message
	instance string // callback queries' chat_instance
}

func (cs *chatState) add(m *message) {
	cs.nextID++
	m.id = cs.nextID
	cs.msgs = append(cs.msgs, m)
	cs.byID[m.id] = m
}

// live returns a message that exists and was not deleted.
func (cs *chatState) live(id int64) *message {
	m := cs.byID[id]
	if m == nil || m.deleted {
		return nil
	}
	return m
}

func (cs *chatState) wire() wireChat {
	c := wireChat{ID: cs.chat.ID, Type: cs.chat.Type, IsForum: cs.chat.IsForum}
	if c.Type == "private" {
		c.FirstName = firstNonEmpty(cs.peer.FirstName, cs.chat.Title)
		c.Username = cs.peer.Username
		c.IsForum = false
	} else {
		c.Title = cs.chat.Title
	}
	return c
}

// wireMessage renders m; the replied-to message is rendered one level deep,
// as Telegram does.
func (cs *chatState) wireMessage(m *message, withReply bool) *wireMessage {
	from := m.from
	w := &wireMessage{
		MessageID:       m.id,
		MessageThreadID: m.threadID,
		From:            &from,
		Date:            m.sentAt.Unix(),
		Chat:            cs.wire(),
		IsTopicMessage:  m.threadID != 0 && cs.chat.IsForum,
		Text:            m.text,
		Entities:        m.entities,
	}
	if len(m.edits) > 0 {
		w.EditDate = m.edits[len(m.edits)-1].At.Unix()
	}
	if isInlineKeyboard(m.markup) {
		w.ReplyMarkup = m.markup
	}
	if m.media != nil {
		m.media.render(w)
	}
	if withReply && m.replyTo != 0 {
		if r := cs.live(m.replyTo); r != nil {
			w.ReplyToMessage = cs.wireMessage(r, false)
		}
	}
	return w
}

func (cs *chatState) public(m *message) Message {
	var kind, caption string
	if m.media != nil {
		kind, caption = m.media.kind, m.media.caption
	}
	return Message{
		Kind:        kind,
		Caption:     caption,
		ChatID:      cs.chat.ID,
		MessageID:   m.id,
		ThreadID:    m.threadID,
		ReplyTo:     m.replyTo,
		FromBot:     m.from.IsBot,
		From:        User{ID: m.from.ID, FirstName: m.from.FirstName, Username: m.from.Username},
		Text:        m.text,
		Entities:    publicEntities(m.entities),
		ReplyMarkup: slices.Clone(m.markup),
		SentAt:      m.sentAt,
		Edits:       cloneEdits(m.edits),
		Deleted:     m.deleted,
		DeletedAt:   m.deletedAt,
	}
}

func publicEntities(ws []wireEntity) []Entity {
	if len(ws) == 0 {
		return nil
	}
	out := make([]Entity, len(ws))
	for i, w := range ws {
		out[i] = Entity{Type: w.Type, Offset: w.Offset, Length: w.Length, URL: w.URL,
			Language: w.Language, CustomEmojiID: w.CustomEmojiID}
		if w.User != nil {
			out[i].UserID = w.User.ID
		}
	}
	return out
}

func cloneEdits(es []Edit) []Edit {
	if len(es) == 0 {
		return nil
	}
	out := make([]Edit, len(es))
	for i, e := range es {
		out[i] = Edit{Text: e.Text, Entities: slices.Clone(e.Entities),
			ReplyMarkup: slices.Clone(e.ReplyMarkup), At: e.At}
	}
	return out
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// AddChat declares a chat, or changes how an existing one is described; its
// messages are kept. Chats are also created on first use by UserSays and
// PressButton.
func (s *Server) AddChat(c Chat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Type == "" {
		c.Type = defaultChatType(c.ID)
	}
	if cs := s.chats[c.ID]; cs != nil {
		cs.chat = c
	} else {
		s.newChatLocked(c)
	}
	s.notifyLocked()
}

func defaultChatType(id int64) string {
	if id > 0 {
		return "private"
	}
	return "supergroup"
}

func (s *Server) newChatLocked(c Chat) *chatState {
	cs := &chatState{chat: c, byID: make(map[int64]*message), instance: strconv.FormatInt(c.ID*7919+1, 10)}
	s.chats[c.ID] = cs
	s.chatOrder = append(s.chatOrder, c.ID)
	return cs
}

// chatForUserLocked returns the chat a user writes in, creating it.
func (s *Server) chatForUserLocked(chatID int64, from User) *chatState {
	cs := s.chats[chatID]
	if cs == nil {
		cs = s.newChatLocked(Chat{ID: chatID, Type: defaultChatType(chatID), Title: fmt.Sprintf("chat %d", chatID)})
	}
	if cs.chat.Type == "private" && cs.peer.ID == 0 {
		cs.peer = from
	}
	return cs
}

// BotMessages returns copies of the messages the bot sent to a chat, in send
// order, deleted ones included.
func (s *Server) BotMessages(chatID int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (&Snapshot{s: s}).BotMessages(chatID)
}

// Messages returns copies of every message of a chat, the users' and the
// bot's, in order.
func (s *Server) Messages(chatID int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (&Snapshot{s: s}).Messages(chatID)
}

// Calls returns every request received so far, in arrival order, failed ones
// and getUpdates included. A call still running (a long poll) or stalled has
// HTTPStatus 0.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ServedAt reports when getUpdates first returned the update.
func (s *Server) ServedAt(updateID int64) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.served[updateID]
	return t, ok
}

// Acked reports whether the update was confirmed: a getUpdates with an
// offset above its id was received.
func (s *Server) Acked(updateID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return updateID < s.confirmed
}

// Snapshot is a read-only view of the server for WaitFor's condition. It is
// valid only during that call; its methods return copies.
type Snapshot struct {
	s *Server
}

// Messages returns every message of a chat, users' and bot's, in order.
func (v *Snapshot) Messages(chatID int64) []Message {
	return v.messages(chatID, false)
}

// BotMessages returns the bot's messages of a chat, in send order.
func (v *Snapshot) BotMessages(chatID int64) []Message {
	return v.messages(chatID, true)
}

func (v *Snapshot) messages(chatID int64, botOnly bool) []Message {
	cs := v.s.chats[chatID]
	if cs == nil {
		return nil
	}
	var out []Message
	for _, m := range cs.msgs {
		if !botOnly || m.from.IsBot {
			out = append(out, cs.public(m))
		}
	}
	return out
}

// Calls returns every request so far, in arrival order.
func (v *Snapshot) Calls() []Call { return slices.Clone(v.s.calls) }

// Served reports when getUpdates first returned the update.
func (v *Snapshot) Served(updateID int64) (time.Time, bool) {
	t, ok := v.s.served[updateID]
	return t, ok
}

// Acked reports whether the update was confirmed.
func (v *Snapshot) Acked(updateID int64) bool { return updateID < v.s.confirmed }

// ErrClosed is returned by WaitFor once the server is closed.
var ErrClosed = errors.New("telegramtest server closed")

// WaitFor blocks until cond holds, evaluating it now and after every change
// of the server's state (a call, a message, an update). cond runs with the
// server locked: it must not call the Server's methods, only the Snapshot's.
// When ctx ends first, the error wraps ctx.Err() and shows every chat's
// messages and the last calls, so a failing test says what happened.
func (s *Server) WaitFor(ctx context.Context, cond func(s *Snapshot) bool) error {
	for {
		s.mu.Lock()
		ok := cond(&Snapshot{s: s})
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-s.ctx.Done():
			return ErrClosed
		case <-ctx.Done():
			s.mu.Lock()
			dump := s.dumpLocked()
			s.mu.Unlock()
			return fmt.Errorf("wait for telegram state: %w\n%s", ctx.Err(), dump)
		}
	}
}

// dumpCalls is how many of the last calls a dump shows.
const dumpCalls = 20

// dumpLocked describes the chats and the last calls for a failure message.
func (s *Server) dumpLocked() string {
	var b strings.Builder
	for _, id := range s.chatOrder {
		cs := s.chats[id]
		fmt.Fprintf(&b, "chat %d (%s):\n", id, cs.chat.Type)
		for _, m := range cs.msgs {
			who := "user " + strconv.FormatInt(m.from.ID, 10)
			if m.from.IsBot {
				who = "bot"
			}
			var notes []string
			if len(m.edits) > 0 {
				notes = append(notes, fmt.Sprintf("edited %dx", len(m.edits)))
			}
			if m.deleted {
				notes = append(notes, "deleted")
			}
			if len(m.markup) > 0 {
				notes = append(notes, "markup "+string(m.markup))
			}
			text := m.text
			if m.media != nil {
				notes = append(notes, strings.TrimSpace(m.media.kind+" "+m.media.name))
				text = m.media.caption
			}
			fmt.Fprintf(&b, "  #%d %s: %q", m.id, who, text)
			if len(notes) > 0 {
				fmt.Fprintf(&b, " [%s]", strings.Join(notes, ", "))
			}
			b.WriteByte('\n')
		}
	}
	start := max(0, len(s.calls)-dumpCalls)
	fmt.Fprintf(&b, "last %d of %d calls:\n", len(s.calls)-start, len(s.calls))
	for _, c := range s.calls[start:] {
		fmt.Fprintf(&b, "  %s %s -> %d", c.At.Format("15:04:05.000"), c.Method, c.HTTPStatus)
		if c.Description != "" {
			fmt.Fprintf(&b, " %s", c.Description)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
