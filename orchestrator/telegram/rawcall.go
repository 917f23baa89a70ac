package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	ta "github.com/mymmrac/telego/telegoapi"
)

// maxResponse bounds a Bot API answer read by call; getUpdates with 100
// updates stays far below it.
const maxResponse = 32 << 20

// call makes a Bot API call itself, for what telego v1.6 lacks: the
// parameters of sendMessageDraft since Bot API 10.3 (can_stop) and the
// stopped_message_generation update. It posts params as JSON and decodes
// the result into result (nil: ignored). A refusal comes back as a
// *ta.Error, as telego's calls do, so verdictOf reads both alike; an answer
// that is not the Bot API's JSON (a proxy's error page) becomes one with the
// HTTP status. Errors may hold the URL, and with it the token: callers
// redact them.
func (c *Client) call(ctx context.Context, method string, params, result any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("encode %s parameters: %w", method, err)
	}
	url := strings.TrimRight(c.opts.APIURL, "/") + "/bot" + c.token + "/" + method
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s request: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", method, err)
	}
	var resp ta.Response
	if err := json.Unmarshal(raw, &resp); err != nil {
		if res.StatusCode >= 400 {
			return fmt.Errorf("api: %w", &ta.Error{ErrorCode: res.StatusCode, Description: http.StatusText(res.StatusCode)})
		}
		return fmt.Errorf("%s: decode answer: %w", method, err)
	}
	if !resp.Ok {
		if resp.Error == nil {
			resp.Error = &ta.Error{ErrorCode: res.StatusCode, Description: http.StatusText(res.StatusCode)}
		}
		return fmt.Errorf("api: %w", resp.Error)
	}
	if result == nil || resp.Result == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Result, result); err != nil {
		return fmt.Errorf("%s: decode result: %w", method, err)
	}
	return nil
}
