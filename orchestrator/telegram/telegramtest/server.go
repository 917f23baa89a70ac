package telegramtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultToken matches telego's token format (^\d+:[\w-]{35}$); the bot's id
// is 123456789.
const DefaultToken = "123456789:AAE-untether-telegramtest-token-000"

// Options configure a Server.
type Options struct {
	// Token the bot must use; default DefaultToken. The digits before the
	// colon are the bot's user id.
	Token string
	// BotUsername is getMe's username; default "untether_test_bot".
	BotUsername string
	// Limits is the flood control; the zero value means DefaultLimits().
	Limits Limits
	// CallbackQueryTimeout is how long a callback query can be answered;
	// default 15 s, as Telegram.
	CallbackQueryTimeout time.Duration
	// Local makes the server act as a local Bot API server (telegram-bot-api
	// --local): files of any size can be downloaded and uploads may reach
	// 2000 MB. Downloads still go through GET /file/bot<token>/<file_path>.
	Local bool
	// NoDrafts makes the server act as a Bot API server older than 9.3,
	// which has no sendMessageDraft: the method is answered 404 Not Found,
	// as every unknown method.
	NoDrafts bool
}

// Call is one request the server received. A download (GET
// /file/bot<token>/<file_path>) is recorded as Method "file" with the
// parameter file_path.
type Call struct {
	Method string
	// Params as decoded from the request (JSON numbers are float64). Shared:
	// do not modify.
	Params     map[string]any
	At         time.Time
	HTTPStatus int // 0 while the call runs, and for a stalled call
	// Stalled is set when Stall held the call: it had no effect and got no
	// response.
	Stalled     bool
	ErrorCode   int
	Description string
	Finished    time.Time
}

// failure is one FailNext rule.
type failure struct {
	n   int
	err apiError
}

// Server is a Bot API server for one bot, on 127.0.0.1.
type Server struct {
	token    string
	botID    int64
	username string
	cbTTL    time.Duration
	local    bool
	noDrafts bool
	url      string
	srv      *http.Server
	methods  map[string]methodFunc // by lower-case name
	names    map[string]string     // lower-case name → canonical name

	ctx      context.Context // ends at Close
	cancel   context.CancelFunc
	serving  sync.WaitGroup // the Serve goroutine
	handlers sync.WaitGroup // running ServeHTTP calls
	closing  sync.Once

	mu        sync.Mutex
	closed    bool
	changed   chan struct{} // closed and replaced on every change
	calls     []Call
	down      bool
	failures  map[string][]*failure
	stalls    map[string]int           // calls left to stall, by lower-case method
	unstall   map[string]chan struct{} // closed at Unstall, by lower-case method
	limiter   *limiter
	chats     map[int64]*chatState
	chatOrder []int64

	updates      []queuedUpdate
	nextUpdateID int64
	confirmed    int64 // updates below this id are confirmed
	served       map[int64]time.Time
	allowed      map[string]bool // nil: every kind
	poll         *longPoll       // the pending long poll

	queries     map[string]*callbackQuery
	nextQueryID int64
	commands    map[string][]wireCommand

	drafts        []Draft
	stoppedDrafts map[draftKey]bool

	files     map[string]*storedFile // by file_id
	filePaths map[string]*storedFile // by file_path
	nextFile  int64
	nextGroup int64
}

// firstUpdateID is where update ids start, as on a bot that lived a while.
const firstUpdateID = 100000

// NewServer starts a server on 127.0.0.1 at an ephemeral port. It panics when
// it cannot listen or when opts.Token has no numeric bot id, as
// httptest.NewServer does: it is for tests only.
func NewServer(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.BotUsername == "" {
		opts.BotUsername = "untether_test_bot"
	}
	if opts.CallbackQueryTimeout <= 0 {
		opts.CallbackQueryTimeout = 15 * time.Second
	}
	idText, _, _ := strings.Cut(opts.Token, ":")
	botID, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || botID <= 0 {
		panic(fmt.Sprintf("telegramtest: token %q has no numeric bot id before ':'", opts.Token))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("telegramtest: listen: %v", err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		token:        opts.Token,
		botID:        botID,
		username:     opts.BotUsername,
		cbTTL:        opts.CallbackQueryTimeout,
		local:        opts.Local,
		noDrafts:     opts.NoDrafts,
		url:          "http://" + ln.Addr().String(),
		ctx:          ctx,
		cancel:       cancel,
		changed:      make(chan struct{}),
		failures:     make(map[string][]*failure),
		stalls:       make(map[string]int),
		unstall:      make(map[string]chan struct{}),
		limiter:      newLimiter(opts.Limits),
		chats:        make(map[int64]*chatState),
		nextUpdateID: firstUpdateID,
		confirmed:    firstUpdateID,
		served:       make(map[int64]time.Time),
		queries:      make(map[string]*callbackQuery),
		commands:     make(map[string][]wireCommand),
		files:        make(map[string]*storedFile),
		filePaths:    make(map[string]*storedFile),
	}
	s.methods, s.names = s.methodTable()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed at Close
	}()
	return s
}

