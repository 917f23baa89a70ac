package telegram

import (
	"context"
	"errors"
	"fmt"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/untether-go/untether/orchestrator"
)

// Drafts (sendMessageDraft, Bot API 9.3, open to every bot since 9.5) show
// an answer while it is written in a private chat. They go through the
// outbox like edits: paced with the chat's other writes, after its sends,
// deletes and edits, the newest text of a draft replacing a pending one. A
// send to the chat drops the drafts still queued there, so that no draft
// comes after the message it was the preview of. can_stop (Bot API 10.3)
// shows the user a Stop button; pressing it comes back as the
// stopped_message_generation update (see Poll).
//
// A server that does not know the method (an older self-hosted Bot API
// server answers 404) turns drafts off for the client's life: Draft then
// fails with orchestrator.ErrNoDrafts, and the caller carries on without.

var _ orchestrator.Drafter = (*Client)(nil)

// draftParams are sendMessageDraft's parameters; telego's lack can_stop.
type draftParams struct {
	ChatID          int64                  `json:"chat_id"`
	MessageThreadID int64                  `json:"message_thread_id,omitempty"`
	DraftID         int64                  `json:"draft_id"`
	Text            string                 `json:"text"`
	Entities        []telego.MessageEntity `json:"entities,omitempty"`
	CanStop         bool                   `json:"can_stop,omitempty"`
}

// Draft queues d for the draft's private chat and returns; see
// orchestrator.Drafter. It fails with orchestrator.ErrNoDrafts when drafts
// are off (Options.NoDrafts, or the server refused the method), and for a
// chat that is not private or a zero draft id.
func (c *Client) Draft(_ context.Context, d orchestrator.Draft) error {
	switch {
	case c.opts.NoDrafts || c.draftsOff.Load():
		return fmt.Errorf("telegram sendMessageDraft: %w", orchestrator.ErrNoDrafts)
	case d.ChatID <= 0:
		return errors.New("telegram sendMessageDraft: drafts are for private chats")
	case d.ID == 0:
		return errors.New("telegram sendMessageDraft: no draft id")
	}
	p := &draftParams{ChatID: d.ChatID, MessageThreadID: d.ThreadID, DraftID: d.ID,
		Text: d.Text.S, Entities: entities(d.Text), CanStop: true}
	if err := c.out.enqueue(&op{kind: opDraft, chatID: d.ChatID, msgID: d.ID, draft: p}); err != nil {
		return fmt.Errorf("telegram sendMessageDraft: %w", err)
	}
	return nil
}

// sendDraft calls sendMessageDraft. A 404 (the server has no such method)
// turns drafts off and counts as done: there is nothing to retry.
func (c *Client) sendDraft(ctx context.Context, p *draftParams) error {
	err := c.call(ctx, "sendMessageDraft", p, nil)
	var apiErr *ta.Error
	if errors.As(err, &apiErr) && apiErr.ErrorCode == 404 {
		if !c.draftsOff.Swap(true) {
			c.log.Info("the Bot API server has no sendMessageDraft: answers are no longer streamed as drafts")
		}
		return nil
	}
	return err
}
