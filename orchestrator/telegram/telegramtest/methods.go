package telegramtest

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Every method here runs with s.mu held. Validation comes first, then flood
// control, then the effect: a refused call changes nothing.

func (s *Server) botUser() wireUser {
	return wireUser{ID: s.botID, IsBot: true, FirstName: "Untether Test", Username: s.username}
}

func (s *Server) getMe(*request) (any, *apiError) {
	return wireMe{wireUser: s.botUser(), CanJoinGroups: true}, nil
}

// chatLocked resolves chat_id: an integer or a numeric string. Chats are
// known once added or once a user wrote in them.
func (s *Server) chatLocked(p params) (*chatState, *apiError) {
	if _, ok := p.str("chat_id"); !ok {
		return nil, badRequest("chat_id is empty")
	}
	id, _, err := p.int("chat_id")
	if err != nil { // @channelusername: no such chat here
		return nil, badRequest("chat not found")
	}
	cs := s.chats[id]
	if cs == nil {
		return nil, badRequest("chat not found")
	}
	return cs, nil
}

// admitLocked applies flood control to a write call; cs is nil for calls
// outside any chat.
func (s *Server) admitLocked(r *request, cs *chatState, perChat bool) *apiError {
	var id int64
	var typ string
	if cs != nil {
		id, typ = cs.chat.ID, cs.chat.Type
	}
	if retry, ok := s.limiter.admit(r.now, id, typ, perChat && cs != nil); !ok {
		return tooManyRequests(retry)
	}
	return nil
}

func checkParseMode(p params) *apiError {
	mode, _ := p.str("parse_mode")
	switch mode {
	case "", "MarkdownV2", "Markdown", "HTML":
		return nil
	}
	return badRequest("unsupported parse_mode")
}

// replyTarget reads reply_parameters, or the older
// reply_to_message_id and allow_sending_without_reply.
func replyTarget(cs *chatState, p params) (int64, *apiError) {
	var rp struct {
		MessageID                int64 `json:"message_id"`
		AllowSendingWithoutReply bool  `json:"allow_sending_without_reply"`
	}
	present, err := p.decode("reply_parameters", &rp)
	if err != nil {
		return 0, badRequest("can't parse reply parameters JSON object")
	}
	if !present {
		if rp.MessageID, _, err = p.int("reply_to_message_id"); err != nil {
			return 0, badRequest(err.Error())
		}
		rp.AllowSendingWithoutReply = p.bool("allow_sending_without_reply")
	}
	if rp.MessageID == 0 {
		return 0, nil
	}
	if cs.live(rp.MessageID) == nil {
		if rp.AllowSendingWithoutReply {
			return 0, nil
		}
		return 0, badRequest("message to be replied not found")
	}
	return rp.MessageID, nil
}

// sendParams are what every send takes besides its content.
type sendParams struct {
	entities []wireEntity
	markup   json.RawMessage
	thread   int64
	replyTo  int64
}

// readSend reads and checks a send's parse mode, the entities of its text
// (under entitiesKey), its markup, thread and reply.
func readSend(cs *chatState, p params, entitiesKey, text string) (sendParams, *apiError) {
	var sp sendParams
	if aerr := checkParseMode(p); aerr != nil {
		return sp, aerr
	}
	var aerr *apiError
	if sp.entities, aerr = readEntities(p, entitiesKey, text); aerr != nil {
		return sp, aerr
	}
	if sp.markup, aerr = readMarkup(p); aerr != nil {
		return sp, aerr
	}
	thread, _, err := p.int("message_thread_id")
	if err != nil {
		return sp, badRequest(err.Error())
	}
	sp.thread = thread
	sp.replyTo, aerr = replyTarget(cs, p)
	return sp, aerr
}

func (s *Server) sendMessage(r *request) (any, *apiError) {
	cs, aerr := s.chatLocked(r.p)
	if aerr != nil {
		return nil, aerr
	}
	text, _ := r.p.str("text")
	if aerr := checkText(text, "message is too long"); aerr != nil {
		return nil, aerr
	}
	sp, aerr := readSend(cs, r.p, "entities", text)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.admitLocked(r, cs, true); aerr != nil {
		return nil, aerr
	}
	m := &message{threadID: sp.thread, replyTo: sp.replyTo, from: s.botUser(), text: text,
		entities: sp.entities, markup: sp.markup, sentAt: r.now}
	cs.add(m)
	return cs.wireMessage(m, true), nil
}

// editTargetLocked finds the message an edit names.
func (s *Server) editTargetLocked(p params) (*chatState, *message, *apiError) {
	if _, ok := p.str("inline_message_id"); ok {
		return nil, nil, badRequest("inline messages are not supported by telegramtest")
	}
	cs, aerr := s.chatLocked(p)
	if aerr != nil {
		return nil, nil, aerr
	}
	id, present, err := p.int("message_id")
	if err != nil || !present {
		return nil, nil, badRequest("message identifier is not specified")
	}
	m := cs.live(id)
	if m == nil {
		return nil, nil, badRequest("message to edit not found")
	}
	if !m.from.IsBot {
		return nil, nil, badRequest("message can't be edited")
	}
	return cs, m, nil
}

func (s *Server) editMessageText(r *request) (any, *apiError) {
	cs, m, aerr := s.editTargetLocked(r.p)
	if aerr != nil {
		return nil, aerr
	}
	if m.media != nil {
		return nil, badRequest("there is no text in the message to edit")
	}
	text, _ := r.p.str("text")
	if aerr := checkText(text, "MESSAGE_TOO_LONG"); aerr != nil {
		return nil, aerr
	}
	if aerr := checkParseMode(r.p); aerr != nil {
		return nil, aerr
	}
	ents, aerr := readEntities(r.p, "entities", text)
	if aerr != nil {
		return nil, aerr
	}
	markup, aerr := readMarkup(r.p)
	if aerr != nil {
		return nil, aerr
	}
	return s.applyEditLocked(r, cs, m, text, ents, markup)
}

