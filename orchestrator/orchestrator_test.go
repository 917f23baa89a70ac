package orchestrator

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/claude"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/sandbox"
)

// fakeChat records what the orchestrator writes.
type fakeChat struct {
	mu      sync.Mutex
	nextID  int64
	sent    []Outgoing
	ids     []int64
	edits   map[int64][]Text
	del     []int64
	answers []string
	change  chan struct{}
	// finalErrs are returned, one per call, by sends of final answers.
	finalErrs []error
}

func newFakeChat() *fakeChat {
	return &fakeChat{nextID: 100, edits: map[int64][]Text{}, change: make(chan struct{}, 1000)}
}

func (c *fakeChat) Send(_ context.Context, m Outgoing) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	final := strings.HasPrefix(m.Text.S, "done ·") || strings.HasPrefix(m.Text.S, "error ·")
	if final && len(c.finalErrs) > 0 {
		err := c.finalErrs[0]
		c.finalErrs = c.finalErrs[1:]
		c.change <- struct{}{}
		return 0, err
	}
	c.nextID++
	c.sent = append(c.sent, m)
	c.ids = append(c.ids, c.nextID)
	c.change <- struct{}{}
	return c.nextID, nil
}

func (c *fakeChat) Edit(_ context.Context, _, id int64, t Text, _ []Button) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.edits[id] = append(c.edits[id], t)
	return nil
}

func (c *fakeChat) AnswerCallback(_ context.Context, id, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers = append(c.answers, text)
	c.change <- struct{}{}
	return nil
}

func (c *fakeChat) Delete(_ context.Context, _, id int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.del = append(c.del, id)
	c.change <- struct{}{}
	return nil
}

// finals returns the texts of sent messages that are final answers.
func (c *fakeChat) finals() []Outgoing {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Outgoing
	for _, m := range c.sent {
		if strings.HasPrefix(m.Text.S, "done ·") || strings.HasPrefix(m.Text.S, "error ·") {
			out = append(out, m)
		}
	}
	return out
}

func (c *fakeChat) waitFinals(t *testing.T, n int) []Outgoing {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if f := c.finals(); len(f) >= n {
			return f
		}
		select {
		case <-c.change:
		case <-deadline:
			t.Fatalf("waited for %d final answers, have %d", n, len(c.finals()))
		}
	}
}

// fakeSandbox replays a captured stream and returns a fixed Result. It
// counts the runs in progress and the most seen at once.
type fakeSandbox struct {
	mu     sync.Mutex
	specs  []sandbox.Spec
	stream []byte
	result sandbox.Result
	err    error
	delay  time.Duration
	// hold, when set, keeps every run from streaming until it is closed.
	hold   chan struct{}
	active int
	peak   int
}

func (s *fakeSandbox) Run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error) {
	s.mu.Lock()
	s.specs = append(s.specs, spec)
	s.active++
	s.peak = max(s.peak, s.active)
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.active--; s.mu.Unlock() }()
	if s.err != nil {
		return sandbox.Result{}, s.err
	}
	if s.hold != nil {
		select {
		case <-s.hold:
		case <-ctx.Done():
			return sandbox.Result{Cancelled: true, ExitCode: 143}, nil
		}
	}
	for _, line := range bytes.Split(bytes.TrimSpace(s.stream), []byte("\n")) {
		onLine(line)
		if s.delay > 0 {
			select {
			case <-time.After(s.delay):
			case <-ctx.Done():
				return sandbox.Result{Cancelled: true, ExitCode: 143}, nil
			}
		}
	}
	return s.result, nil
}

type memSessions struct {
	mu sync.Mutex
	m  map[string][2]string
}

func (m *memSessions) Get(k string) (string, string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[k]
	return v[0], v[1], ok
}

func (m *memSessions) Put(k, e, r string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[k] = [2]string{e, r}
	return nil
}

func (m *memSessions) Delete(k string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, k)
	return nil
}

// fixture returns a stream the real claude printed (see
// engines/enginetest/captures/claude/README.md).
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := fs.ReadFile(captures.Engine("claude"), name)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return data
}

const group = int64(-100123)

// newTestOrchestrator returns an Orchestrator over the fakes, with edit
// applied to its options if given.
func newTestOrchestrator(t *testing.T, box *fakeSandbox, chat *fakeChat, edit ...func(*Options)) *Orchestrator {
	t.Helper()
	opts := Options{
		Instance:         "test",
		Projects:         []Project{{Name: "app", Path: "/src/app", ChatID: group, Limits: sandbox.Limits{MemoryBytes: 64 << 20, Timeout: 5 * time.Minute}, Images: map[string]string{"claude": "img"}}},
		DefaultEngine:    "claude",
		AllowedUsers:     []int64{7},
		ShowResumeLine:   true,
		Engines:          map[string]engines.Engine{"claude": claude.Engine{}},
		Chat:             chat,
		Sandbox:          box,
		Sessions:         &memSessions{m: map[string][2]string{}},
		ProgressInterval: 50 * time.Millisecond,
	}
	for _, e := range edit {
		e(&opts)
	}
	o, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o
}

