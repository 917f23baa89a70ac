package telegramtest

import (
	"slices"
	"time"
)

// sendMessageDraft (Bot API 9.3; open to every bot since 9.5; can_stop,
// keep_on_stop and the stopped_message_generation update since 10.3)
// streams a message being written to a private chat. As documented:
// chat_id is the private chat, draft_id a non-zero id whose changes are
// animated, text 0-4096 characters after entities parsing (empty shows a
// "Thinking…" placeholder), parse_mode or entities, message_thread_id,
// can_stop (a button that stops further drafts) and keep_on_stop (the draft
// stays when it is pressed). It returns True.
//
// Where the documentation says nothing, the server assumes: drafts count
// toward the private chat's flood limit like messages; the descriptions of
// its refusals are its own ("draft is available only in private chats",
// "draft_id must be non-zero", "text is too long"); a draft sent after the
// user stopped that draft is accepted and recorded with AfterStop.

// Draft is one sendMessageDraft the server accepted.
type Draft struct {
	ChatID, ThreadID, DraftID int64
	Text                      string
	Entities                  []Entity
	ParseMode                 string
	CanStop, KeepOnStop       bool
	// AfterStop: the user had stopped this draft already.
	AfterStop bool
	At        time.Time
}

type draftKey struct{ chat, thread, draft int64 }

// wireStopped is a stopped_message_generation update
// (MessageGenerationStopped).
type wireStopped struct {
	Chat     wireChat `json:"chat"`
	ThreadID int64    `json:"message_thread_id,omitempty"`
	DraftID  int64    `json:"draft_id"`
}

func (s *Server) sendMessageDraft(r *request) (any, *apiError) {
	if s.noDrafts {
		// An older Bot API server: the method does not exist.
		return nil, &apiError{code: 404, desc: descNotFound}
	}
	cs, aerr := s.chatLocked(r.p)
	if aerr != nil {
		return nil, aerr
	}
	if cs.chat.Type != "private" {
		return nil, badRequest("draft is available only in private chats")
	}
	id, present, err := r.p.int("draft_id")
	switch {
	case err != nil:
		return nil, badRequest(err.Error())
	case !present:
		return nil, badRequest("parameter \"draft_id\" is required")
	case id == 0:
		return nil, badRequest("draft_id must be non-zero")
	}
	thread, _, err := r.p.int("message_thread_id")
	if err != nil {
		return nil, badRequest(err.Error())
	}
	text, _ := r.p.str("text")
	if utf16Len(text) > maxTextLen {
		return nil, badRequest("text is too long")
	}
	if aerr := checkParseMode(r.p); aerr != nil {
		return nil, aerr
	}
	ents, aerr := readEntities(r.p, "entities", text)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.admitLocked(r, cs, true); aerr != nil {
		return nil, aerr
	}
	mode, _ := r.p.str("parse_mode")
	key := draftKey{cs.chat.ID, thread, id}
	s.drafts = append(s.drafts, Draft{
		ChatID: cs.chat.ID, ThreadID: thread, DraftID: id, Text: text, Entities: publicEntities(ents),
		ParseMode: mode, CanStop: r.p.bool("can_stop"), KeepOnStop: r.p.bool("keep_on_stop"),
		AfterStop: s.stoppedDrafts[key], At: r.now,
	})
	return true, nil
}

// Drafts returns the drafts the bot streamed to a chat, in order.
func (s *Server) Drafts(chatID int64) []Draft {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (&Snapshot{s: s}).Drafts(chatID)
}

// Drafts returns the drafts the bot streamed to a chat, in order.
func (v *Snapshot) Drafts(chatID int64) []Draft {
	var out []Draft
	for _, d := range v.s.drafts {
		if d.ChatID == chatID {
			d.Entities = slices.Clone(d.Entities)
			out = append(out, d)
		}
	}
	return out
}

// StopDraft has the user press Stop under the draft draftID of a private
// chat, as Telegram shows it for a draft sent with can_stop, and queues the
// stopped_message_generation update. ok is false, and nothing happens, when
// no such draft with can_stop was shown.
func (s *Server) StopDraft(chatID, draftID int64) (sent Sent, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.drafts, func(d Draft) bool {
		return d.ChatID == chatID && d.DraftID == draftID && d.CanStop
	})
	cs := s.chats[chatID]
	if i < 0 || cs == nil {
		return Sent{}, false
	}
	thread := s.drafts[i].ThreadID
	if s.stoppedDrafts == nil {
		s.stoppedDrafts = make(map[draftKey]bool)
	}
	s.stoppedDrafts[draftKey{chatID, thread, draftID}] = true
	w := &wireStopped{Chat: cs.wire(), ThreadID: thread, DraftID: draftID}
	id := s.enqueueLocked("stopped_message_generation", func(id int64) wireUpdate {
		return wireUpdate{UpdateID: id, StoppedMessageGeneration: w}
	})
	s.notifyLocked()
	return Sent{UpdateID: id}, true
}
