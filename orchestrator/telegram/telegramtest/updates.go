package telegramtest

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
	"unicode"
)

// queuedUpdate is an update waiting to be confirmed, rendered when it was
// made (a callback query shows its message as it was then).
type queuedUpdate struct {
	id   int64
	json json.RawMessage
}

// longPoll is the one getUpdates waiting for updates.
type longPoll struct {
	aborted bool
	abort   chan struct{}
}

type callbackQuery struct {
	issued   time.Time
	answered bool
}

// maxPollTimeout is the Bot API server's cap on getUpdates' timeout.
const maxPollTimeout = 50

// isUpdateKind reports whether allowed_updates may name kind.
func isUpdateKind(kind string) bool {
	switch kind {
	case "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
		"business_message", "edited_business_message", "deleted_business_messages", "message_reaction",
		"message_reaction_count", "inline_query", "chosen_inline_result", "callback_query",
		"shipping_query", "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer",
		"my_chat_member", "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
		"stopped_message_generation":
		return true
	}
	return false
}

type msgOpts struct {
	replyTo, threadID int64
}

// MsgOption qualifies a message a user sends.
type MsgOption func(*msgOpts)

// ReplyTo makes the message a reply to a message of the same chat.
func ReplyTo(messageID int64) MsgOption { return func(o *msgOpts) { o.replyTo = messageID } }

// InThread puts the message in a forum topic (message_thread_id).
func InThread(threadID int64) MsgOption { return func(o *msgOpts) { o.threadID = threadID } }

// Sent identifies what UserSays or PressButton made. UpdateID is 0 when the
// bot's allowed_updates exclude the update, which Telegram then never queues.
type Sent struct {
	UpdateID  int64
	MessageID int64
	// QueryID is the callback query's id (PressButton only).
	QueryID string
	// FileID is the file's file_id (UserSendsFile, UserSendsAlbum; a
	// photo's largest size).
	FileID string
}

// defaultUser fills a zero User: the peer of a private chat has the chat's id.
func defaultUser(chatID int64, from User) User {
	if from.ID == 0 {
		from.ID = 1000
		if chatID > 0 {
			from.ID = chatID
		}
	}
	if from.FirstName == "" {
		from.FirstName = "Tester"
	}
	return from
}

// UserSays has a user send a text message to a chat and queues the update.
// Text starting with "/" gets a bot_command entity, as Telegram adds.
func (s *Server) UserSays(chatID int64, from User, text string, opts ...MsgOption) Sent {
	var o msgOpts
	for _, opt := range opts {
		opt(&o)
	}
	from = defaultUser(chatID, from)
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.chatForUserLocked(chatID, from)
	m := &message{
		threadID: o.threadID,
		replyTo:  o.replyTo,
		from:     wireUser{ID: from.ID, FirstName: from.FirstName, Username: from.Username},
		text:     text,
		entities: commandEntities(text),
		sentAt:   time.Now(),
	}
	cs.add(m)
	w := cs.wireMessage(m, true)
	id := s.enqueueLocked("message", func(id int64) wireUpdate { return wireUpdate{UpdateID: id, Message: w} })
	s.notifyLocked()
	return Sent{UpdateID: id, MessageID: m.id}
}

// PressButton has a user press an inline button of a message and queues the
// callback_query update. A missing or deleted message is sent as an
// inaccessible one (date 0), as Telegram does.
func (s *Server) PressButton(chatID, messageID int64, from User, data string) Sent {
	from = defaultUser(chatID, from)
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.chatForUserLocked(chatID, from)
	s.nextQueryID++
	qid := strconv.FormatInt(4_000_000_000_000_000_000+s.botID%1_000_000*1_000_000+s.nextQueryID, 10)
	s.queries[qid] = &callbackQuery{issued: time.Now()}
	q := &wireCallbackQuery{
		ID:           qid,
		From:         wireUser{ID: from.ID, FirstName: from.FirstName, Username: from.Username},
		ChatInstance: cs.instance,
		Data:         data,
	}
	if m := cs.live(messageID); m != nil {
		q.Message = cs.wireMessage(m, true)
	} else {
		q.Message = wireInaccessible{Chat: cs.wire(), MessageID: messageID}
	}
	id := s.enqueueLocked("callback_query", func(id int64) wireUpdate {
		return wireUpdate{UpdateID: id, CallbackQuery: q}
	})
	s.notifyLocked()
	return Sent{UpdateID: id, MessageID: messageID, QueryID: qid}
}

// enqueueLocked queues an update unless allowed_updates exclude its kind.
func (s *Server) enqueueLocked(kind string, build func(id int64) wireUpdate) int64 {
	if s.allowed != nil && !s.allowed[kind] {
		return 0
	}
	id := s.nextUpdateID
	s.nextUpdateID++
	b, err := json.Marshal(build(id))
	if err != nil {
		panic("telegramtest: encode update: " + err.Error()) // only our own types are encoded
	}
	s.updates = append(s.updates, queuedUpdate{id: id, json: b})
	return id
}

