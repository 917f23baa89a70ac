// Package voice transcribes voice notes through an OpenAI-compatible speech
// to text API: POST <base URL>/audio/transcriptions, as served by OpenAI
// (https://api.openai.com/v1), Groq, LocalAI, faster-whisper-server and
// others. Its Client is an orchestrator.Transcriber.
//
// It imports the standard library and its parent orchestrator only (for the
// Transcriber contract and ErrTooBig); only cmd/untether wires it in.
package voice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/untether-go/untether/orchestrator"
)

// Defaults of Options.
const (
	DefaultModel   = "whisper-1"
	DefaultTimeout = 2 * time.Minute
)

// MaxAudio is the largest audio file sent: OpenAI refuses files over 25 MiB.
const MaxAudio = 25 << 20

// maxResponse bounds what is read of an answer; a transcript is small.
const maxResponse = 4 << 20

// errRequestEnded stops the upload once the request is over.
var errRequestEnded = errors.New("request ended")

// errTimeout is the cause of a request's end at Options.Timeout.
var errTimeout = errors.New("transcription timed out")

// ErrNoSpeech is returned when the API heard nothing: its transcript is
// empty.
var ErrNoSpeech = errors.New("no speech recognized")

// Options configure a Client.
type Options struct {
	// BaseURL is the API's base, with its version and without the
	// endpoint: "https://api.openai.com/v1". Required; http or https.
	BaseURL string
	// Model is the transcription model; "" means DefaultModel.
	Model string
	// APIKey is sent as a bearer token; "" sends no Authorization (local
	// servers often need none). Never logged nor put in an error.
	APIKey string
	// Language is the spoken language as an ISO-639-1 code ("en"); ""
	// lets the model detect it.
	Language string
	// Timeout bounds one request, the upload included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means http.DefaultClient. Its own
	// Timeout, if any, applies as well.
	HTTPClient *http.Client
}

// Client transcribes audio with one API, model and language. Safe for
// concurrent use.
type Client struct {
	endpoint string
	opts     Options
	hc       *http.Client
	maxAudio int64 // MaxAudio; tests lower it
}

var _ orchestrator.Transcriber = (*Client)(nil)

// New returns a Client for opts; it fails when the base URL is unusable.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.BaseURL)
	switch {
	case opts.BaseURL == "":
		return nil, errors.New("new transcription client: no base URL")
	case err != nil:
		return nil, fmt.Errorf("new transcription client: base URL %q: %w", opts.BaseURL, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("new transcription client: base URL %q is not an http or https URL", opts.BaseURL)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("new transcription client: base URL %q must have no query or fragment", opts.BaseURL)
	}
	if opts.Model == "" {
		opts.Model = DefaultModel
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{
		endpoint: strings.TrimSuffix(opts.BaseURL, "/") + "/audio/transcriptions",
		opts:     opts,
		hc:       hc,
		maxAudio: MaxAudio,
	}, nil
}

// Transcribe uploads audio, a file named name whose extension tells its
// format, and returns its transcript. The upload is streamed; audio over
// MaxAudio is refused with an error wrapping orchestrator.ErrTooBig (at
// once when audio tells its size, else once that much has been read). An
// empty transcript is ErrNoSpeech. A refusal of the API is an *APIError
// with the status and the API's message, never the key. Transcribe returns
// only once it has stopped reading audio, so a reader that can block should
// end when ctx does.
func (c *Client) Transcribe(ctx context.Context, audio io.Reader, name string) (string, error) {
	size, sized := knownSize(audio)
	if sized && size > c.maxAudio {
		return "", c.tooBig()
	}
	if name == "" {
		name = "audio"
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.opts.Timeout, errTimeout)
	defer cancel()

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, pr)
	if err != nil {
		return "", fmt.Errorf("transcribe %s: %w", name, err)
	}
	if sized {
		// A known length spares servers that mishandle chunked uploads.
		req.ContentLength = c.framing(mw.Boundary(), name) + size
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	if c.opts.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.APIKey)
	}

	// The writer runs until the form is written or the request gives up
	// reading it (pr is closed by the transport); it is waited for below.
	written := make(chan error, 1)
	go func() {
		err := c.writeForm(mw, audio, name)
		pw.CloseWithError(err)
		written <- err
	}()
	resp, err := c.hc.Do(req)
	pr.CloseWithError(errRequestEnded) // unblocks the writer if the request stopped reading
	werr := <-written
	if werr != nil && !errors.Is(werr, errRequestEnded) && !errors.Is(werr, io.ErrClosedPipe) {
		// The upload failed on our side (audio too big or unreadable):
		// that, not how the request ended, is the cause.
		if resp != nil {
			resp.Body.Close()
		}
		if errors.Is(werr, orchestrator.ErrTooBig) {
			return "", werr
		}
		return "", fmt.Errorf("transcribe %s: %w", name, werr)
	}
	if err != nil {
		if context.Cause(ctx) == errTimeout {
			return "", fmt.Errorf("transcribe %s: no answer within %s: %w", name, c.opts.Timeout, err)
		}
		return "", fmt.Errorf("transcribe %s: %w", name, err)
	}
	defer resp.Body.Close()
	return c.answer(resp, name)
}

