package telegram

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/untether-go/untether/orchestrator"
)

// Send queues a message behind the chat's earlier sends and waits until it
// is sent (its id), has failed (the error: a Bot API refusal such as "chat
// not found" is returned at once, 429s and network errors are retried
// first), or ctx ends. A message still queued when ctx ends is withdrawn
// and ctx.Err() returned; one already on the wire is not cut off (Telegram
// may have taken it): Send waits for its outcome, at most one call's
// timeout, and returns its id if it arrived. Sends to one chat are made in
// the order Send was called.
func (c *Client) Send(ctx context.Context, m orchestrator.Outgoing) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("telegram sendMessage: %w", err)
	}
	o := &op{kind: opSend, chatID: m.ChatID, send: sendParams(m), ctx: ctx, done: make(chan sendResult, 1)}
	return c.await(ctx, o)
}

// Edit queues a new text and buttons for a message (nil buttons removes
// them) and returns: it does not wait for the edit, nor use ctx. A pending
// edit of the same message is replaced (newest wins); a Delete of the
// message drops it. "message is not modified" counts as success; other
// failures are logged, once per message. It fails only after Close or
// without a message id.
func (c *Client) Edit(_ context.Context, chatID, messageID int64, t orchestrator.Text, buttons []orchestrator.Button) error {
	if messageID <= 0 {
		return fmt.Errorf("telegram editMessageText: no message id")
	}
	params := &telego.EditMessageTextParams{
		ChatID:             telego.ChatID{ID: chatID},
		MessageID:          int(messageID),
		Text:               t.S,
		Entities:           entities(t),
		LinkPreviewOptions: &telego.LinkPreviewOptions{IsDisabled: true},
		// Without reply_markup, Telegram removes the inline keyboard.
		ReplyMarkup: keyboard(buttons),
	}
	if err := c.out.enqueue(&op{kind: opEdit, chatID: chatID, msgID: messageID, edit: params}); err != nil {
		return fmt.Errorf("telegram editMessageText: %w", err)
	}
	return nil
}

// Delete queues the deletion of a message, which drops the message's
// pending edit, and waits until it is done or has failed, or ctx ends (the
// deletion then stays queued). Failures are also logged; "message to
// delete not found" is not retried.
func (c *Client) Delete(ctx context.Context, chatID, messageID int64) error {
	if messageID <= 0 {
		return fmt.Errorf("telegram deleteMessage: no message id")
	}
	o := &op{kind: opDelete, chatID: chatID, msgID: messageID, done: make(chan sendResult, 1)}
	if err := c.out.enqueue(o); err != nil {
		return fmt.Errorf("telegram deleteMessage: %w", err)
	}
	select {
	case r := <-o.done:
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("telegram deleteMessage: %w", ctx.Err())
	}
}

// perform makes the API call of a write; the id is a sent message's.
func (c *Client) perform(ctx context.Context, o *op) (int64, error) {
	switch o.kind {
	case opSend:
		if o.file != nil {
			return c.sendFile(ctx, o.file)
		}
		m, err := c.bot.SendMessage(ctx, o.send)
		if err != nil {
			return 0, err
		}
		return int64(m.MessageID), nil
	case opEdit:
		_, err := c.bot.EditMessageText(ctx, o.edit)
		return 0, err
	case opDraft:
		return 0, c.sendDraft(ctx, o.draft)
	default:
		return 0, c.bot.DeleteMessage(ctx, &telego.DeleteMessageParams{
			ChatID: telego.ChatID{ID: o.chatID}, MessageID: int(o.msgID),
		})
	}
}

func sendParams(m orchestrator.Outgoing) *telego.SendMessageParams {
	p := &telego.SendMessageParams{
		ChatID:             telego.ChatID{ID: m.ChatID},
		MessageThreadID:    int(m.ThreadID),
		Text:               m.Text.S,
		Entities:           entities(m.Text),
		LinkPreviewOptions: &telego.LinkPreviewOptions{IsDisabled: true},
	}
	if m.ReplyTo != 0 {
		p.ReplyParameters = &telego.ReplyParameters{MessageID: int(m.ReplyTo), AllowSendingWithoutReply: true}
	}
	// Only a non-nil keyboard: a nil pointer in the interface would be sent
	// as "reply_markup": null.
	if kb := keyboard(m.Buttons); kb != nil {
		p.ReplyMarkup = kb
	}
	return p
}

// keyboard is one row of inline buttons; nil for none.
func keyboard(buttons []orchestrator.Button) *telego.InlineKeyboardMarkup {
	if len(buttons) == 0 {
		return nil
	}
	row := make([]telego.InlineKeyboardButton, len(buttons))
	for i, b := range buttons {
		row[i] = telego.InlineKeyboardButton{Text: b.Text, CallbackData: b.Data}
	}
	return &telego.InlineKeyboardMarkup{InlineKeyboard: [][]telego.InlineKeyboardButton{row}}
}

// entities converts byte-offset entities to Telegram's UTF-16 offsets.
func entities(t orchestrator.Text) []telego.MessageEntity {
	if len(t.Entities) == 0 {
		return nil
	}
	out := make([]telego.MessageEntity, 0, len(t.Entities))
	for _, e := range t.Entities {
		if e.Offset < 0 || e.Length <= 0 || e.Offset+e.Length > len(t.S) {
			continue
		}
		start := utf16Len(t.S[:e.Offset])
		length := utf16Len(t.S[e.Offset : e.Offset+e.Length])
		out = append(out, telego.MessageEntity{
			Type: string(e.Type), Offset: start, Length: length, Language: e.Language, URL: e.URL,
		})
	}
	return out
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// verdict is what to do after a call.
type verdict int

const (
	delivered  verdict = iota // done, including "message is not modified"
	retryLater                // 429: wait retry_after, then again
	transient                 // network or server trouble: retry soon, a few times
	failed                    // refused: do not retry
)

// verdictOf classifies a call's error; wait is a 429's retry_after.
func verdictOf(err error) (v verdict, wait time.Duration) {
	if err == nil {
		return delivered, 0
	}
	var apiErr *ta.Error
	var local *localError
	switch {
	case errors.As(err, &local):
		return failed, 0 // the file to send is unreadable: Telegram was not asked
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The caller's or the outbox's context ended; the per-call timeout
		// is told apart by the caller (see outbox.finish).
		return failed, 0
	case !errors.As(err, &apiErr):
		return transient, 0
	case apiErr.ErrorCode == 429:
		return retryLater, retryDelay(err, time.Second)
	case strings.Contains(apiErr.Description, "message is not modified"):
		return delivered, 0
	case apiErr.ErrorCode >= 500:
		return transient, 0
	default:
		return failed, 0
	}
}

// maxAttempts bounds how often one call is tried when the network or the
// server fails; 429s are retried as long as Telegram asks.
const maxAttempts = 5

// backoff is the wait before the next try after a transient failure.
func backoff(attempt int) time.Duration {
	return time.Duration(attempt) * 500 * time.Millisecond
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// isNotFound reports a write to a message that does not exist (any more).
func isNotFound(err error) bool {
	var apiErr *ta.Error
	return errors.As(err, &apiErr) && (strings.Contains(apiErr.Description, "message to edit not found") ||
		strings.Contains(apiErr.Description, "message to delete not found"))
}
