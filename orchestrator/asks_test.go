package orchestrator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/sandbox"
)

// talkBox plays a captured interactive run of the real claude (see
// captures/claude/control): it prints the CLI's lines, and at each
// control_request waits for the client's control_response on the run's
// live stdin, as the CLI does. It returns once the stdin ends.
type talkBox struct {
	t      *testing.T
	stream []byte

	mu      sync.Mutex
	spec    sandbox.Spec
	written []string // what the bridge wrote, line by line
}

func (b *talkBox) Run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error) {
	b.mu.Lock()
	b.spec = spec
	b.mu.Unlock()
	if spec.Stdin == nil || !spec.LiveStdin {
		b.t.Errorf("an interactive run got no live stdin: %+v", spec)
		return sandbox.Result{ExitCode: 1}, nil
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(spec.Stdin)
		for sc.Scan() {
			b.mu.Lock()
			b.written = append(b.written, sc.Text())
			b.mu.Unlock()
			lines <- sc.Text()
		}
	}()
	stop := func() (sandbox.Result, error) {
		if c, ok := spec.Stdin.(interface{ Close() error }); ok {
			c.Close()
		}
		for range lines {
		}
		return sandbox.Result{Cancelled: true, ExitCode: 143}, nil
	}
	for _, line := range bytes.Split(bytes.TrimSpace(b.stream), []byte("\n")) {
		onLine(line)
		var c struct {
			Type      string `json:"type"`
			RequestID string `json:"request_id"`
		}
		json.Unmarshal(line, &c)
		if c.Type != "control_request" {
			continue
		}
		for answered := false; !answered; {
			select {
			case l, ok := <-lines:
				if !ok {
					b.t.Errorf("stdin ended while %s waited for its answer", c.RequestID)
					return sandbox.Result{ExitCode: 1}, nil
				}
				answered = strings.Contains(l, `"request_id":"`+c.RequestID+`"`)
			case <-ctx.Done():
				return stop()
			}
		}
	}
	// The answer is complete: the bridge ends the stdin, and the backend
	// stops the process.
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return sandbox.Result{StdinEnded: true, ExitCode: 143}, nil
			}
		case <-ctx.Done():
			return stop()
		}
	}
}

func (b *talkBox) stdinLines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.written...)
}