// writeForm writes the multipart form: the fields, then the audio, so that
// a server may refuse a bad model before the upload.
func (c *Client) writeForm(mw *multipart.Writer, audio io.Reader, name string) error {
	fields := [][2]string{{"model", c.opts.Model}, {"response_format", "json"}}
	if c.opts.Language != "" {
		fields = append(fields, [2]string{"language", c.opts.Language})
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", multipart.FileContentDisposition("file", name))
	h.Set("Content-Type", ContentType(name))
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	n, err := io.Copy(part, io.LimitReader(audio, c.maxAudio+1))
	if err != nil {
		return fmt.Errorf("read audio: %w", err)
	}
	if n > c.maxAudio {
		return c.tooBig()
	}
	return mw.Close()
}

// framing is the length of the form without the audio's bytes.
func (c *Client) framing(boundary, name string) int64 {
	var n countWriter
	mw := multipart.NewWriter(&n)
	mw.SetBoundary(boundary)
	c.writeForm(mw, strings.NewReader(""), name)
	return int64(n)
}

type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) {
	*w += countWriter(len(p))
	return len(p), nil
}

// answer reads the API's answer: the transcript, or why there is none.
func (c *Client) answer(resp *http.Response, name string) (string, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", fmt.Errorf("transcribe %s: read answer: %w", name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", &APIError{Status: resp.StatusCode, Message: c.scrub(apiMessage(body))}
	}
	var out struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Text == nil {
		return "", fmt.Errorf("transcribe %s: the answer is not a transcription (want JSON with \"text\")", name)
	}
	text := strings.TrimSpace(*out.Text)
	if text == "" {
		return "", fmt.Errorf("transcribe %s: %w", name, ErrNoSpeech)
	}
	return text, nil
}

// scrub masks the key should an API quote it back.
func (c *Client) scrub(msg string) string {
	if c.opts.APIKey == "" {
		return msg
	}
	return strings.ReplaceAll(msg, c.opts.APIKey, "(redacted)")
}

// APIError is a refusal of the API: a non-2xx answer.
type APIError struct {
	Status int
	// Message is the API's error.message (OpenAI's error shape), else the
	// start of its answer; "" when it said nothing.
	Message string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("transcription API answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// maxMessage bounds the API message kept in an APIError.
const maxMessage = 300

// apiMessage takes error.message from an OpenAI-shaped error body, else a
// short plain-text body as is.
func apiMessage(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		var str string
		switch {
		case json.Unmarshal(e.Error, &obj) == nil && obj.Message != "":
			return clip(obj.Message)
		case json.Unmarshal(e.Error, &str) == nil: // {"error": "..."}, as some servers do
			return clip(str)
		}
	}
	if json.Valid(body) {
		return clip(string(body))
	}
	if strings.Contains(strings.ToLower(string(body[:min(len(body), 512)])), "<html") {
		return "" // a proxy's error page says nothing useful
	}
	return clip(string(body))
}

func clip(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// ContentType is the MIME type of an audio file, from its extension.
func ContentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".ogg", ".oga", ".opus":
		return "audio/ogg"
	case ".mp3", ".mpga", ".mpeg":
		return "audio/mpeg"
	case ".m4a", ".mp4":
		return "audio/mp4"
	case ".wav":
		return "audio/wav"
	case ".webm":
		return "audio/webm"
	case ".flac":
		return "audio/flac"
	}
	return "application/octet-stream"
}

// knownSize is how many bytes audio holds, when it can tell.
func knownSize(audio io.Reader) (int64, bool) {
	switch r := audio.(type) {
	case interface{ Len() int }: // *bytes.Reader, *bytes.Buffer, *strings.Reader
		return int64(r.Len()), true
	case *os.File:
		fi, err := r.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return 0, false
		}
		off, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, false
		}
		return fi.Size() - off, true
	}
	return 0, false
}

func (c *Client) tooBig() error {
	return fmt.Errorf("audio is larger than the transcription API's limit of %s: %w", mib(c.maxAudio), orchestrator.ErrTooBig)
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
