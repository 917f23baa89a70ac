package mockapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how a Server answers model calls, for its whole life.
type Mode string

const (
	// ModeNormal answers with the script. The zero Mode means ModeNormal.
	ModeNormal Mode = "normal"
	// ModeSlow answers with the script, but waits Options.Delay after every
	// streamed event and splits texts into many small deltas, so a client
	// can be interrupted mid-stream.
	ModeSlow Mode = "slow"
	// ModeErr401, ModeErr429 and ModeErr500 answer every model call with
	// that HTTP status and the API's own error JSON.
	ModeErr401 Mode = "err401"
	ModeErr429 Mode = "err429"
	ModeErr500 Mode = "err500"
)

// Options configure a Server.
type Options struct {
	// Mode is the answering mode; empty means ModeNormal.
	Mode Mode
	// Delay is the pause after every streamed event in ModeSlow; default
	// 500 ms.
	Delay time.Duration
	// NoReasoning leaves out the thinking / reasoning part that otherwise
	// starts every tool-call turn.
	NoReasoning bool
	// Transcript is what POST …/v1/audio/transcriptions answers; ""
	// means DefaultTranscript. SetTranscript changes it later.
	Transcript string
	// TranscriptionKey, when set, is the key transcription calls must
	// send as "Authorization: Bearer <key>"; others are answered 401.
	TranscriptionKey string
}

// Request is one request the server received.
type Request struct {
	Method string
	// Path is the request URI as sent, with its query (/v1/messages?beta=true).
	Path string
	// Header is the request's headers without credentials (Authorization,
	// X-Api-Key, cookies, ...).
	Header http.Header
	// Body is the decoded JSON body (map[string]any, []any, ...), the raw
	// text (at most 2000 bytes) when it is not JSON, nil when empty.
	Body any
	// Answer is what the mock chose: "tool:<name>", "final", "declined", "plain",
	// "error <status>", "count_tokens", "transcription", "404"; empty for
	// GET and HEAD.
	Answer string
	// Transcription is set for calls of …/audio/transcriptions (whose
	// Body is then nil): what the form held, as far as it was read.
	Transcription *Transcription `json:",omitempty"`
	At            time.Time
}

// Server is a scripted model API on 127.0.0.1.
type Server struct {
	opts Options
	url  string
	srv  *http.Server

	ctx      context.Context // ends at Close; requests derive from it
	cancel   context.CancelFunc
	serving  sync.WaitGroup // the Serve goroutine
	handlers sync.WaitGroup // running requests
	ids      atomic.Int64

	mu       sync.Mutex
	closed   bool
	requests []Request
	text     string // set by SetTranscript
}

// New starts a server on 127.0.0.1 at an ephemeral port. It panics when it
// cannot listen or when opts.Mode is unknown, as httptest.NewServer does: it
// is for tests only.
func New(opts Options) *Server {
	switch opts.Mode {
	case "":
		opts.Mode = ModeNormal
	case ModeNormal, ModeSlow, ModeErr401, ModeErr429, ModeErr500:
	default:
		panic(fmt.Sprintf("mockapi: unknown mode %q", opts.Mode))
	}
	if opts.Delay <= 0 {
		opts.Delay = 500 * time.Millisecond
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("mockapi: listen: %v", err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opts: opts, url: "http://" + ln.Addr().String(), ctx: ctx, cancel: cancel}
	s.srv = &http.Server{
		Handler:           s,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
	}
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		s.srv.Serve(ln)
	}()
	return s
}

// URL is the server's base URL without a path (http://127.0.0.1:PORT):
// ANTHROPIC_BASE_URL takes it as is, a Responses client's base URL is
// URL()+"/v1".
func (s *Server) URL() string { return s.url }

// Mode is the server's answering mode.
func (s *Server) Mode() Mode { return s.opts.Mode }

// Close stops the server: streams in progress end at once. It waits for
// every request handler to return and is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.srv.Close()
	s.serving.Wait()
	s.handlers.Wait()
}

// Requests returns a copy of the request log, oldest first. A model call is
// logged when the mock has chosen its answer, before the answer is sent.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// ServeHTTP serves one request; it answers 503 once Close has begun.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "mockapi: closed", http.StatusServiceUnavailable)
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()

	req := Request{Method: r.Method, Path: r.URL.RequestURI(), Header: redact(r.Header), At: time.Now()}
	switch r.Method {
	case http.MethodHead:
		s.record(req)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		s.record(req)
		if strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/models") {
			writeJSON(w, http.StatusOK, modelList())
			return
		}
		writeJSON(w, http.StatusOK, obj("ok", true))
	case http.MethodPost:
		s.post(w, r, req)
	default:
		s.record(req)
		writeJSON(w, http.StatusMethodNotAllowed, obj("error", obj("message", "mock: method not allowed")))
	}
}