// editMessageReplyMarkup changes only the keyboard; no markup removes it.
func (s *Server) editMessageReplyMarkup(r *request) (any, *apiError) {
	cs, m, aerr := s.editTargetLocked(r.p)
	if aerr != nil {
		return nil, aerr
	}
	markup, aerr := readMarkup(r.p)
	if aerr != nil {
		return nil, aerr
	}
	return s.applyEditLocked(r, cs, m, m.text, m.entities, markup)
}

// applyEditLocked refuses a no-op edit, applies flood control and records
// the edit. An edit without reply_markup drops the keyboard, as Telegram's.
func (s *Server) applyEditLocked(r *request, cs *chatState, m *message, text string,
	ents []wireEntity, markup json.RawMessage) (any, *apiError) {
	if text == m.text && entitiesEqual(ents, m.entities) && bytes.Equal(markup, m.markup) {
		return nil, badRequest(descNotModified)
	}
	if aerr := s.admitLocked(r, cs, s.limiter.limits.CountEdits); aerr != nil {
		return nil, aerr
	}
	m.text, m.entities, m.markup = text, ents, markup
	m.edits = append(m.edits, Edit{Text: text, Entities: publicEntities(ents),
		ReplyMarkup: slices.Clone(markup), At: r.now})
	return cs.wireMessage(m, true), nil
}

func (s *Server) deleteMessage(r *request) (any, *apiError) {
	cs, aerr := s.chatLocked(r.p)
	if aerr != nil {
		return nil, aerr
	}
	id, present, err := r.p.int("message_id")
	if err != nil || !present {
		return nil, badRequest("message identifier is not specified")
	}
	m := cs.live(id)
	if m == nil {
		return nil, badRequest("message to delete not found")
	}
	if aerr := s.admitLocked(r, cs, false); aerr != nil {
		return nil, aerr
	}
	m.deleted, m.deletedAt = true, r.now
	return true, nil
}

func (s *Server) answerCallbackQuery(r *request) (any, *apiError) {
	id, _ := r.p.str("callback_query_id")
	q := s.queries[id]
	if q == nil || q.answered || r.now.Sub(q.issued) > s.cbTTL {
		return nil, badRequest(descQueryTooOld)
	}
	if text, _ := r.p.str("text"); utf16Len(text) > 200 {
		return nil, badRequest("MESSAGE_TOO_LONG")
	}
	if aerr := s.admitLocked(r, nil, false); aerr != nil {
		return nil, aerr
	}
	q.answered = true
	return true, nil
}

// commandsKey names the (scope, language) a command list belongs to.
func commandsKey(p params) (string, *apiError) {
	scope, err := p.raw("scope")
	if err != nil {
		return "", badRequest("can't parse BotCommandScope JSON object")
	}
	if scope == nil {
		scope = json.RawMessage(`{"type":"default"}`)
	}
	lang, _ := p.str("language_code")
	return string(scope) + "|" + lang, nil
}

func (s *Server) setMyCommands(r *request) (any, *apiError) {
	var cmds []wireCommand
	present, err := r.p.decode("commands", &cmds)
	if err != nil {
		return nil, badRequest("can't parse commands JSON object")
	}
	if !present {
		return nil, badRequest("parameter \"commands\" is required")
	}
	if aerr := checkCommands(cmds); aerr != nil {
		return nil, aerr
	}
	key, aerr := commandsKey(r.p)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.admitLocked(r, nil, false); aerr != nil {
		return nil, aerr
	}
	s.commands[key] = slices.Clone(cmds)
	return true, nil
}

func (s *Server) getMyCommands(r *request) (any, *apiError) {
	key, aerr := commandsKey(r.p)
	if aerr != nil {
		return nil, aerr
	}
	return append([]wireCommand{}, s.commands[key]...), nil
}

func (s *Server) deleteMyCommands(r *request) (any, *apiError) {
	key, aerr := commandsKey(r.p)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.admitLocked(r, nil, false); aerr != nil {
		return nil, aerr
	}
	delete(s.commands, key)
	return true, nil
}

// BotCommand is one entry of the bot's command menu.
type BotCommand struct {
	Command, Description string
}

// Commands returns the command menu set for the default scope and language.
func (s *Server) Commands() []BotCommand {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []BotCommand
	for _, c := range s.commands[`{"type":"default"}|`] {
		out = append(out, BotCommand(c))
	}
	return out
}

func isChatAction(a string) bool {
	switch a {
	case "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
		"upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note":
		return true
	}
	return false
}

func (s *Server) sendChatAction(r *request) (any, *apiError) {
	cs, aerr := s.chatLocked(r.p)
	if aerr != nil {
		return nil, aerr
	}
	if action, _ := r.p.str("action"); !isChatAction(action) {
		return nil, badRequest("wrong parameter action in request")
	}
	if aerr := s.admitLocked(r, cs, false); aerr != nil {
		return nil, aerr
	}
	return true, nil
}

// deleteWebhook succeeds (there is never a webhook); drop_pending_updates
// confirms every queued update.
func (s *Server) deleteWebhook(r *request) (any, *apiError) {
	if aerr := s.admitLocked(r, nil, false); aerr != nil {
		return nil, aerr
	}
	if r.p.bool("drop_pending_updates") {
		s.confirmLocked(s.nextUpdateID)
	}
	return true, nil
}

func (s *Server) getWebhookInfo(*request) (any, *apiError) {
	return map[string]any{"url": "", "has_custom_certificate": false,
		"pending_update_count": len(s.updates)}, nil
}
