package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// botAPI is the little of the Bot API that `untether setup` needs before any
// config exists: getMe to check the token, getUpdates to learn who writes to
// the bot. Errors never carry the token, which is part of every URL.
type botAPI struct {
	base  string // e.g. https://api.telegram.org, no trailing slash
	token string
	hc    *http.Client
}

func newBotAPI(base, token string) *botAPI {
	return &botAPI{base: strings.TrimSuffix(base, "/"), token: token, hc: &http.Client{}}
}

// errPollConflict: someone else polls this bot (Telegram's 409).
var errPollConflict = errors.New("another program is polling this bot (is untether already running with this token?): stop it, then run setup again")

// call posts a form to method and decodes the result into out.
func (b *botAPI) call(ctx context.Context, method string, form url.Values, timeout time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/bot"+b.token+"/"+method, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%s: bad API URL %q", method, b.base)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.hc.Do(req)
	if err != nil {
		// *url.Error prints the URL, token included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s at %s: %v", method, b.base, err)
	}
	defer resp.Body.Close()
	var env struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		ErrorCode   int             `json:"error_code"`
		Description string          `json:"description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s at %s: HTTP %d, not a Bot API answer", method, b.base, resp.StatusCode)
	}
	if !env.OK {
		switch env.ErrorCode {
		case http.StatusUnauthorized, http.StatusNotFound:
			return fmt.Errorf("%s: Telegram rejects this token (%s): copy it again from @BotFather", method, env.Description)
		case http.StatusConflict:
			return errPollConflict
		}
		return fmt.Errorf("%s: %d %s", method, env.ErrorCode, env.Description)
	}
	return json.Unmarshal(env.Result, out)
}

// getMe returns the bot's username.
func (b *botAPI) getMe(ctx context.Context) (string, error) {
	var me struct {
		Username string `json:"username"`
	}
	if err := b.call(ctx, "getMe", nil, 30*time.Second, &me); err != nil {
		return "", err
	}
	return me.Username, nil
}

// firstContact is what setup learns from the first message sent to the bot.
type firstContact struct {
	UserID   int64
	Name     string
	ChatID   int64 // the chat the message came from
	ChatType string
	Title    string // a group's title
}

type tgUpdate struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		From *struct {
			ID        int64  `json:"id"`
			IsBot     bool   `json:"is_bot"`
			FirstName string `json:"first_name"`
			Username  string `json:"username"`
		} `json:"from"`
		Chat struct {
			ID    int64  `json:"id"`
			Type  string `json:"type"`
			Title string `json:"title"`
		} `json:"chat"`
	} `json:"message"`
}

func (b *botAPI) getUpdates(ctx context.Context, offset int64, wait time.Duration) ([]tgUpdate, error) {
	form := url.Values{
		"offset":          {fmt.Sprint(offset)},
		"timeout":         {fmt.Sprint(int(wait.Seconds()))},
		"allowed_updates": {`["message"]`},
	}
	var ups []tgUpdate
	err := b.call(ctx, "getUpdates", form, wait+30*time.Second, &ups)
	return ups, err
}

// pendingOffset returns the offset after every update already pending, so
// that awaitMessage takes only messages sent after this call.
func (b *botAPI) pendingOffset(ctx context.Context) (int64, error) {
	// offset -1 returns only the newest pending update: start after it.
	old, err := b.getUpdates(ctx, -1, 0)
	if err != nil || len(old) == 0 {
		return 0, err
	}
	return old[len(old)-1].UpdateID + 1, nil
}

// awaitMessage waits up to wait for a new message from a person, from
// offset on, and returns who sent it. Every update it reads is confirmed, so
// the bridge does not answer the greeting later.
func (b *botAPI) awaitMessage(ctx context.Context, offset int64, wait time.Duration) (firstContact, error) {
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return firstContact{}, fmt.Errorf("no message reached the bot within %s: send one, then run setup again (or pass --user-id)", wait)
		}
		poll := min(left, 25*time.Second).Truncate(time.Second)
		ups, err := b.getUpdates(ctx, offset, poll)
		if err != nil {
			return firstContact{}, err
		}
		for _, u := range ups {
			offset = u.UpdateID + 1
			m := u.Message
			if m == nil || m.From == nil || m.From.IsBot {
				continue
			}
			// Confirm it: the next getUpdates, the bridge's, starts after it.
			if _, err := b.getUpdates(ctx, offset, 0); err != nil {
				return firstContact{}, err
			}
			name := m.From.FirstName
			if m.From.Username != "" {
				name += " (@" + m.From.Username + ")"
			}
			return firstContact{UserID: m.From.ID, Name: name, ChatID: m.Chat.ID, ChatType: m.Chat.Type, Title: m.Chat.Title}, nil
		}
		if ctx.Err() != nil {
			return firstContact{}, ctx.Err()
		}
	}
}