// URL is the base URL for telego.WithAPIServer, without a trailing slash.
func (s *Server) URL() string { return s.url }

// Token is the bot token the server accepts.
func (s *Server) Token() string { return s.token }

// BotID is the bot's user id.
func (s *Server) BotID() int64 { return s.botID }

// Close stops the listener, ends pending long polls and stalled calls and
// waits for every handler to return. It is idempotent.
func (s *Server) Close() {
	s.closing.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel() // long polls, stalled calls and WaitFor return
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		s.serving.Wait()
		s.handlers.Wait()
	})
}

// FailNext makes the next n calls of method fail with that error code (also
// the HTTP status) and description; retryAfter, when positive, is sent as
// parameters.retry_after. The failing calls are recorded and have no effect.
// Rules queue up: a second FailNext applies after the first is used up.
func (s *Server) FailNext(method string, n int, code int, description string, retryAfter int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(method)
	s.failures[key] = append(s.failures[key], &failure{n: n,
		err: apiError{code: code, desc: description, retryAfter: retryAfter}})
}

// SetDown simulates an outage: while down, every request is answered 502 Bad
// Gateway (the connection stays up) and pending long polls end with it.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
	s.notifyLocked()
}

// Stall makes the next n calls of method hang, as a peer that accepted the
// connection and then went silent: the server reads the request, records
// it (Call.Stalled) and never answers. A stalled call has no effect. It
// ends with the connection closed and no response when the client gives
// up, at Unstall(method), or at Close. Stalls add up.
func (s *Server) Stall(method string, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(method)
	s.stalls[key] += n
	if s.unstall[key] == nil {
		s.unstall[key] = make(chan struct{})
	}
}

// Unstall ends the stalled calls of method and drops its stalls not used
// yet.
func (s *Server) Unstall(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(method)
	delete(s.stalls, key)
	if ch := s.unstall[key]; ch != nil {
		close(ch)
		delete(s.unstall, key)
	}
}

// takeStallLocked consumes a Stall of method. It returns the channel that
// Unstall closes, or nil when the call is not to stall.
func (s *Server) takeStallLocked(method string) <-chan struct{} {
	key := strings.ToLower(method)
	if s.stalls[key] == 0 {
		return nil
	}
	s.stalls[key]--
	if s.stalls[key] == 0 {
		delete(s.stalls, key)
	}
	return s.unstall[key]
}

// hang holds call idx, which Stall took, until the client goes away,
// Unstall or Close, then drops the connection without a response. It is
// called with s.mu held and does not return: it unlocks and panics with
// http.ErrAbortHandler, which net/http handles quietly.
func (s *Server) hang(r *http.Request, idx int, unstall <-chan struct{}) {
	s.calls[idx].Stalled = true
	s.notifyLocked()
	s.mu.Unlock()
	select {
	case <-r.Context().Done(): // the client gave up
	case <-unstall:
	case <-s.ctx.Done():
	}
	s.mu.Lock()
	s.calls[idx].Finished = time.Now()
	s.notifyLocked()
	s.mu.Unlock()
	panic(http.ErrAbortHandler)
}

// notifyLocked wakes everything waiting for a change.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// takeFailureLocked consumes a FailNext rule for method, if any.
func (s *Server) takeFailureLocked(method string) *apiError {
	key := strings.ToLower(method)
	rules := s.failures[key]
	if len(rules) == 0 {
		return nil
	}
	f := rules[0]
	f.n--
	if f.n == 0 {
		s.failures[key] = rules[1:]
	}
	e := f.err
	return &e
}

