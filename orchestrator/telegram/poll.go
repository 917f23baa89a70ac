package telegram

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/untether-go/untether/orchestrator"
)

// Poll runs the getUpdates loop until ctx ends: each update is handed to h,
// then recorded in offsets, so a restart neither repeats nor loses it. It
// asks for messages, inline-button presses and (unless drafts are off) the
// user's Stop under a draft. Transient errors are retried
// with backoff, and so is a getUpdates that has not answered within
// PollTimeout plus PollMargin (a connection the server or a middlebox left
// hanging). It returns nil when ctx ends, an error only when offsets fails.
func (c *Client) Poll(ctx context.Context, h Handler, offsets OffsetStore) error {
	last, ok, err := offsets.Load()
	if err != nil {
		return err
	}
	var offset int64
	if ok {
		offset = last + 1
	}
	wait := time.Second
	for ctx.Err() == nil {
		updates, err := c.getUpdates(ctx, offset)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("telegram getUpdates failed", "err", c.redact(err), "retry_in", wait)
			if !sleep(ctx, retryDelay(err, wait)) {
				return nil
			}
			wait = min(wait*2, 30*time.Second)
			continue
		}
		wait = time.Second
		if c.opts.OnPolled != nil {
			c.opts.OnPolled()
		}
		for _, u := range updates {
			if ctx.Err() != nil {
				// Stopping: leave the rest unconfirmed for the next start.
				return nil
			}
			if m, ok := decode(u); ok {
				h.Handle(ctx, m)
			}
			if err := offsets.Save(int64(u.UpdateID)); err != nil {
				return fmt.Errorf("record update %d as handled: %w", u.UpdateID, err)
			}
			offset = int64(u.UpdateID) + 1
		}
	}
	return nil
}

// update is an update as getUpdates returns it: telego's, and the
// stopped_message_generation (Bot API 10.3) telego v1.6 does not know.
type update struct {
	telego.Update
	Stopped *stoppedGeneration `json:"stopped_message_generation,omitempty"`
}

// stoppedGeneration is MessageGenerationStopped: the user pressed Stop under
// a draft sent with can_stop.
type stoppedGeneration struct {
	Chat     telego.Chat `json:"chat"`
	ThreadID int64       `json:"message_thread_id,omitempty"`
	DraftID  int64       `json:"draft_id"`
}

// getUpdates long-polls once, giving up PollMargin after the server
// should have answered. The call is made by call, not telego, to read the
// updates telego does not know.
func (c *Client) getUpdates(ctx context.Context, offset int64) ([]update, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.PollTimeout+c.opts.PollMargin)
	defer cancel()
	allowed := []string{"message", "callback_query"}
	if !c.opts.NoDrafts {
		allowed = append(allowed, "stopped_message_generation")
	}
	var updates []update
	err := c.call(ctx, "getUpdates", &telego.GetUpdatesParams{
		Offset:         int(offset),
		Timeout:        int(c.opts.PollTimeout / time.Second),
		AllowedUpdates: allowed,
	}, &updates)
	return updates, err
}

// decode turns an update into an orchestrator message; ok is false for
// updates the bridge does not act on.
func decode(full update) (orchestrator.Message, bool) {
	u := full.Update
	if s := full.Stopped; s != nil {
		return decodeStopped(u.UpdateID, s)
	}
	if q := u.CallbackQuery; q != nil {
		return decodeCallback(u.UpdateID, q)
	}
	msg := u.Message
	if msg == nil || msg.From == nil || msg.From.IsBot {
		return orchestrator.Message{}, false
	}
	m := orchestrator.Message{
		UpdateID:  int64(u.UpdateID),
		ChatID:    msg.Chat.ID,
		ThreadID:  threadOf(msg),
		MessageID: int64(msg.MessageID),
		UserID:    msg.From.ID,
		Private:   msg.Chat.Type == telego.ChatTypePrivate,
		Text:      msg.Text,
	}
	if a, ok := attachment(msg); ok {
		m.Files = []orchestrator.Attachment{a}
		m.Text = msg.Caption
		m.MediaGroup = msg.MediaGroupID
	}
	if msg.Date > 0 {
		m.Sent = time.Unix(msg.Date, 0)
	}
	// In a forum topic, a message that replies to nothing still carries the
	// topic's opening service message as reply_to_message.
	if r := msg.ReplyToMessage; r != nil && r.ForumTopicCreated == nil {
		m.ReplyToID = int64(r.MessageID)
		m.ReplyToText = r.Text
		if m.ReplyToText == "" {
			m.ReplyToText = r.Caption
		}
		if r.From != nil && r.From.IsBot {
			m.ReplyToBot = r.From.Username
		}
	}
	return m, true
}

