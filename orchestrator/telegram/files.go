package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/untether-go/untether/orchestrator"
)

// botAPIMaxDownload is what getFile serves from api.telegram.org; past it
// Telegram answers "file is too big".
const botAPIMaxDownload = orchestrator.BotAPIMaxDownload

// Download writes the file with Telegram's fileID to w and returns how many
// bytes it wrote. It asks getFile for the file's path and size (retrying
// 429s and network errors within ctx), refuses a file larger than max
// before downloading it, then streams it and stops once more than max
// bytes come. Refusals wrap orchestrator.ErrTooBig and name the limit; so
// does Telegram's own refusal of files over 20 MB. max <= 0 sets no limit.
// Neither the errors nor the log show the download URL's bot token. It is
// safe for concurrent use; it does not go through the outbox (it writes
// nothing to a chat).
func (c *Client) Download(ctx context.Context, fileID string, max int64, w io.Writer) (int64, error) {
	f, err := c.getFile(ctx, fileID)
	if err != nil {
		return 0, err
	}
	if max > 0 && f.FileSize > max {
		return 0, fmt.Errorf("telegram download: %w", tooBig(f.FileSize, max))
	}
	if f.FilePath == "" {
		return 0, fmt.Errorf("telegram getFile: no file_path for the file")
	}
	return c.fetch(ctx, f.FilePath, max, w)
}

// getFile resolves a file id, retrying like SetCommands.
func (c *Client) getFile(ctx context.Context, fileID string) (*telego.File, error) {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		var f *telego.File
		f, err = c.bot.GetFile(ctx, &telego.GetFileParams{FileID: fileID})
		v, wait := verdictOf(err)
		switch v {
		case delivered:
			return f, nil
		case retryLater:
			c.out.pauseAll(time.Now().Add(wait))
		case transient:
			wait = backoff(attempt)
		case failed:
			if isTooBig(err) {
				return nil, fmt.Errorf("telegram getFile: the file is over Telegram's download limit of %s: %w",
					sizeText(botAPIMaxDownload, false), orchestrator.ErrTooBig)
			}
			return nil, fmt.Errorf("telegram getFile: %w", c.redact(err))
		}
		if !sleep(ctx, wait) {
			return nil, fmt.Errorf("telegram getFile: %w", ctx.Err())
		}
	}
	return nil, fmt.Errorf("telegram getFile: giving up after %d attempts: %w", maxAttempts, c.redact(err))
}

// fetch downloads a file_path into w, at most max bytes (max <= 0: any).
func (c *Client) fetch(ctx context.Context, filePath string, max int64, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.bot.FileDownloadURL(filePath), nil)
	if err != nil {
		return 0, fmt.Errorf("telegram download: %w", c.redactURL(err))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("telegram download: %w", c.redactURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("telegram download: %w", downloadStatus(resp))
	}
	if max > 0 && resp.ContentLength > max {
		return 0, fmt.Errorf("telegram download: %w", tooBig(resp.ContentLength, max))
	}
	body := io.Reader(resp.Body)
	if max > 0 {
		body = io.LimitReader(resp.Body, max)
	}
	n, err := io.Copy(w, body)
	if err != nil {
		return n, fmt.Errorf("telegram download: %w", c.redactURL(err))
	}
	if max > 0 {
		// The server sent max bytes: one more means it lied about the size.
		var one [1]byte
		if k, _ := io.ReadFull(resp.Body, one[:]); k > 0 {
			return n, fmt.Errorf("telegram download: %w", tooBig(max+1, max))
		}
	}
	return n, nil
}