func controlStream(t *testing.T, name string) []byte {
	t.Helper()
	data, err := fs.ReadFile(captures.Engine("claude"), "control/"+name+".out.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// newAskingOrchestrator is an orchestrator whose project has approvals on,
// over a talkBox.
func newAskingOrchestrator(t *testing.T, box *talkBox, chat *fakeChat, edit ...func(*Options)) *Orchestrator {
	t.Helper()
	return newTestOrchestrator(t, nil, chat, append([]func(*Options){func(o *Options) {
		o.Sandbox = box
		o.Projects[0].Approvals = true
	}}, edit...)...)
}

// waitSent waits for a sent message whose text starts with prefix.
func (c *fakeChat) waitSent(t *testing.T, prefix string) (Outgoing, int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for i, m := range c.sent {
			if strings.HasPrefix(m.Text.S, prefix) {
				id := c.ids[i]
				c.mu.Unlock()
				return m, id
			}
		}
		c.mu.Unlock()
		select {
		case <-c.change:
		case <-deadline:
			t.Fatalf("no message starting with %q was sent", prefix)
		}
	}
}

func (c *fakeChat) waitAnswer(t *testing.T, substr string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for _, a := range c.answers {
			if strings.Contains(a, substr) {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		select {
		case <-c.change:
		case <-deadline:
			t.Fatalf("no button answer says %q", substr)
		}
	}
}

func (c *fakeChat) editsOf(id int64) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.edits[id] {
		out = append(out, e.S)
	}
	return out
}

// waitEdit waits for an edit of message id that contains substr.
func (c *fakeChat) waitEdit(t *testing.T, id int64, substr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range c.editsOf(id) {
			if strings.Contains(e, substr) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("message %d was never edited to say %q: %q", id, substr, c.editsOf(id))
}

func press(o *Orchestrator, user int64, msgID int64, b Button) {
	o.Handle(context.Background(), Message{ChatID: group, MessageID: msgID, UserID: user, CallbackID: "q" + b.Data, CallbackData: b.Data})
}

func buttonNamed(t *testing.T, m Outgoing, label string) Button {
	t.Helper()
	for _, b := range m.Buttons {
		if b.Text == label {
			return b
		}
	}
	t.Fatalf("%q has no button %q: %+v", m.Text.S, label, m.Buttons)
	return Button{}
}

func TestApprovalApprovedRunsOn(t *testing.T) {
	chat := newFakeChat()
	box := &talkBox{t: t, stream: controlStream(t, "allow")}
	o := newAskingOrchestrator(t, box, chat)

	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "create hello.txt containing hello"})
	ask, askID := chat.waitSent(t, "🔐 claude asks to run Bash")
	if !strings.Contains(ask.Text.S, "echo hello > hello.txt") || ask.ReplyTo != 1 || len(ask.Buttons) != 3 {
		t.Fatalf("request = %+v", ask)
	}
	chat.waitEdit(t, 101, "waiting for approval: Bash")
	// Only allowlisted users may answer.
	press(o, 8, askID, buttonNamed(t, ask, "Approve"))
	chat.waitAnswer(t, "Only the bridge's allowed users")

	press(o, 7, askID, buttonNamed(t, ask, "Approve"))
	final := chat.waitFinals(t, 1)[0]
	if !strings.HasPrefix(final.Text.S, "done · claude") || !strings.Contains(final.Text.S, "Done. Created hello.txt.") {
		t.Fatalf("final = %q", final.Text.S)
	}
	chat.waitAnswer(t, "Approved")
	in := box.stdinLines()
	if len(in) != 3 || !strings.Contains(in[1], "create hello.txt") || !strings.Contains(in[2], `"behavior":"allow"`) {
		t.Fatalf("stdin = %q", in)
	}
	if edits := chat.editsOf(askID); len(edits) == 0 || !strings.Contains(edits[len(edits)-1], "✅ Approved.") {
		t.Errorf("request edits = %q", edits)
	}
	// Until its run has left the supervisor, a late press finds the request
	// answered; after, it finds the run ended.
	press(o, 7, askID, buttonNamed(t, ask, "Deny"))
	waitNoRuns(t, o)
	press(o, 7, askID, buttonNamed(t, ask, "Deny"))
	chat.waitAnswer(t, "no longer open")
	if in := box.stdinLines(); len(in) != 3 {
		t.Fatalf("late presses reached stdin: %q", in)
	}
}

// waitNoRuns waits until no run is running or queued.
func waitNoRuns(t *testing.T, o *Orchestrator) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if running, queued := o.sup.stats(); running == 0 && queued == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("runs never ended")
}

func TestApprovalDeniedIsSaid(t *testing.T) {
	chat := newFakeChat()
	box := &talkBox{t: t, stream: controlStream(t, "deny")}
	o := newAskingOrchestrator(t, box, chat)

	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "create hello.txt containing hello"})
	ask, askID := chat.waitSent(t, "🔐 claude asks to run Bash")
	press(o, 7, askID, buttonNamed(t, ask, "Deny"))
	final := chat.waitFinals(t, 1)[0]
	if !strings.Contains(final.Text.S, "❌ Bash: Create hello.txt containing hello: denied by you.") {
		t.Fatalf("final = %q", final.Text.S)
	}
	if in := box.stdinLines(); len(in) != 3 || !strings.Contains(in[2], `"behavior":"deny"`) {
		t.Fatalf("stdin = %q", in)
	}
}

func TestApprovalTimesOut(t *testing.T) {
	chat := newFakeChat()
	box := &talkBox{t: t, stream: controlStream(t, "deny")}
	o := newAskingOrchestrator(t, box, chat, func(o *Options) { o.ApprovalTimeout = 200 * time.Millisecond })

	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "create hello.txt containing hello"})
	final := chat.waitFinals(t, 1)[0]
	if !strings.Contains(final.Text.S, "No answer within") {
		t.Fatalf("final = %q, want the timeout said", final.Text.S)
	}
	chat.waitSent(t, "⏱ Bash")
	if in := box.stdinLines(); len(in) != 3 || !strings.Contains(in[2], `"behavior":"deny"`) {
		t.Fatalf("stdin = %q", in)
	}
}

