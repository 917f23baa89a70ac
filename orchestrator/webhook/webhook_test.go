package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testSecret = "It's a Secret to Everybody"
	testToken  = "tok-5f2b9c7e1d"
	issuePath  = "/hooks/github"
	tokenPath  = "/hooks/ci"
)

// issueTemplate is a prompt as a user would write it for GitHub issues.
const issueTemplate = `Fix issue #{{ .issue.number }} of {{ .repository.full_name }}: {{ .issue.title }}
Reported by {{ .issue.user.login }}{{ with .issue.milestone }} for {{ .title }}{{ end }}.
Labels: {{ range $i, $l := .issue.labels }}{{ if $i }}, {{ end }}{{ $l.name }}{{ end }}

{{ .issue.body }}`

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fired records the calls given to Fire, and fails them while err is set.
type fired struct {
	mu    sync.Mutex
	calls []Call
	err   error
}

func (f *fired) fire(_ context.Context, c Call) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.calls = append(f.calls, c)
	return nil
}

func (f *fired) taken() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

func (f *fired) failWith(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

type harness struct {
	srv   *Server
	url   string
	fired *fired
	clock *clock
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testHooks() []Hook {
	return []Hook{
		{ID: "gh-issues", Path: issuePath, Secret: testSecret, Project: "api", Engine: "codex",
			PromptTemplate: issueTemplate, EventFilter: []string{"issues.opened", "workflow_run.completed"}},
		{ID: "ci", Path: tokenPath, Secret: testToken, Auth: AuthBearer, Project: "web",
			PromptTemplate: "CI failed on {{ .branch }}: {{ .log_url }}"},
	}
}

// newHarness serves testHooks (changed by edit) through httptest.
func newHarness(t *testing.T, edit func(*Options)) *harness {
	t.Helper()
	h := &harness{fired: &fired{}, clock: &clock{now: time.Date(2025, 5, 14, 9, 21, 7, 0, time.UTC)}, logs: &syncBuffer{}}
	opts := Options{
		Hooks:  testHooks(),
		Fire:   h.fired.fire,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    h.clock.Now,
	}
	if edit != nil {
		edit(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	h.srv, h.url = srv, ts.URL
	return h
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func issueBody(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/issues_opened.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// githubHeaders are what GitHub sends with an issues event.
func githubHeaders(body []byte, delivery string) map[string]string {
	return map[string]string{
		"Content-Type":        "application/json",
		"User-Agent":          "GitHub-Hookshot/a1b2c3d",
		"X-GitHub-Event":      "issues",
		"X-GitHub-Delivery":   delivery,
		"X-GitHub-Hook-ID":    "292430182",
		"X-Hub-Signature-256": sign(testSecret, body),
	}
}

type response struct {
	status int
	body   string
	header http.Header
}

func (h *harness) do(t *testing.T, method, path string, body []byte, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b), resp.Header}
}

func (h *harness) post(t *testing.T, path string, body []byte, headers map[string]string) response {
	t.Helper()
	return h.do(t, http.MethodPost, path, body, headers)
}

func TestGitHubIssueFires(t *testing.T) {
	h := newHarness(t, nil)
	body := issueBody(t)
	r := h.post(t, issuePath, body, githubHeaders(body, "72d3162e-cc78-11e3-81ab-4c9367dc0958"))
	if r.status != http.StatusAccepted || strings.TrimSpace(r.body) != `{"ok":true}` {
		t.Fatalf("answer %d %s, want 202 {\"ok\":true}", r.status, r.body)
	}
	want := Call{
		Hook:    "gh-issues",
		Project: "api",
		Engine:  "codex",
		Prompt: "Fix issue #1347 of octo-org/hello-world: Crash when the config file is empty\n" +
			"Reported by octocat.\n" +
			"Labels: bug, good first issue\n\n" +
			"Steps:\n1. `touch untether.toml`\n2. `untether run`\n\nIt panics with a nil map.",
		Event:    "issues.opened",
		Delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
	}
	calls := h.fired.taken()
	if len(calls) != 1 || calls[0] != want {
		t.Fatalf("fired %+v, want %+v", calls, want)
	}
	if strings.Contains(h.logs.String(), testSecret) || strings.Contains(h.logs.String(), "nil map") {
		t.Errorf("the log holds the secret or the body:\n%s", h.logs)
	}
}

// TestRefusals: none of these calls starts anything.
func TestRefusals(t *testing.T) {
	body := issueBody(t)
	tampered := bytes.Replace(body, []byte("Crash when the config file is empty"), []byte("Delete every branch but main"), 1)
	closed := bytes.Replace(body, []byte(`"action": "opened"`), []byte(`"action": "closed"`), 1)
	gh := func(b []byte, edit func(map[string]string)) map[string]string {
		m := githubHeaders(b, "d-1")
		if edit != nil {
			edit(m)
		}
		return m
	}
	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		headers    map[string]string
		wantStatus int
		wantBody   string
	}{
		{"wrong signature", "", issuePath, body, gh(body, func(m map[string]string) { m["X-Hub-Signature-256"] = sign("guess", body) }), 401, "bad signature"},
		{"no signature", "", issuePath, body, gh(body, func(m map[string]string) { delete(m, "X-Hub-Signature-256") }), 401, "bad signature"},
		{"sha1 signature only", "", issuePath, body, gh(body, func(m map[string]string) {
			delete(m, "X-Hub-Signature-256")
			m["X-Hub-Signature"] = "sha1=0123456789abcdef0123456789abcdef01234567"
		}), 401, "bad signature"},
		{"signature not hex", "", issuePath, body, gh(body, func(m map[string]string) { m["X-Hub-Signature-256"] = "sha256=zz" }), 401, "bad signature"},
		{"tampered replay", "", issuePath, tampered, gh(body, nil), 401, "bad signature"},
		{"bearer on a signed hook", "", issuePath, body, map[string]string{"Authorization": "Bearer " + testSecret}, 401, "bad signature"},
		{"unknown path", "", "/hooks/gitlab", body, gh(body, nil), 404, "no webhook"},
		{"path with a trailing slash", "", issuePath + "/", body, gh(body, nil), 404, "no webhook"},
		{"GET", http.MethodGet, issuePath, nil, nil, 405, "use POST"},
		{"oversized", "", issuePath, bytes.Repeat([]byte(" "), DefaultMaxBody+1), nil, 413, "too large"},
		{"not JSON", "", tokenPath, []byte("branch=main"), map[string]string{"Authorization": "Bearer " + testToken}, 400, "JSON object"},
		{"JSON array", "", tokenPath, []byte(`[{"branch":"main"}]`), map[string]string{"Authorization": "Bearer " + testToken}, 400, "JSON object"},
		{"two JSON objects", "", tokenPath, []byte(`{"branch":"a"}{"branch":"b"}`), map[string]string{"Authorization": "Bearer " + testToken}, 400, "JSON object"},
		{"bad bearer", "", tokenPath, []byte(`{"branch":"main"}`), map[string]string{"Authorization": "Bearer " + testToken + "x"}, 401, "bad signature"},
		{"bearer prefix only", "", tokenPath, []byte(`{"branch":"main"}`), map[string]string{"Authorization": "Bearer " + testToken[:4]}, 401, "bad signature"},
		{"no bearer", "", tokenPath, []byte(`{"branch":"main"}`), nil, 401, "bad signature"},
		{"basic auth", "", tokenPath, []byte(`{"branch":"main"}`), map[string]string{"Authorization": "Basic " + testToken}, 401, "bad signature"},
		{"event not in the filter", "", issuePath, body, gh(body, func(m map[string]string) { m["X-GitHub-Event"] = "push" }), 202, "ignored"},
		{"action not in the filter", "", issuePath, closed, gh(closed, nil), 202, "ignored"},
		{"no event with a filter", "", issuePath, body, gh(body, func(m map[string]string) { delete(m, "X-GitHub-Event") }), 202, "ignored"},
		{"ping", "", issuePath, body, gh(body, func(m map[string]string) { m["X-GitHub-Event"] = "ping" }), 200, "pong"},
		{"empty prompt", "", tokenPath, []byte(`{}`), map[string]string{"Authorization": "Bearer " + testToken}, 422, "prompt is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) {
				o.Hooks[1].PromptTemplate = "{{ .branch }}"
			})
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := h.do(t, method, tt.path, tt.body, tt.headers)
			if r.status != tt.wantStatus || !strings.Contains(r.body, tt.wantBody) {
				t.Errorf("answer %d %s, want %d with %q", r.status, r.body, tt.wantStatus, tt.wantBody)
			}
			if calls := h.fired.taken(); len(calls) != 0 {
				t.Errorf("fired %+v", calls)
			}
			if strings.Contains(h.logs.String(), testSecret) || strings.Contains(h.logs.String(), testToken) {
				t.Errorf("the log holds a secret:\n%s", h.logs)
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	body := issueBody(t)
	workflow := []byte(`{"action":"completed","workflow_run":{"conclusion":"failure","head_branch":"main"}}`)
	tests := []struct {
		name      string
		path      string
		body      []byte
		headers   map[string]string
		wantEvent string
	}{
		{"bearer", tokenPath, []byte(`{"branch":"main","log_url":"https://ci.example.com/1"}`), map[string]string{"Authorization": "Bearer " + testToken}, ""},
		{"bearer, scheme in lower case", tokenPath, []byte(`{"branch":"main"}`), map[string]string{"authorization": "bearer " + testToken}, ""},
		{"generic signature header", issuePath, body, map[string]string{"X-Signature-256": sign(testSecret, body), "X-GitHub-Event": "issues"}, "issues.opened"},
		{"upper-case hex", issuePath, body, map[string]string{"X-Hub-Signature-256": "sha256=" + strings.ToUpper(strings.TrimPrefix(sign(testSecret, body), "sha256=")), "X-GitHub-Event": "issues"}, "issues.opened"},
		{"event and action in the filter", issuePath, workflow, map[string]string{"X-Hub-Signature-256": sign(testSecret, workflow), "X-GitHub-Event": "workflow_run"}, "workflow_run.completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.Hooks[0].PromptTemplate = "go {{ .issue.number }}{{ .workflow_run.head_branch }}" })
			r := h.post(t, tt.path, tt.body, tt.headers)
			if r.status != http.StatusAccepted {
				t.Fatalf("answer %d %s, want 202", r.status, r.body)
			}
			calls := h.fired.taken()
			if len(calls) != 1 || calls[0].Event != tt.wantEvent || calls[0].Prompt == "" {
				t.Errorf("fired %+v, want one call of event %q", calls, tt.wantEvent)
			}
		})
	}
	t.Run("event name in the filter takes every action", func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.Hooks[0].EventFilter = []string{"issues"} })
		closed := bytes.Replace(body, []byte(`"action": "opened"`), []byte(`"action": "closed"`), 1)
		if r := h.post(t, issuePath, closed, githubHeaders(closed, "d-2")); r.status != http.StatusAccepted {
			t.Errorf("answer %d %s, want 202", r.status, r.body)
		}
	})
}