// enter registers a handler unless the server is closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.handlers.Add(1)
	return true
}

// request is one call as a method sees it.
type request struct {
	p     params
	files map[string]upload // multipart file parts, by field name
	now   time.Time
}

// methodFunc runs a call with s.mu held.
type methodFunc func(r *request) (any, *apiError)

// ServeHTTP answers POST /bot<token>/<method>, and GET too, as Telegram
// does, and serves files at GET /file/bot<token>/<file_path>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "telegramtest server closed", http.StatusServiceUnavailable)
		return
	}
	defer s.handlers.Done()
	now := time.Now()
	if rest, ok := strings.CutPrefix(r.URL.Path, "/file/bot"); ok {
		s.serveFile(w, r, rest, now)
		return
	}
	token, rawMethod, pathOK := splitPath(r.URL.Path)
	p, ups, perr := readParams(r, s.maxUpload())

	s.mu.Lock()
	name, known := s.names[strings.ToLower(rawMethod)]
	if !known {
		name = rawMethod
	}
	idx := len(s.calls)
	s.calls = append(s.calls, Call{Method: name, Params: p, At: now})
	s.notifyLocked()
	if unstall := s.takeStallLocked(name); unstall != nil {
		s.hang(r, idx, unstall)
	}

	var result any
	var aerr *apiError
	switch {
	case s.down:
		aerr = &apiError{code: http.StatusBadGateway, desc: descBadGateway}
	case errors.Is(perr, errTooLarge):
		aerr = &apiError{code: http.StatusRequestEntityTooLarge, desc: descTooLarge}
	case !pathOK:
		aerr = &apiError{code: http.StatusNotFound, desc: descNotFound}
	case token != s.token:
		aerr = &apiError{code: http.StatusUnauthorized, desc: descUnauthorized}
	case !known:
		aerr = &apiError{code: http.StatusNotFound, desc: descNotFound}
	case perr != nil:
		aerr = badRequest("can't parse request: " + perr.Error())
	default:
		aerr = s.takeFailureLocked(name)
	}
	if aerr == nil {
		if name == "getUpdates" {
			s.mu.Unlock()
			result, aerr = s.getUpdates(r.Context(), p)
			s.mu.Lock()
		} else {
			result, aerr = s.methods[strings.ToLower(name)](&request{p: p, files: ups, now: now})
		}
	}
	body, status := encodeResponse(result, aerr)
	c := &s.calls[idx]
	c.HTTPStatus, c.Finished = status, time.Now()
	if aerr != nil {
		c.ErrorCode, c.Description = aerr.code, aerr.desc
	}
	s.notifyLocked()
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that went away is not the server's problem
}

// splitPath parses /bot<token>/<method>.
func splitPath(path string) (token, method string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/bot")
	if !ok {
		return "", "", false
	}
	token, method, ok = strings.Cut(rest, "/")
	if !ok || method == "" || strings.Contains(method, "/") {
		return "", "", false
	}
	return token, method, true
}

// methodTable maps the lower-case method names (Telegram ignores case) to
// their implementation and canonical spelling.
func (s *Server) methodTable() (map[string]methodFunc, map[string]string) {
	fns := map[string]methodFunc{
		"getMe":                  s.getMe,
		"getUpdates":             nil, // runs unlocked, see ServeHTTP
		"sendMessage":            s.sendMessage,
		"sendDocument":           s.sendDocument,
		"sendPhoto":              s.sendPhoto,
		"getFile":                s.getFile,
		"editMessageText":        s.editMessageText,
		"editMessageReplyMarkup": s.editMessageReplyMarkup,
		"deleteMessage":          s.deleteMessage,
		"answerCallbackQuery":    s.answerCallbackQuery,
		"setMyCommands":          s.setMyCommands,
		"getMyCommands":          s.getMyCommands,
		"deleteMyCommands":       s.deleteMyCommands,
		"sendChatAction":         s.sendChatAction,
		"sendMessageDraft":       s.sendMessageDraft,
		"deleteWebhook":          s.deleteWebhook,
		"getWebhookInfo":         s.getWebhookInfo,
	}
	methods := make(map[string]methodFunc, len(fns))
	names := make(map[string]string, len(fns))
	for name, fn := range fns {
		methods[strings.ToLower(name)] = fn
		names[strings.ToLower(name)] = name
	}
	return methods, names
}