// commandEntities marks a leading /command or /command@bot.
func commandEntities(text string) []wireEntity {
	if len(text) < 2 || text[0] != '/' {
		return nil
	}
	end := len(text)
	for i, r := range text {
		if unicode.IsSpace(r) {
			end = i
			break
		}
	}
	word := text[1:end]
	name, bot, hasBot := cutByte(word, '@')
	if !isCommandChars(name) || (hasBot && !isCommandChars(bot)) {
		return nil
	}
	return []wireEntity{{Type: "bot_command", Offset: 0, Length: utf16Len(text[:end])}}
}

func cutByte(s string, c byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func isCommandChars(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

type getUpdatesArgs struct {
	offset, limit, timeout int64
	allowed                []string
	hasAllowed             bool
}

func parseGetUpdates(p params) (getUpdatesArgs, *apiError) {
	a := getUpdatesArgs{limit: 100}
	var err error
	if a.offset, _, err = p.int("offset"); err != nil {
		return a, badRequest(err.Error())
	}
	var present bool
	if a.limit, present, err = p.int("limit"); err != nil {
		return a, badRequest(err.Error())
	} else if !present {
		a.limit = 100
	}
	a.limit = min(max(a.limit, 1), 100)
	if a.timeout, _, err = p.int("timeout"); err != nil {
		return a, badRequest(err.Error())
	}
	a.timeout = min(max(a.timeout, 0), maxPollTimeout)
	if a.hasAllowed, err = p.decode("allowed_updates", &a.allowed); err != nil {
		a.hasAllowed = false // Telegram ignores a malformed list
	}
	return a, nil
}

// getUpdates follows the Bot API server: confirm what lies below offset
// (negative: counted from the end), answer at once when updates wait or
// timeout is 0, else park as the one long poll, ending the previous one
// with 409 Conflict.
func (s *Server) getUpdates(ctx context.Context, p params) (any, *apiError) {
	a, aerr := parseGetUpdates(p)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.hasAllowed {
		s.setAllowedLocked(a.allowed)
	}
	s.confirmLocked(a.offset)
	if len(s.updates) > 0 || a.timeout == 0 {
		return s.serveLocked(a.limit), nil
	}
	if s.poll != nil {
		s.poll.aborted = true
		close(s.poll.abort)
	}
	poll := &longPoll{abort: make(chan struct{})}
	s.poll = poll
	defer func() {
		if s.poll == poll {
			s.poll = nil
		}
	}()
	timer := time.NewTimer(time.Duration(a.timeout) * time.Second)
	defer timer.Stop()
	for {
		switch {
		case poll.aborted:
			return nil, &apiError{code: http.StatusConflict, desc: descConflict}
		case s.down:
			return nil, &apiError{code: http.StatusBadGateway, desc: descBadGateway}
		case len(s.updates) > 0:
			return s.serveLocked(a.limit), nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-poll.abort:
		case <-timer.C:
			s.mu.Lock()
			return s.serveLocked(a.limit), nil
		case <-ctx.Done():
			s.mu.Lock()
			return s.serveLocked(0), nil // nobody reads it
		case <-s.ctx.Done():
			s.mu.Lock()
			return s.serveLocked(0), nil
		}
		s.mu.Lock()
	}
}

// confirmLocked forgets the updates below offset, as getUpdates does.
func (s *Server) confirmLocked(offset int64) {
	tail := s.nextUpdateID
	if offset < 0 {
		offset += tail
	}
	if offset <= s.confirmed {
		return
	}
	s.confirmed = offset
	drop := 0
	for drop < len(s.updates) && s.updates[drop].id < offset {
		drop++
	}
	s.updates = s.updates[drop:]
	s.notifyLocked()
}

// serveLocked returns up to limit waiting updates, noting when each was
// first served. The result is never null.
func (s *Server) serveLocked(limit int64) []json.RawMessage {
	n := min(int64(len(s.updates)), limit)
	out := make([]json.RawMessage, 0, n)
	now := time.Now()
	for _, u := range s.updates[:n] {
		if _, ok := s.served[u.id]; !ok {
			s.served[u.id] = now
		}
		out = append(out, u.json)
	}
	return out
}

// setAllowedLocked applies allowed_updates; an empty or unknown-only list
// restores the default (every kind this server makes), as Telegram does.
func (s *Server) setAllowedLocked(kinds []string) {
	set := make(map[string]bool)
	for _, k := range kinds {
		if isUpdateKind(k) {
			set[k] = true
		}
	}
	if len(set) == 0 {
		set = nil
	}
	s.allowed = set
}
