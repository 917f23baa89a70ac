package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reasons of refusals, as logged under "reason".
const (
	reasonMethod    = "method"
	reasonPath      = "path"
	reasonRate      = "rate"
	reasonSize      = "size"
	reasonAuth      = "auth"
	reasonBody      = "body"
	reasonEvent     = "event"
	reasonDuplicate = "duplicate"
	reasonPrompt    = "prompt"
	reasonFire      = "fire"
)

// ServeHTTP answers one call (see the package doc for the answers).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.hooks[r.URL.Path]
	if h == nil {
		s.refuse(w, r, nil, reasonPath, http.StatusNotFound, "no webhook here")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.refuse(w, r, h, reasonMethod, http.StatusMethodNotAllowed, "use POST")
		return
	}
	s.mu.Lock()
	ok, wait := s.global.take(s.opts.Now())
	s.mu.Unlock()
	if !ok {
		s.tooMany(w, r, h, wait)
		return
	}
	body, status := s.readBody(r)
	if status != 0 {
		if status == http.StatusRequestEntityTooLarge {
			s.refuse(w, r, h, reasonSize, status, "body too large")
		} else {
			s.refuse(w, r, h, reasonBody, status, "cannot read the body")
		}
		return
	}
	if !authentic(h, r, body) {
		s.refuse(w, r, h, reasonAuth, http.StatusUnauthorized, "bad signature or token")
		return
	}
	s.handle(w, r, h, body)
}

// readBody reads at most MaxBody+1 bytes; a status other than 0 says why it
// failed.
func (s *Server) readBody(r *http.Request) ([]byte, int) {
	if r.ContentLength > s.opts.MaxBody {
		return nil, http.StatusRequestEntityTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxBody+1))
	switch {
	case err != nil:
		return nil, http.StatusBadRequest
	case int64(len(body)) > s.opts.MaxBody:
		return nil, http.StatusRequestEntityTooLarge
	}
	return body, 0
}

// authentic reports whether the call carries h's signature over body, or
// its bearer token.
func authentic(h *hook, r *http.Request, body []byte) bool {
	if h.Auth == AuthBearer {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		// Comparing digests keeps the secret's length from leaking.
		got, want := sha256.Sum256([]byte(strings.TrimSpace(token))), sha256.Sum256([]byte(h.Secret))
		return subtle.ConstantTimeCompare(got[:], want[:]) == 1
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		sig = r.Header.Get("X-Signature-256")
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(h.Secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// handle answers an authenticated call.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, h *hook, body []byte) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil || dec.More() {
		s.refuse(w, r, h, reasonBody, http.StatusBadRequest, "the body must be a JSON object (GitHub: content type application/json)")
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	if event == "ping" {
		reply(w, http.StatusOK, "pong")
		return
	}
	if action, ok := doc["action"].(string); ok && event != "" && action != "" {
		event += "." + action
	}
	if !h.wants(event) {
		s.refuse(w, r, h, reasonEvent, http.StatusAccepted, "ignored", slog.String("event", event))
		return
	}
	prompt, err := render(h.tmpl, doc)
	switch {
	case err != nil:
		s.refuse(w, r, h, reasonPrompt, http.StatusUnprocessableEntity, "cannot render the prompt", slog.String("err", err.Error()))
		return
	case prompt == "":
		s.refuse(w, r, h, reasonPrompt, http.StatusUnprocessableEntity, "the prompt is empty")
		return
	}
	delivery := r.Header.Get("X-GitHub-Delivery")
	if delivery == "" {
		delivery = r.Header.Get("X-Delivery")
	}
	keys := replayKeys(h, delivery, body)
	if status, wait := s.admit(h, keys); status != 0 {
		if status == http.StatusTooManyRequests {
			s.tooMany(w, r, h, wait)
		} else {
			s.refuse(w, r, h, reasonDuplicate, status, "duplicate", slog.String("delivery", delivery))
		}
		return
	}
	s.fire(w, r, h, keys, Call{Hook: h.ID, Project: h.Project, Engine: h.Engine, Prompt: prompt, Event: event, Delivery: delivery})
}

// wants reports whether event passes h's filter.
func (h *hook) wants(event string) bool {
	if len(h.EventFilter) == 0 {
		return true
	}
	name, _, _ := strings.Cut(event, ".")
	return name != "" && (slices.Contains(h.EventFilter, name) || slices.Contains(h.EventFilter, event))
}

// replayKeys are what a call is remembered by: its delivery id, and for
// signed hooks its body, whose signature a replay cannot change.
func replayKeys(h *hook, delivery string, body []byte) []string {
	var keys []string
	if delivery != "" {
		keys = append(keys, "delivery\x00"+h.ID+"\x00"+delivery)
	}
	if h.Auth == AuthHMACSHA256 {
		sum := sha256.Sum256(body)
		keys = append(keys, "body\x00"+h.ID+"\x00"+hex.EncodeToString(sum[:]))
	}
	return keys
}

// admit refuses a call seen before (200) or over h's rate (429, with the
// wait), and otherwise remembers it: 0.
func (s *Server) admit(h *hook, keys []string) (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if slices.ContainsFunc(keys, func(k string) bool { return s.seen.has(k, now) }) {
		return http.StatusOK, 0
	}
	if ok, wait := h.bucket.take(now); !ok {
		return http.StatusTooManyRequests, wait
	}
	for _, k := range keys {
		s.seen.add(k, now)
	}
	return 0, 0
}

// fire calls Fire; when it fails, the call is forgotten and its token given
// back, so that the sender may retry it.
func (s *Server) fire(w http.ResponseWriter, r *http.Request, h *hook, keys []string, c Call) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.FireTimeout)
	defer cancel()
	if err := s.opts.Fire(ctx, c); err != nil {
		s.mu.Lock()
		for _, k := range keys {
			s.seen.forget(k)
		}
		h.bucket.give()
		s.mu.Unlock()
		s.refuse(w, r, h, reasonFire, http.StatusServiceUnavailable, "cannot start a run now", slog.String("err", err.Error()))
		return
	}
	s.log.Info("webhook fired", "hook", h.ID, "project", c.Project, "event", c.Event, "delivery", c.Delivery)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"ok":true}`+"\n")
}

// tooMany answers 429 with Retry-After in whole seconds, at least 1.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, h *hook, wait time.Duration) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.refuse(w, r, h, reasonRate, http.StatusTooManyRequests, "too many calls")
}

// refuse answers status with msg and logs the refusal, once per hook and
// reason per minute. h is nil for calls to no hook.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, h *hook, reason string, status int, msg string, attrs ...slog.Attr) {
	reply(w, status, msg)
	id := ""
	if h != nil {
		id = h.ID
	}
	s.mu.Lock()
	ok, suppressed := s.logs.allow(id+"\x00"+reason, s.opts.Now())
	s.mu.Unlock()
	if !ok {
		return
	}
	level := slog.LevelWarn
	if status < 300 {
		level = slog.LevelInfo // ignored events and duplicates are normal
	}
	attrs = append(attrs, slog.String("hook", id), slog.String("reason", reason), slog.Int("status", status),
		slog.String("remote", r.RemoteAddr))
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	s.log.LogAttrs(context.Background(), level, "webhook call refused", attrs...)
}

// reply writes a small JSON answer: {"ok":false,"error":msg} for errors,
// {"ok":true,"status":msg} otherwise.
func reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	key := "status"
	if status >= 400 {
		key = "error"
	}
	b, _ := json.Marshal(map[string]any{"ok": status < 400, key: msg})
	w.Write(append(b, '\n'))
}