func TestQuestionAnsweredInWords(t *testing.T) {
	chat := newFakeChat()
	box := &talkBox{t: t, stream: controlStream(t, "question")}
	o := newAskingOrchestrator(t, box, chat)

	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "ask me a question"})
	q, qID := chat.waitSent(t, "❓ claude asks")
	if !strings.Contains(q.Text.S, "Which greeting should hello.txt contain?") || len(q.Buttons) != 2 || q.Buttons[1].Text != "howdy" {
		t.Fatalf("question = %+v", q)
	}
	chat.waitEdit(t, 101, "waiting for approval") // the question is open
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "bonjour", ReplyToID: qID})
	chat.waitFinals(t, 1)
	in := box.stdinLines()
	if len(in) != 3 || !strings.Contains(in[2], `"answers":{"Which greeting should hello.txt contain?":"bonjour"}`) {
		t.Fatalf("stdin = %q", in)
	}
}

func TestPlanAutoGoesOn(t *testing.T) {
	chat := newFakeChat()
	box := &talkBox{t: t, stream: controlStream(t, "plan")}
	o := newAskingOrchestrator(t, box, chat, func(o *Options) { o.Projects[0].PlanMode = PlanAuto })

	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "create hello.txt containing hello"})
	plan, _ := chat.waitSent(t, "📋 claude proposes a plan")
	if len(plan.Buttons) != 0 || !strings.Contains(plan.Text.S, "1. Create hello.txt") {
		t.Fatalf("auto plan = %+v", plan)
	}
	if argv := strings.Join(box.spec.Argv, " "); !strings.Contains(argv, "--permission-mode plan") {
		t.Errorf("argv = %s", argv)
	}
	ask, askID := chat.waitSent(t, "🔐 claude asks to run Bash")
	press(o, 7, askID, buttonNamed(t, ask, "Approve"))
	chat.waitFinals(t, 1)
}

func TestApprovalsOffRunsOneShot(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o := newTestOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	chat.waitFinals(t, 1)
	spec := box.specs[0]
	if spec.LiveStdin || !strings.Contains(strings.Join(spec.Argv, " "), "bypassPermissions") {
		t.Fatalf("approvals off ran %v (live stdin %v)", spec.Argv, spec.LiveStdin)
	}
}

func TestCancelInterruptsTheAgentFirst(t *testing.T) {
	chat := newFakeChat()
	box := &talkBox{t: t, stream: controlStream(t, "allow")}
	o := newAskingOrchestrator(t, box, chat, func(o *Options) { o.StopGrace = 200 * time.Millisecond })

	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "create hello.txt containing hello"})
	_, askID := chat.waitSent(t, "🔐 claude asks to run Bash")
	chat.waitEdit(t, 101, "waiting for approval")
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "/cancel"})
	final := chat.waitFinals(t, 1)[0]
	if !strings.HasPrefix(final.Text.S, "error · claude") || !strings.Contains(final.Text.S, "Cancelled.") {
		t.Fatalf("final = %q", final.Text.S)
	}
	in := box.stdinLines()
	if len(in) != 3 || !strings.Contains(in[2], `"subtype":"interrupt"`) {
		t.Fatalf("stdin = %q, want the interrupt after the prompt", in)
	}
	chat.waitEdit(t, askID, "Withdrawn: the run ended.")
}

func TestStatusAndDiscussWhileAPlanWaits(t *testing.T) {
	chat := newFakeChat()
	box := &talkBox{t: t, stream: controlStream(t, "plan")}
	o := newAskingOrchestrator(t, box, chat, func(o *Options) { o.Projects[0].PlanMode = PlanOn; o.StopGrace = 100 * time.Millisecond })

	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "create hello.txt containing hello"})
	plan, planID := chat.waitSent(t, "📋 claude proposes a plan")
	chat.waitEdit(t, 101, "waiting for approval: Plan")
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "/status"})
	status, _ := chat.waitSent(t, "Here (bridge-wide: 1 running")
	if !strings.Contains(status.Text.S, "waiting for approval: Plan") {
		t.Errorf("/status = %q", status.Text.S)
	}
	press(o, 7, planID, buttonNamed(t, plan, "Let's discuss"))
	chat.waitEdit(t, planID, "Let's discuss")
	deadline := time.Now().Add(5 * time.Second)
	for len(box.stdinLines()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	in := box.stdinLines()
	if len(in) < 3 || !strings.Contains(in[2], `"behavior":"deny"`) || strings.Contains(in[2], "interrupt") ||
		!strings.Contains(in[2], "discuss the plan") {
		t.Fatalf("stdin = %q, want a denial that asks to discuss, without an interrupt", in)
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "/cancel"})
	chat.waitFinals(t, 1)
}