func TestOversizedBodyIsNotRead(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxBody = 1024 })
	// Without a Content-Length the server must read, and stop after
	// MaxBody+1 bytes. What the handler itself reads is counted: over a
	// socket the kernel's buffers (tens of MiB on loopback) would take
	// the client's bytes whether the server reads them or not.
	src := &countingReader{r: io.MultiReader(strings.NewReader(`{"branch":"`), strings.NewReader(strings.Repeat("a", 10<<20)))}
	req := httptest.NewRequest(http.MethodPost, tokenPath, src)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", rec.Code)
	}
	if n := src.count(); n > 64<<10 {
		t.Errorf("the server read %d bytes of a body over its limit of 1024", n)
	}
	if calls := h.fired.taken(); len(calls) != 0 {
		t.Errorf("fired %+v", calls)
	}
	// At the limit exactly it is taken.
	body := []byte(`{"branch":"` + strings.Repeat("a", 1024-len(`{"branch":""}`)) + `"}`)
	if r := h.post(t, tokenPath, body, map[string]string{"Authorization": "Bearer " + testToken}); r.status != http.StatusAccepted {
		t.Errorf("a body of MaxBody bytes: %d %s", r.status, r.body)
	}
}

type countingReader struct {
	mu sync.Mutex
	r  io.Reader
	n  int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.mu.Lock()
	c.n += n
	c.mu.Unlock()
	return n, err
}