// downloadStatus describes a download Telegram refused, from its JSON
// description when it sent one.
func downloadStatus(resp *http.Response) error {
	var body struct {
		Description string `json:"description"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if json.Unmarshal(raw, &body) == nil && body.Description != "" {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body.Description)
	}
	return fmt.Errorf("HTTP %d", resp.StatusCode)
}

// redactURL is redact for the errors of net/http, whose *url.Error holds
// the request URL, bot token included, both in its text and in its URL
// field for whoever unwraps it.
func (c *Client) redactURL(err error) error {
	var ue *url.Error
	if c.token != "" && errors.As(err, &ue) && strings.Contains(ue.URL, c.token) {
		err = &url.Error{Op: ue.Op, URL: strings.ReplaceAll(ue.URL, c.token, "<bot-token>"), Err: c.redact(ue.Err)}
	}
	return c.redact(err)
}

// tooBig is the refusal of a file of size bytes over a limit of max.
func tooBig(size, max int64) error {
	return fmt.Errorf("the file is %s; the limit is %s: %w", sizeText(size, true), sizeText(max, false), orchestrator.ErrTooBig)
}

// sizeText shows a size in MiB with at most one decimal (KiB or bytes
// below 1 MiB), rounded up for a file and down for a limit, so a file just
// over a limit never reads as equal to it.
func sizeText(n int64, up bool) string {
	unit, name := int64(1<<20), "MiB"
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " bytes"
	case n < 1<<20:
		unit, name = 1<<10, "KiB"
	}
	tenths := n * 10 / unit
	if up && n*10%unit != 0 {
		tenths++
	}
	s := strconv.FormatInt(tenths/10, 10)
	if tenths%10 != 0 {
		s += "." + strconv.FormatInt(tenths%10, 10)
	}
	return s + " " + name
}

// isTooBig reports Telegram's refusals of a file for its size: 413 from
// the upload front end, "file is too big" from getFile, "too big for a
// photo" from sendPhoto.
func isTooBig(err error) bool {
	var apiErr *ta.Error
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == http.StatusRequestEntityTooLarge ||
		apiErr.ErrorCode == http.StatusBadRequest && strings.Contains(apiErr.Description, "too big"))
}

// SendFile queues an upload of f behind the chat's earlier sends and waits
// for it as Send does: in order with the chat's other writes and paced
// with them, 429s and network errors retried (the file is opened again for
// each attempt), ctx withdrawing it while it is queued. It sends a
// document, or a photo when f.Photo, named f.Name, with f.Caption under
// it. Errors wrap orchestrator.ErrRefused when Telegram refused it for
// good, and also orchestrator.ErrTooBig when it refused the file's size
// (413 past 50 MB, or a photo over 10 MB). A file that cannot be read
// fails at once, wrapping neither.
func (c *Client) SendFile(ctx context.Context, f orchestrator.OutgoingFile) (int64, error) {
	method := "sendDocument"
	if f.Photo {
		method = "sendPhoto"
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("telegram %s: %w", method, err)
	}
	st, err := os.Stat(f.Path)
	if err != nil {
		return 0, fmt.Errorf("telegram %s: %w", method, err)
	}
	o := &op{kind: opSend, chatID: f.ChatID, file: &f, size: st.Size(), ctx: ctx, done: make(chan sendResult, 1)}
	return c.await(ctx, o)
}

// await queues a send and waits for it; see Send.
func (c *Client) await(ctx context.Context, o *op) (int64, error) {
	if err := c.out.enqueue(o); err != nil {
		return 0, fmt.Errorf("telegram %s: %w", o.method(), err)
	}
	select {
	case r := <-o.done:
		return r.id, r.err
	case <-ctx.Done():
		if c.out.withdraw(o) {
			return 0, fmt.Errorf("telegram %s: %w", o.method(), ctx.Err())
		}
		// On the wire: its outcome decides, within its call's timeout.
		r := <-o.done
		return r.id, r.err
	}
}

// sendFile makes one attempt at uploading f.
func (c *Client) sendFile(ctx context.Context, f *orchestrator.OutgoingFile) (int64, error) {
	file, err := os.Open(f.Path)
	if err != nil {
		return 0, &localError{err: err}
	}
	defer file.Close()
	in := telego.InputFile{File: namedReader{Reader: file, name: f.Name}}
	var reply *telego.ReplyParameters
	if f.ReplyTo != 0 {
		reply = &telego.ReplyParameters{MessageID: int(f.ReplyTo), AllowSendingWithoutReply: true}
	}
	chat := telego.ChatID{ID: f.ChatID}
	var m *telego.Message
	if f.Photo {
		m, err = c.bot.SendPhoto(ctx, &telego.SendPhotoParams{ChatID: chat, MessageThreadID: int(f.ThreadID),
			Photo: in, Caption: f.Caption, ReplyParameters: reply})
	} else {
		m, err = c.bot.SendDocument(ctx, &telego.SendDocumentParams{ChatID: chat, MessageThreadID: int(f.ThreadID),
			Document: in, Caption: f.Caption, ReplyParameters: reply})
	}
	if err != nil {
		return 0, err
	}
	return int64(m.MessageID), nil
}

// namedReader gives an upload the name the chat shows.
type namedReader struct {
	io.Reader
	name string
}

func (n namedReader) Name() string { return n.name }

// localError is a write that failed before reaching Telegram (the file to
// upload cannot be read): it is not retried, nor a refusal.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

func isLocal(err error) bool {
	var l *localError
	return errors.As(err, &l)
}
