package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode"
)

// Values of Hook.Auth.
const (
	// AuthHMACSHA256 wants the body's HMAC-SHA256 under the secret, in
	// X-Hub-Signature-256 (GitHub) or X-Signature-256: "sha256=<hex>".
	AuthHMACSHA256 = "hmac-sha256"
	// AuthBearer wants "Authorization: Bearer <secret>".
	AuthBearer = "bearer"
)

// Defaults of Options.
const (
	DefaultMaxBody      = 1 << 20
	DefaultReplayWindow = time.Hour
	DefaultFireTimeout  = 20 * time.Second
)

// Timeouts of the listener. A call is small and Fire is bounded by
// FireTimeout, so nothing needs a connection for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 15 * time.Second
	maxHeaderBytes    = 64 << 10
)

// eventRE is the form of an event_filter entry: an event, or an event and
// one of its actions.
var eventRE = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)?$`)

// Hook is one endpoint: the calls to Path that pass Auth start runs of
// Project.
type Hook struct {
	// ID names the hook in logs and in Call; unique, not empty.
	ID string
	// Path is where the hook listens: it starts with "/", is clean
	// (path.Clean leaves it as it is) and is unique.
	Path string
	// Secret is the HMAC key or the bearer token; not empty. Never logged.
	Secret string
	// Auth is AuthHMACSHA256 (also when empty) or AuthBearer.
	Auth string
	// Project and Engine are copied into each Call; Engine may be empty
	// for the project's default.
	Project, Engine string
	// PromptTemplate renders the prompt from the body (see the package
	// doc); it must parse.
	PromptTemplate string
	// EventFilter, when not empty, lists the GitHub events that fire:
	// "issues" takes every action of the event, "issues.opened" one. A
	// call without X-GitHub-Event is then ignored.
	EventFilter []string
}

// Call is what a valid call asks for: a run of Project with Prompt.
type Call struct {
	// Hook is the Hook's ID.
	Hook            string
	Project, Engine string
	// Prompt is rendered, trimmed and not empty.
	Prompt string
	// Event is the GitHub event, with the body's action when it has one:
	// "issues.opened", "push"; empty when the caller sent none.
	Event string
	// Delivery is the caller's delivery id (X-GitHub-Delivery or
	// X-Delivery), or empty.
	Delivery string
}

// Options configure a Server.
type Options struct {
	// Listen is the host:port ListenAndServe listens on.
	Listen string
	Hooks  []Hook
	// Fire starts what a call asks for. It is called synchronously, with
	// a context that ends after FireTimeout or when the Server closes, and
	// may be called concurrently. An error answers 503 and is logged.
	Fire func(ctx context.Context, c Call) error
	// Logger receives the refusals and the calls fired; nil discards.
	Logger *slog.Logger
	// MaxBody is the largest body read, in bytes; 0 means
	// DefaultMaxBody.
	MaxBody int64
	// HookRate and GlobalRate bound calls per hook and in all; zero values
	// mean DefaultHookRate and DefaultGlobalRate.
	HookRate, GlobalRate Rate
	// ReplayWindow is how long delivery ids and signed bodies are
	// remembered; 0 means DefaultReplayWindow.
	ReplayWindow time.Duration
	// FireTimeout bounds one Fire; 0 means DefaultFireTimeout.
	FireTimeout time.Duration
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Server answers webhook calls. Its methods are safe for concurrent use.
type Server struct {
	opts  Options
	log   *slog.Logger
	hooks map[string]*hook // by path

	// ctx ends when Close returns; the contexts given to Fire derive from
	// it.
	ctx     context.Context
	cancel  context.CancelFunc
	closing chan struct{} // closed by Close: Serve shuts down
	once    sync.Once
	wg      sync.WaitGroup // Serve

	mu     sync.Mutex // guards the fields below and each hook's bucket
	global *bucket
	seen   *memory
	logs   *throttle
}

type hook struct {
	Hook
	tmpl   *template.Template
	bucket *bucket
}

// New checks opts and returns a Server that is not listening yet: see
// ListenAndServe, Serve, or use it as an http.Handler. The error lists
// every problem of the hooks.
func New(opts Options) (*Server, error) {
	if opts.Fire == nil {
		return nil, errors.New("new webhook server: no Fire")
	}
	opts.MaxBody = cmpOr(opts.MaxBody, DefaultMaxBody)
	opts.ReplayWindow = cmpOr(opts.ReplayWindow, DefaultReplayWindow)
	opts.FireTimeout = cmpOr(opts.FireTimeout, DefaultFireTimeout)
	if opts.HookRate == (Rate{}) {
		opts.HookRate = DefaultHookRate
	}
	if opts.GlobalRate == (Rate{}) {
		opts.GlobalRate = DefaultGlobalRate
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var errs []error
	for name, r := range map[string]Rate{"hook": opts.HookRate, "global": opts.GlobalRate} {
		if r.PerMinute <= 0 || r.Burst < 1 {
			errs = append(errs, fmt.Errorf("%s rate %+v: want PerMinute > 0 and Burst >= 1", name, r))
		}
	}
	now := opts.Now()
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		hooks:   map[string]*hook{},
		closing: make(chan struct{}),
		global:  newBucket(opts.GlobalRate, now),
		seen:    newMemory(opts.ReplayWindow),
		logs:    newThrottle(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	ids := map[string]bool{}
	for _, h := range opts.Hooks {
		hk, err := newHook(h, now, opts.HookRate)
		switch {
		case err != nil:
			errs = append(errs, err)
		case ids[h.ID]:
			errs = append(errs, fmt.Errorf("webhook %s: id used twice", h.ID))
		case s.hooks[h.Path] != nil:
			errs = append(errs, fmt.Errorf("webhook %s: path %s is webhook %s's", h.ID, h.Path, s.hooks[h.Path].ID))
		default:
			s.hooks[h.Path] = hk
		}
		ids[h.ID] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// newHook checks h and parses its template.
func newHook(h Hook, now time.Time, r Rate) (*hook, error) {
	if h.ID == "" {
		return nil, fmt.Errorf("webhook at %q: no id", h.Path)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if msg := CheckPath(h.Path); msg != "" {
		bad("path %s", msg)
	}
	switch h.Auth {
	case "", AuthHMACSHA256:
		h.Auth = AuthHMACSHA256
	case AuthBearer:
		if strings.ContainsFunc(h.Secret, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			bad("a bearer token cannot hold spaces or control characters")
		}
	default:
		bad("auth %q: want %q or %q", h.Auth, AuthHMACSHA256, AuthBearer)
	}
	if h.Secret == "" {
		bad("no secret")
	}
	if h.Project == "" {
		bad("no project")
	}
	for _, e := range h.EventFilter {
		if !eventRE.MatchString(e) {
			bad("event filter %q: want an event such as \"issues\" or an event and action such as \"issues.opened\"", e)
		}
	}
	tmpl, err := ParseTemplate(h.PromptTemplate)
	switch {
	case strings.TrimSpace(h.PromptTemplate) == "":
		bad("no prompt template")
	case err != nil:
		bad("prompt template: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", h.ID, err)
	}
	return &hook{Hook: h, tmpl: tmpl, bucket: newBucket(r, now)}, nil
}

// CheckPath returns why p cannot be a Hook's Path, or "".
func CheckPath(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q must start with /", p)
	case strings.ContainsAny(p, "?#%") || strings.ContainsFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Sprintf("%q must hold no spaces, ?, # or %%", p)
	case path.Clean(p) != p:
		return fmt.Sprintf("%q is not clean: write %q", p, path.Clean(p))
	}
	return ""
}

// ListenAndServe listens on Options.Listen and serves until ctx ends or
// Close is called, then shuts down gracefully: calls in progress get up to
// 15 seconds to finish. It returns nil after a shutdown, or why it could not
// listen or serve. Call it (or Serve) once.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if s.opts.Listen == "" {
		return errors.New("listen for webhooks: no address")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen for webhooks: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on a listener of the caller's; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.wg.Add(1)
	defer s.wg.Done()
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      s.opts.FireTimeout + 10*time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		s.log.Warn("webhooks listen beyond this host: put them behind TLS", "addr", a.String())
	} else {
		s.log.Info("webhooks listening", "addr", ln.Addr().String(), "hooks", len(s.hooks))
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve webhooks: %w", err)
	case <-ctx.Done():
	case <-s.closing:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		err = fmt.Errorf("shut down webhooks: %w", err)
		hs.Close()
	}
	<-served // http.ErrServerClosed
	return err
}

// Close stops Serve, waits for it to return, then ends the contexts of the
// Fire calls still running. Idempotent.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closing) })
	s.wg.Wait()
	s.cancel()
	return nil
}