func (s *Server) post(w http.ResponseWriter, r *http.Request, req Request) {
	raw, err := readBody(r)
	if err != nil {
		req.Answer = "400"
		s.record(req)
		writeJSON(w, http.StatusBadRequest, obj("error", obj("message", "mock: "+err.Error())))
		return
	}
	req.Body = logBody(raw)
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/messages/count_tokens"):
		req.Answer = "count_tokens"
		s.record(req)
		writeJSON(w, http.StatusOK, obj("input_tokens", 1234))
	case strings.HasSuffix(p, "/messages"):
		s.anthropic(w, r, raw, req)
	case strings.HasSuffix(p, "/responses"):
		s.responses(w, r, raw, req)
	case isTranscription(p):
		s.transcribe(w, r, raw, req)
	default:
		req.Answer = "404"
		s.record(req)
		writeJSON(w, http.StatusNotFound, obj("error", obj("message", "mock: unknown path "+p)))
	}
}

// api names an error format.
type api int

const (
	anthropicAPI api = iota
	openaiAPI
)

// failed answers with the mode's error when the mode is an error mode.
func (s *Server) failed(w http.ResponseWriter, format api, req Request) bool {
	status := map[Mode]int{ModeErr401: 401, ModeErr429: 429, ModeErr500: 500}[s.opts.Mode]
	if status == 0 {
		return false
	}
	req.Answer = "error " + strconv.Itoa(status)
	s.record(req)
	msg := map[int]string{401: "mock: invalid x-api-key", 429: "mock: rate limited", 500: "mock: internal server error"}[status]
	if format == anthropicAPI {
		typ := map[int]string{401: "authentication_error", 429: "rate_limit_error", 500: "api_error"}[status]
		writeJSON(w, status, obj("type", "error", "error", obj("type", typ, "message", msg), "request_id", "req_mock_error"))
		return true
	}
	typ := map[int]string{401: "invalid_request_error", 429: "rate_limit_exceeded", 500: "server_error"}[status]
	var code any
	if status != 500 {
		code = map[int]string{401: "invalid_api_key", 429: "rate_limit_exceeded"}[status]
	}
	writeJSON(w, status, obj("error", obj("message", msg, "type", typ, "param", nil, "code", code)))
	return true
}

// newID returns ids shaped like mockapi.py's: prefix_mock0001a1b2c3d4.
func (s *Server) newID(prefix string) string {
	return fmt.Sprintf("%s_mock%04d%s", prefix, s.ids.Add(1), randomHex(4))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) slow() bool { return s.opts.Mode == ModeSlow }

// stream writes server-sent events. After the first failure (the client
// went away, or Close) it writes nothing more.
type stream struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	ctx   context.Context
	delay time.Duration // 0 unless in ModeSlow
	err   error
}

// startSSE sends the 200 and SSE headers, plus extra (key, value) headers.
func (s *Server) startSSE(w http.ResponseWriter, r *http.Request, extra ...string) *stream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	w.WriteHeader(http.StatusOK)
	st := &stream{w: w, rc: http.NewResponseController(w), ctx: r.Context()}
	if s.slow() {
		st.delay = s.opts.Delay
	}
	return st
}

// event sends one event: "event: NAME" (when name is set) and "data: JSON".
func (st *stream) event(name string, data any) {
	if st.err != nil {
		return
	}
	var b bytes.Buffer
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	b.WriteString("data: ")
	b.Write(mustMarshal(data))
	b.WriteString("\n\n")
	if _, err := st.w.Write(b.Bytes()); err != nil {
		st.err = err
		return
	}
	if err := st.rc.Flush(); err != nil {
		st.err = err
		return
	}
	if st.delay > 0 {
		t := time.NewTimer(st.delay)
		defer t.Stop()
		select {
		case <-st.ctx.Done():
			st.err = st.ctx.Err()
		case <-t.C:
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data := mustMarshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	w.Write(data)
}

// maxBody bounds a request body; real requests are well below (~100 KB).
const maxBody = 64 << 20

// readBody reads the body, gunzipping it when the client compressed it.
func readBody(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
		return raw, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("gunzip body: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, maxBody))
		if err != nil {
			return nil, fmt.Errorf("gunzip body: %w", err)
		}
		return out, nil
	default:
		return nil, errors.New("cannot decode Content-Encoding " + enc)
	}
}

func logBody(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		return v
	}
	return strings.ToValidUTF8(string(raw[:min(len(raw), 2000)]), "\uFFFD")
}

// secretHeaders never reach the request log.
var secretHeaders = []string{"Authorization", "X-Api-Key", "X-Goog-Api-Key", "Cookie", "Proxy-Authorization"}

func redact(h http.Header) http.Header {
	c := h.Clone()
	for _, k := range secretHeaders {
		c.Del(k)
	}
	return c
}

func modelList() object {
	names := []string{"mock-model", "gpt-5", "claude-sonnet-4-5"}
	data := make([]object, 0, len(names))
	for _, m := range names {
		data = append(data, obj("id", m, "object", "model", "created", 1700000000, "owned_by", "mock",
			"type", "model", "display_name", m, "created_at", "2025-01-01T00:00:00Z"))
	}
	return obj("object", "list", "data", data, "has_more", false,
		"first_id", names[0], "last_id", names[len(names)-1], "models", []any{})
}