func TestRunAnswersAndResumes(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o := newTestOrchestrator(t, box, chat)

	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	f := chat.waitFinals(t, 1)[0]
	if !strings.Contains(f.Text.S, "Done. Created hello.txt.") || f.ReplyTo != 1 {
		t.Fatalf("final = %+v", f)
	}
	resume := "claude --resume ca28b1b9-709d-454a-8bc1-33169420ef03"
	found := false
	for _, e := range f.Text.Entities {
		if e.Type == EntityCode && f.Text.S[e.Offset:e.Offset+e.Length] == resume {
			found = true
		}
	}
	if !found {
		t.Errorf("no resume code entity in %q %+v", f.Text.S, f.Text.Entities)
	}

	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "again"})
	chat.waitFinals(t, 2)
	o.Close()
	box.mu.Lock()
	argv := box.specs[1].Argv
	box.mu.Unlock()
	if i := slices.Index(argv, "--resume"); i < 0 || argv[i+1] != "ca28b1b9-709d-454a-8bc1-33169420ef03" {
		t.Errorf("second argv = %v", argv)
	}
	chat.mu.Lock()
	defer chat.mu.Unlock()
	if len(chat.del) != 2 {
		t.Errorf("deleted %v, want both progress messages", chat.del)
	}
}

func TestSpecCarriesLimitsLabelsAndMounts(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o := newTestOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	chat.waitFinals(t, 1)
	box.mu.Lock()
	s := box.specs[0]
	box.mu.Unlock()
	if s.Limits.MemoryBytes != 64<<20 || s.Image != "img" || s.Workdir != sandbox.WorkspaceDir {
		t.Errorf("spec = %+v", s)
	}
	if len(s.Mounts) != 1 || s.Mounts[0].Source != "/src/app" || s.Mounts[0].Target != sandbox.WorkspaceDir {
		t.Errorf("mounts = %+v", s.Mounts)
	}
	if len(s.Volumes) != 1 || s.Volumes[0].Name != "untether-test-app-claude-home" {
		t.Errorf("volumes = %+v", s.Volumes)
	}
	if s.Labels[sandbox.LabelInstance] != "test" || s.Labels[sandbox.LabelChat] != fmt.Sprint(group) || s.Labels[sandbox.LabelRun] == "" {
		t.Errorf("labels = %v", s.Labels)
	}
	if s.Env["HOME"] != sandbox.HomeDir || s.Env["IS_SANDBOX"] != "1" {
		t.Errorf("env = %v", s.Env)
	}
}

func TestFailuresBecomeHumanMessages(t *testing.T) {
	cases := []struct {
		name   string
		box    *fakeSandbox
		stream string
		want   []string
	}{
		{"out of memory", &fakeSandbox{result: sandbox.Result{ExitCode: 137, OOMKilled: true}}, "sigterm.jsonl", []string{"error · claude", "Out of memory", "64 MiB"}},
		{"timeout", &fakeSandbox{result: sandbox.Result{ExitCode: 143, TimedOut: true}}, "sigterm.jsonl", []string{"error · claude", "Timed out", "5m0s time limit"}},
		{"image missing", &fakeSandbox{err: fmt.Errorf("image img: %w", sandbox.ErrImageNotFound)}, "", []string{"untether images build claude"}},
		{"engine missing", &fakeSandbox{err: fmt.Errorf("look up claude: %w", sandbox.ErrEngineNotFound)}, "", []string{"The claude CLI is not installed"}},
		{"podman down", &fakeSandbox{err: fmt.Errorf("dial: %w", sandbox.ErrUnavailable)}, "", []string{"Podman is not reachable"}},
		{"api error", &fakeSandbox{result: sandbox.Result{ExitCode: 1}}, "error_401.jsonl", []string{"error · claude", "Invalid API key"}},
		{"crash", &fakeSandbox{result: sandbox.Result{ExitCode: 3, StderrTail: "boom\n"}}, "", []string{"error · claude", "code 3", "boom"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.stream != "" {
				tc.box.stream = fixture(t, tc.stream)
			}
			chat := newFakeChat()
			o := newTestOrchestrator(t, tc.box, chat)
			o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "x"})
			f := chat.waitFinals(t, 1)[0]
			for _, w := range tc.want {
				if !strings.Contains(f.Text.S, w) {
					t.Errorf("final %q lacks %q", f.Text.S, w)
				}
			}
			if strings.Contains(f.Text.S, "/src/app") {
				t.Errorf("final leaks a host path: %q", f.Text.S)
			}
		})
	}
}