func (c *countingReader) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func TestDuplicates(t *testing.T) {
	h := newHarness(t, nil)
	body := issueBody(t)
	post := func(b []byte, delivery string) response { return h.post(t, issuePath, b, githubHeaders(b, delivery)) }
	if r := post(body, "d-1"); r.status != http.StatusAccepted {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	if r := post(body, "d-1"); r.status != http.StatusOK || !strings.Contains(r.body, "duplicate") {
		t.Errorf("same delivery: %d %s, want 200 duplicate", r.status, r.body)
	}
	// A captured call sent again under a new delivery id is still a replay.
	if r := post(body, "d-2"); r.status != http.StatusOK || !strings.Contains(r.body, "duplicate") {
		t.Errorf("same body, new delivery: %d %s, want 200 duplicate", r.status, r.body)
	}
	other := bytes.Replace(body, []byte("1347"), []byte("1348"), -1)
	if r := post(other, "d-1"); r.status != http.StatusOK {
		t.Errorf("new body, same delivery: %d %s, want 200 duplicate", r.status, r.body)
	}
	if r := post(other, "d-3"); r.status != http.StatusAccepted {
		t.Errorf("new body, new delivery: %d %s, want 202", r.status, r.body)
	}
	h.clock.advance(DefaultReplayWindow)
	if r := post(body, "d-1"); r.status != http.StatusAccepted {
		t.Errorf("after the replay window: %d %s, want 202", r.status, r.body)
	}
	if n := len(h.fired.taken()); n != 3 {
		t.Errorf("fired %d calls, want 3", n)
	}
}

func TestFireError(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.HookRate = Rate{PerMinute: 1, Burst: 1} })
	body := issueBody(t)
	h.fired.failWith(errors.New("chat -100123 unreachable"))
	if r := h.post(t, issuePath, body, githubHeaders(body, "d-1")); r.status != http.StatusServiceUnavailable {
		t.Fatalf("answer %d %s, want 503", r.status, r.body)
	}
	if !strings.Contains(h.logs.String(), "chat -100123 unreachable") {
		t.Errorf("the log does not say why:\n%s", h.logs)
	}
	// The sender's redelivery goes through: the failed call was forgotten
	// and its token given back.
	h.fired.failWith(nil)
	if r := h.post(t, issuePath, body, githubHeaders(body, "d-1")); r.status != http.StatusAccepted {
		t.Errorf("redelivery: %d %s, want 202", r.status, r.body)
	}
}