// attachment is the file a message carries: a document, a photo (its
// largest size), a voice note or an audio file. Other media (video,
// stickers) are not taken.
func attachment(msg *telego.Message) (orchestrator.Attachment, bool) {
	switch {
	case msg.Document != nil:
		d := msg.Document
		return orchestrator.Attachment{Kind: orchestrator.AttachDocument, FileID: d.FileID,
			Name: d.FileName, MIME: d.MimeType, Size: d.FileSize}, true
	case len(msg.Photo) > 0:
		p := largestPhoto(msg.Photo)
		// Telegram stores every photo as a JPEG.
		return orchestrator.Attachment{Kind: orchestrator.AttachPhoto, FileID: p.FileID,
			MIME: "image/jpeg", Size: int64(p.FileSize)}, true
	case msg.Voice != nil:
		v := msg.Voice
		return orchestrator.Attachment{Kind: orchestrator.AttachVoice, FileID: v.FileID,
			MIME: v.MimeType, Size: v.FileSize}, true
	case msg.Audio != nil:
		a := msg.Audio
		return orchestrator.Attachment{Kind: orchestrator.AttachAudio, FileID: a.FileID,
			Name: a.FileName, MIME: a.MimeType, Size: a.FileSize}, true
	}
	return orchestrator.Attachment{}, false
}

// largestPhoto picks the size with the most pixels, then the most bytes:
// Telegram lists them smallest first, but does not promise it.
func largestPhoto(sizes []telego.PhotoSize) telego.PhotoSize {
	best := sizes[0]
	for _, p := range sizes[1:] {
		pa, ba := p.Width*p.Height, best.Width*best.Height
		if pa > ba || pa == ba && p.FileSize > best.FileSize {
			best = p
		}
	}
	return best
}

// threadOf is the forum topic of a message, replies included; 0 outside
// forums, where message_thread_id names a reply thread, not a topic.
func threadOf(msg *telego.Message) int64 {
	if msg.IsTopicMessage {
		return int64(msg.MessageThreadID)
	}
	return 0
}

// decodeCallback turns an inline-button press into a message whose
// MessageID is the message holding the button.
func decodeCallback(updateID int, q *telego.CallbackQuery) (orchestrator.Message, bool) {
	if q.Message == nil || q.From.IsBot {
		return orchestrator.Message{}, false // a button of an inline-mode message
	}
	chat := q.Message.GetChat()
	m := orchestrator.Message{
		UpdateID:     int64(updateID),
		ChatID:       chat.ID,
		MessageID:    int64(q.Message.GetMessageID()),
		UserID:       q.From.ID,
		Private:      chat.Type == telego.ChatTypePrivate,
		CallbackID:   q.ID,
		CallbackData: q.Data,
	}
	if held := q.Message.Message(); held != nil {
		m.ThreadID = threadOf(held)
	}
	return m, true
}

// decodeStopped turns the user's Stop under a draft into a message. Drafts
// are in private chats, whose id is the user's.
func decodeStopped(updateID int, s *stoppedGeneration) (orchestrator.Message, bool) {
	if s.Chat.Type != telego.ChatTypePrivate || s.DraftID == 0 {
		return orchestrator.Message{}, false
	}
	return orchestrator.Message{
		UpdateID:     int64(updateID),
		ChatID:       s.Chat.ID,
		ThreadID:     s.ThreadID,
		UserID:       s.Chat.ID,
		Private:      true,
		StoppedDraft: s.DraftID,
	}, true
}

// retryDelay honours a 429's retry_after, else uses backoff.
func retryDelay(err error, backoff time.Duration) time.Duration {
	var apiErr *ta.Error
	if errors.As(err, &apiErr) && apiErr.Parameters != nil && apiErr.Parameters.RetryAfter > 0 {
		return time.Duration(apiErr.Parameters.RetryAfter) * time.Second
	}
	return backoff
}