func TestStrangersAndDuplicatesStartNothing(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o := newTestOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 666, Text: "x"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "x"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "x"})
	chat.waitFinals(t, 1)
	o.Close()
	if n := len(box.specs); n != 1 {
		t.Errorf("runs = %d, want 1", n)
	}
	for _, m := range chat.sent {
		if m.ReplyTo == 1 {
			t.Errorf("a stranger got a reply: %+v", m)
		}
	}
}

func TestSessionRunsQueueInOrder(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), delay: 20 * time.Millisecond}
	o := newTestOrchestrator(t, box, chat)
	for i := int64(1); i <= 3; i++ {
		o.Handle(context.Background(), Message{ChatID: group, MessageID: i, UserID: 7, Text: fmt.Sprint("m", i)})
	}
	finals := chat.waitFinals(t, 3)
	for i, f := range finals {
		if f.ReplyTo != int64(i+1) {
			t.Errorf("final %d answers message %d", i, f.ReplyTo)
		}
	}
	if box.peak != 1 {
		t.Errorf("%d runs of one session ran at once", box.peak)
	}
	queued := 0
	for _, m := range chat.sent {
		if strings.HasPrefix(m.Text.S, "queued") {
			queued++
		}
	}
	if queued != 2 {
		t.Errorf("%d queued notices, want 2", queued)
	}
}

func TestProgressEditsAreThrottled(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), delay: 30 * time.Millisecond}
	o := newTestOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "x"})
	chat.waitFinals(t, 1)
	o.Close()
	edits := chat.edits[chat.ids[0]]
	if len(edits) == 0 {
		t.Fatal("no progress edits")
	}
	// 9 lines 30 ms apart with a 50 ms interval: fewer edits than lines.
	if len(edits) >= 9 {
		t.Errorf("%d edits for 9 lines: not throttled", len(edits))
	}
	for i := 1; i < len(edits); i++ {
		if edits[i].S == edits[i-1].S {
			t.Errorf("edit %d repeats the text", i)
		}
	}
	last := edits[len(edits)-1].S
	if !strings.HasPrefix(last, "working · claude") || !strings.Contains(last, "echo hello > hello.txt") {
		t.Errorf("last progress text = %q", last)
	}
}

func TestSplitTextKeepsUnderLimit(t *testing.T) {
	long := strings.Repeat("paragraph with emoji 😀 and text.\n\n", 400)
	parts := splitText(long, 3500)
	if len(parts) < 2 {
		t.Fatalf("not split: %d parts", len(parts))
	}
	if strings.TrimRight(strings.Join(parts, "\n\n"), "\n") != strings.TrimRight(long, "\n") {
		t.Errorf("split lost or changed text")
	}
	for i, p := range parts {
		if utf16Len(p) > 3500 {
			t.Errorf("part %d has %d UTF-16 units", i, utf16Len(p))
		}
	}
}

func TestRenderedAnswerKeepsHeaderFirstAndFooterLast(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o := newTestOrchestrator(t, box, chat, func(opts *Options) {
		opts.Render = func(md string, max int) []Text {
			return []Text{
				{S: "part one", Entities: []Entity{{Type: EntityBold, Offset: 5, Length: 3}}},
				{S: "part two"},
			}
		}
	})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "x"})
	finals := chat.waitFinals(t, 1)
	o.Close()
	chat.mu.Lock()
	defer chat.mu.Unlock()
	var parts []Outgoing
	for _, m := range chat.sent {
		if m.ReplyTo == 1 && !strings.HasPrefix(m.Text.S, "starting") {
			parts = append(parts, m)
		}
	}
	if len(parts) != 2 || finals[0].Text.S != parts[0].Text.S {
		t.Fatalf("parts = %+v", parts)
	}
	first, last := parts[0].Text, parts[1].Text
	if !strings.HasPrefix(first.S, "done · claude") || strings.Contains(first.S, "claude --resume") {
		t.Errorf("first part = %q", first.S)
	}
	found := false
	for _, e := range first.Entities {
		if e.Type == EntityBold && first.S[e.Offset:e.Offset+e.Length] == "one" {
			found = true
		}
	}
	if !found {
		t.Errorf("rendered entity lost its place: %q %+v", first.S, first.Entities)
	}
	if !strings.HasPrefix(last.S, "part two") || !strings.Contains(last.S, "claude --resume") {
		t.Errorf("last part = %q", last.S)
	}
}