func TestRateLimits(t *testing.T) {
	t.Run("per hook", func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.HookRate = Rate{PerMinute: 6, Burst: 2} })
		call := func(i int) response {
			b := []byte(`{"branch":"b` + string(rune('a'+i)) + `"}`)
			return h.post(t, tokenPath, b, map[string]string{"Authorization": "Bearer " + testToken})
		}
		for i := range 2 {
			if r := call(i); r.status != http.StatusAccepted {
				t.Fatalf("call %d: %d %s", i, r.status, r.body)
			}
		}
		// Strangers do not use up the hook's allowance.
		for range 5 {
			h.post(t, tokenPath, []byte(`{}`), map[string]string{"Authorization": "Bearer nope"})
		}
		r := call(2)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "10" {
			t.Fatalf("third call: %d %s Retry-After %q, want 429 after 10s", r.status, r.body, r.header.Get("Retry-After"))
		}
		// The other hook has its own bucket.
		body := issueBody(t)
		if r := h.post(t, issuePath, body, githubHeaders(body, "d-1")); r.status != http.StatusAccepted {
			t.Errorf("other hook: %d %s", r.status, r.body)
		}
		h.clock.advance(10 * time.Second)
		if r := call(3); r.status != http.StatusAccepted {
			t.Errorf("after Retry-After: %d %s", r.status, r.body)
		}
		if n := len(h.fired.taken()); n != 4 {
			t.Errorf("fired %d, want 4", n)
		}
	})
	t.Run("global", func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.GlobalRate = Rate{PerMinute: 1, Burst: 3} })
		for range 3 {
			h.post(t, tokenPath, []byte(`{}`), map[string]string{"Authorization": "Bearer nope"})
		}
		body := issueBody(t)
		r := h.post(t, issuePath, body, githubHeaders(body, "d-1"))
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "60" {
			t.Errorf("answer %d %s Retry-After %q, want 429 after 60s", r.status, r.body, r.header.Get("Retry-After"))
		}
		if r := h.post(t, "/elsewhere", body, nil); r.status != http.StatusNotFound {
			t.Errorf("unknown path: %d, want 404 (not counted)", r.status)
		}
	})
}

