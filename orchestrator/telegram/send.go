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
	"golang.org/x/time/rate"

	"github.com/untether-go/untether/orchestrator"
)

// maxAttempts bounds how often one call is retried after 429s or network
// errors.
const maxAttempts = 6

// pacer returns the limiter of a chat: Telegram allows about one message a
// second in a private chat and twenty a minute in a group.
func (c *Client) pacer(chatID int64) *rate.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.pacers[chatID]
	if l == nil {
		// The intervals carry a margin: Telegram counts a message when it
		// arrives, a little after the limiter let it go.
		if chatID > 0 {
			l = rate.NewLimiter(rate.Every(1100*time.Millisecond), 1)
		} else {
			// About 14 a minute with a burst of 5 stays under 20 in any minute.
			l = rate.NewLimiter(rate.Every(4200*time.Millisecond), 5)
		}
		c.pacers[chatID] = l
	}
	return l
}

// Send sends a message, waiting for the chat's pace, and returns its id.
func (c *Client) Send(ctx context.Context, m orchestrator.Outgoing) (int64, error) {
	params := &telego.SendMessageParams{
		ChatID:             telego.ChatID{ID: m.ChatID},
		MessageThreadID:    int(m.ThreadID),
		Text:               m.Text.S,
		Entities:           entities(m.Text),
		LinkPreviewOptions: &telego.LinkPreviewOptions{IsDisabled: true},
	}
	if m.ReplyTo != 0 {
		params.ReplyParameters = &telego.ReplyParameters{MessageID: int(m.ReplyTo), AllowSendingWithoutReply: true}
	}
	var sent *telego.Message
	err := c.call(ctx, m.ChatID, true, "sendMessage", func() (err error) {
		sent, err = c.bot.SendMessage(ctx, params)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int64(sent.MessageID), nil
}

// Edit replaces a message's text; "message is not modified" is success.
func (c *Client) Edit(ctx context.Context, chatID, messageID int64, t orchestrator.Text) error {
	params := &telego.EditMessageTextParams{
		ChatID:             telego.ChatID{ID: chatID},
		MessageID:          int(messageID),
		Text:               t.S,
		Entities:           entities(t),
		LinkPreviewOptions: &telego.LinkPreviewOptions{IsDisabled: true},
	}
	err := c.call(ctx, chatID, false, "editMessageText", func() error {
		_, err := c.bot.EditMessageText(ctx, params)
		return err
	})
	if err != nil && strings.Contains(err.Error(), "message is not modified") {
		return nil
	}
	return err
}

// Delete deletes a message.
func (c *Client) Delete(ctx context.Context, chatID, messageID int64) error {
	return c.call(ctx, chatID, false, "deleteMessage", func() error {
		return c.bot.DeleteMessage(ctx, &telego.DeleteMessageParams{
			ChatID: telego.ChatID{ID: chatID}, MessageID: int(messageID),
		})
	})
}

// call paces and performs one API call, retrying after 429 (as long as the
// server asks) and transient network errors. paced calls count against the
// chat's message rate.
func (c *Client) call(ctx context.Context, chatID int64, paced bool, method string, do func() error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if paced {
			if err := c.pacer(chatID).Wait(ctx); err != nil {
				return fmt.Errorf("telegram %s: %w", method, err)
			}
		}
		if err := c.global.Wait(ctx); err != nil {
			return fmt.Errorf("telegram %s: %w", method, err)
		}
		err = do()
		if err == nil {
			return nil
		}
		var apiErr *ta.Error
		switch {
		case errors.As(err, &apiErr) && apiErr.ErrorCode == 429:
			wait := retryDelay(err, time.Second)
			c.log.Warn("telegram rate limit", "method", method, "chat", chatID, "retry_after", wait)
			if !sleep(ctx, wait) {
				return fmt.Errorf("telegram %s: %w", method, ctx.Err())
			}
		case errors.As(err, &apiErr):
			return fmt.Errorf("telegram %s: %w", method, c.redact(err))
		default:
			// Network or server trouble: retry with a short backoff.
			if !sleep(ctx, time.Duration(attempt)*500*time.Millisecond) {
				return fmt.Errorf("telegram %s: %w", method, ctx.Err())
			}
		}
	}
	return fmt.Errorf("telegram %s: giving up after %d attempts: %w", method, maxAttempts, c.redact(err))
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
			Type: string(e.Type), Offset: start, Length: length, Language: e.Language,
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