func TestRefusalsLoggedOncePerMinute(t *testing.T) {
	h := newHarness(t, nil)
	body := issueBody(t)
	bad := githubHeaders(body, "d-1")
	bad["X-Hub-Signature-256"] = sign("guess", body)
	for range 20 {
		h.post(t, issuePath, body, bad)
	}
	for range 3 {
		h.post(t, "/wp-login.php", nil, nil)
	}
	if n := strings.Count(h.logs.String(), "reason=auth"); n != 1 {
		t.Errorf("%d log lines for 20 bad signatures, want 1:\n%s", n, h.logs)
	}
	if n := strings.Count(h.logs.String(), "reason=path"); n != 1 {
		t.Errorf("%d log lines for 3 unknown paths, want 1", n)
	}
	h.clock.advance(time.Minute)
	h.post(t, issuePath, body, bad)
	if !strings.Contains(h.logs.String(), "suppressed=19") {
		t.Errorf("the next minute's line does not count the 19 left unsaid:\n%s", h.logs)
	}
	for _, secret := range []string{testSecret, strings.TrimPrefix(bad["X-Hub-Signature-256"], "sha256="), "octo-org", "wp-login"} {
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, h.logs)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	fire := func(context.Context, Call) error { return nil }
	ok := Hook{ID: "a", Path: "/a", Secret: "s3cr3t-value", Project: "p", PromptTemplate: "{{ .x }}"}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no fire", func(o *Options) { o.Fire = nil }, "no Fire"},
		{"unclosed action", func(o *Options) { o.Hooks[0].PromptTemplate = "Fix {{ .issue.title" }, `webhook a: prompt template: prompt:1: unclosed action`},
		{"unknown function", func(o *Options) { o.Hooks[0].PromptTemplate = "{{ upper .x }}" }, `function "upper" not defined`},
		{"undefined template", func(o *Options) { o.Hooks[0].PromptTemplate = `{{ template "body" . }}` }, `template "body" is called but not defined`},
		{"empty template", func(o *Options) { o.Hooks[0].PromptTemplate = " \n" }, "no prompt template"},
		{"no id", func(o *Options) { o.Hooks[0].ID = "" }, `webhook at "/a": no id`},
		{"duplicate id", func(o *Options) {
			o.Hooks = append(o.Hooks, Hook{ID: "a", Path: "/b", Secret: "x", Project: "p", PromptTemplate: "x"})
		}, "id used twice"},
		{"duplicate path", func(o *Options) {
			o.Hooks = append(o.Hooks, Hook{ID: "b", Path: "/a", Secret: "x", Project: "p", PromptTemplate: "x"})
		}, "path /a is webhook a's"},
		{"relative path", func(o *Options) { o.Hooks[0].Path = "a" }, "must start with /"},
		{"unclean path", func(o *Options) { o.Hooks[0].Path = "/a/../b/" }, `write "/b"`},
		{"query in path", func(o *Options) { o.Hooks[0].Path = "/a?x=1" }, "no spaces, ?, # or %"},
		{"no secret", func(o *Options) { o.Hooks[0].Secret = "" }, "no secret"},
		{"bearer with a space", func(o *Options) { o.Hooks[0].Auth, o.Hooks[0].Secret = AuthBearer, "a b" }, "spaces"},
		{"unknown auth", func(o *Options) { o.Hooks[0].Auth = "basic" }, `auth "basic"`},
		{"no project", func(o *Options) { o.Hooks[0].Project = "" }, "no project"},
		{"bad event filter", func(o *Options) { o.Hooks[0].EventFilter = []string{"Issues.Opened"} }, `event filter "Issues.Opened"`},
		{"bad rate", func(o *Options) { o.HookRate = Rate{PerMinute: 1} }, "hook rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Hooks: []Hook{ok}, Fire: fire}
			tt.edit(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error with %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the error holds the secret: %v", err)
			}
		})
	}
}

func TestServeAndClose(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	srv, err := New(Options{
		Hooks: []Hook{{ID: "a", Path: "/a", Secret: testToken, Auth: AuthBearer, Project: "p", PromptTemplate: "go"}},
		Fire: func(ctx context.Context, c Call) error {
			close(started)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()

	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/a", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-started
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	// A call in progress finishes before Close returns.
	select {
	case <-closed:
		t.Fatal("Close returned while a call was in progress")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if code := <-answered; code != http.StatusAccepted {
		t.Errorf("the call in progress got %d, want 202", code)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestListenAndServe(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	opts := Options{Listen: busy.Addr().String(), Fire: func(context.Context, Call) error { return nil }}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ListenAndServe(context.Background()); err == nil || !strings.Contains(err.Error(), "listen for webhooks") {
		t.Errorf("on a busy port: %v", err)
	}
	srv.Close()

	opts.Listen = "127.0.0.1:0"
	srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx) }()
	cancel()
	if err := <-served; err != nil {
		t.Errorf("ListenAndServe after cancel: %v", err)
	}
	srv.Close()
}
