package orchestrator

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// replyTo waits for a plain reply (not a progress or final message) to
// message id and returns its text.
func (c *fakeChat) replyTo(t *testing.T, id int64) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for _, m := range c.sent {
			s := m.Text.S
			if m.ReplyTo == id && !strings.HasPrefix(s, "starting ·") && !strings.HasPrefix(s, "queued ·") &&
				!strings.HasPrefix(s, "done ·") && !strings.HasPrefix(s, "error ·") {
				c.mu.Unlock()
				return s
			}
		}
		c.mu.Unlock()
		select {
		case <-c.change:
		case <-deadline:
			t.Fatalf("no reply to message %d", id)
		}
	}
}

// progressKnown waits until o knows the progress message of message id.
func progressKnown(t *testing.T, o *Orchestrator, id int64) {
	t.Helper()
	waitFor(t, func() bool {
		o.sup.mu.Lock()
		defer o.sup.mu.Unlock()
		for _, r := range o.sup.runs {
			if r.msg.MessageID == id && r.progressMsg() != 0 {
				return true
			}
		}
		return false
	})
}

// progressOf waits for the progress message of message id and returns its
// id.
func (c *fakeChat) progressOf(t *testing.T, id int64) int64 {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for i, m := range c.sent {
			if m.ReplyTo == id && (strings.HasPrefix(m.Text.S, "starting ·") || strings.HasPrefix(m.Text.S, "queued ·")) {
				pid := c.ids[i]
				c.mu.Unlock()
				return pid
			}
		}
		c.mu.Unlock()
		select {
		case <-c.change:
		case <-deadline:
			t.Fatalf("no progress message for message %d", id)
		}
	}
}

func finalFor(t *testing.T, chat *fakeChat, n int, id int64) string {
	t.Helper()
	for _, f := range chat.waitFinals(t, n) {
		if f.ReplyTo == id {
			return f.Text.S
		}
	}
	t.Fatalf("no final answer to message %d", id)
	return ""
}

func TestCancel(t *testing.T) {
	const other = int64(-100999)
	cases := []struct {
		name string
		// cancel is sent while message 1 runs (held by the sandbox).
		cancel func(o *Orchestrator, chat *fakeChat) Message
		// wantReply is the reply to the /cancel message, "" for none.
		wantReply string
		cancelled bool
	}{
		{"reply to the progress message", func(o *Orchestrator, chat *fakeChat) Message {
			progressKnown(t, o, 1)
			return Message{ChatID: group, MessageID: 10, UserID: 7, Text: "/cancel", ReplyToID: chat.progressOf(t, 1)}
		}, "", true},
		{"reply to the prompt", func(o *Orchestrator, chat *fakeChat) Message {
			return Message{ChatID: group, MessageID: 10, UserID: 7, Text: "/cancel@untether_bot", ReplyToID: 1}
		}, "", true},
		{"the only run in the chat", func(o *Orchestrator, chat *fakeChat) Message {
			return Message{ChatID: group, MessageID: 10, UserID: 7, Text: "/cancel"}
		}, "", true},
		{"reply to something else", func(o *Orchestrator, chat *fakeChat) Message {
			return Message{ChatID: group, MessageID: 10, UserID: 7, Text: "/cancel", ReplyToID: 5}
		}, "That message is not a run that is still going.", false},
		{"nothing runs in that chat", func(o *Orchestrator, chat *fakeChat) Message {
			return Message{ChatID: other, MessageID: 10, UserID: 7, Text: "/cancel"}
		}, "Nothing is running here.", false},
		{"a stranger", func(o *Orchestrator, chat *fakeChat) Message {
			return Message{ChatID: group, MessageID: 10, UserID: 666, Text: "/cancel"}
		}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chat := newFakeChat()
			box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), hold: make(chan struct{})}
			o := newTestOrchestrator(t, box, chat, func(o *Options) {
				o.Projects = append(o.Projects, Project{Name: "other", Path: "/src/o", ChatID: other, Images: map[string]string{"claude": "img"}})
			})
			o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "work"})
			waitStats(t, o, 1, 0)
			o.Handle(context.Background(), tc.cancel(o, chat))
			if tc.wantReply != "" {
				if got := chat.replyTo(t, 10); got != tc.wantReply {
					t.Errorf("reply = %q, want %q", got, tc.wantReply)
				}
			}
			if !tc.cancelled {
				time.Sleep(50 * time.Millisecond) // a wrong cancel would land now
				close(box.hold)
			}
			got := finalFor(t, chat, 1, 1)
			if cancelled := strings.Contains(got, "Cancelled"); cancelled != tc.cancelled {
				t.Errorf("final = %q, cancelled %v, want %v", got, cancelled, tc.cancelled)
			}
			if tc.cancelled && !strings.HasPrefix(got, "error · claude") {
				t.Errorf("final = %q, want an error header", got)
			}
		})
	}
}

func TestCancelAsksWhichRunWhenSeveralGo(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), hold: make(chan struct{})}
	o := newTestOrchestrator(t, box, chat, func(o *Options) { o.AllowedUsers = []int64{7, 8} })
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "a"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 8, Text: "b"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "/cancel"})
	if got := chat.replyTo(t, 3); !strings.HasPrefix(got, "2 runs are going here: reply /cancel") {
		t.Errorf("reply = %q", got)
	}
	close(box.hold)
	chat.waitFinals(t, 2)
}

func TestCancelButton(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), hold: make(chan struct{})}
	o := newTestOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{UpdateID: 1, ChatID: group, MessageID: 1, UserID: 7, Text: "work"})
	progress := chat.progressOf(t, 1)
	progressKnown(t, o, 1)
	chat.mu.Lock()
	buttons := chat.sent[0].Buttons
	chat.mu.Unlock()
	if len(buttons) != 1 || buttons[0].Text != "cancel" {
		t.Fatalf("progress buttons = %+v", buttons)
	}
	press := func(update, user int64) {
		o.Handle(context.Background(), Message{UpdateID: update, ChatID: group, MessageID: progress, UserID: user,
			CallbackID: "cb", CallbackData: buttons[0].Data})
	}
	press(2, 666) // not on the allowlist
	press(3, 7)
	press(3, 7) // the same update again
	got := finalFor(t, chat, 1, 1)
	if !strings.Contains(got, "Cancelled") {
		t.Errorf("final = %q", got)
	}
	chat.mu.Lock()
	answers := slices.Clone(chat.answers)
	chat.mu.Unlock()
	want := []string{"Only the bridge's allowed users can do that.", "Cancelling…"}
	if !slices.Equal(answers, want) {
		t.Errorf("callback answers = %q, want %q", answers, want)
	}
	press(4, 7) // after the run ended
	waitFor(t, func() bool {
		chat.mu.Lock()
		defer chat.mu.Unlock()
		return len(chat.answers) == 3 && chat.answers[2] == "This run has already ended."
	})
}

func TestCancelQueuedMessageLeavesTheQueueAtOnce(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), hold: make(chan struct{})}
	o := newTestOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "first"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "second"})
	progressKnown(t, o, 2)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "/cancel", ReplyToID: chat.progressOf(t, 2)})
	if got := finalFor(t, chat, 1, 2); !strings.Contains(got, "Cancelled before it started.") {
		t.Errorf("final of the queued message = %q", got)
	}
	waitStats(t, o, 1, 0)
	close(box.hold)
	if got := finalFor(t, chat, 2, 1); !strings.HasPrefix(got, "done ·") {
		t.Errorf("final of the running message = %q", got)
	}
	o.Close()
	if n := len(box.specs); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

func TestNewForgetsTheSession(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o := newTestOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "one"})
	chat.waitFinals(t, 1)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "/new"})
	if got := chat.replyTo(t, 2); got != "New session: your next message here starts fresh." {
		t.Errorf("reply = %q", got)
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "two"})
	chat.waitFinals(t, 2)
	o.Close()
	if argv := strings.Join(box.specs[1].Argv, " "); strings.Contains(argv, "--resume") {
		t.Errorf("the run after /new resumed: %s", argv)
	}
}

func TestModelCommand(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o := newTestOrchestrator(t, box, chat, func(o *Options) {
		o.Chats = &memChats{m: map[string]string{}}
		o.Models = map[string]string{"claude": "claude-sonnet-4-5"}
	})
	steps := []struct{ text, reply string }{
		{"/model", "claude here uses claude-sonnet-4-5. Change it with /model <name>, or /model default."},
		{"/model claude-opus-4-1", "claude here now uses claude-opus-4-1, from the next run on."},
		{"/model two words", "Usage: /model <name>, /model <engine> <name>, or /model default. A name has no spaces."},
		{"/model $(rm -rf)", "Usage: /model <name>, /model <engine> <name>, or /model default. A name has no spaces."},
		{"/model", "claude here uses claude-opus-4-1. Change it with /model <name>, or /model default."},
	}
	for i, s := range steps {
		id := int64(10 + i)
		o.Handle(context.Background(), Message{ChatID: group, MessageID: id, UserID: 7, Text: s.text})
		if got := chat.replyTo(t, id); got != s.reply {
			t.Errorf("%q: reply %q, want %q", s.text, got, s.reply)
		}
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "go"})
	chat.waitFinals(t, 1)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 20, UserID: 7, Text: "/model default"})
	if got := chat.replyTo(t, 20); got != "claude here is back to the configured model, claude-sonnet-4-5." {
		t.Errorf("reply = %q", got)
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "go"})
	chat.waitFinals(t, 2)
	o.Close()
	for i, want := range []string{"claude-opus-4-1", "claude-sonnet-4-5"} {
		argv := box.specs[i].Argv
		if j := slices.Index(argv, "--model"); j < 0 || argv[j+1] != want {
			t.Errorf("run %d argv %q, want --model %s", i, argv, want)
		}
	}
}

// fakeContainers reports one running container per run id it is given.
type fakeContainers struct{ box *fakeSandbox }

func (f fakeContainers) Containers(context.Context, string) ([]sandbox.Container, error) {
	f.box.mu.Lock()
	defer f.box.mu.Unlock()
	var out []sandbox.Container
	for _, s := range f.box.specs {
		out = append(out, sandbox.Container{Name: s.Name, Labels: s.Labels, State: "running", MemoryBytes: 12 << 20, CPUPercent: 37})
	}
	return out, nil
}

func TestStatusProjectsHelp(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), hold: make(chan struct{})}
	o := newTestOrchestrator(t, box, chat, func(o *Options) {
		o.Containers = fakeContainers{box}
		o.Version = "1.2.3"
		o.Projects = append(o.Projects, Project{Name: "my-lib", Path: "/src/lib", ChatID: -5, TopicID: 9})
	})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "work"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "more"})
	waitStats(t, o, 1, 1)
	waitFor(t, func() bool { box.mu.Lock(); defer box.mu.Unlock(); return len(box.specs) == 1 })
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 10, UserID: 7, Text: "/status"})
	status := chat.replyTo(t, 10)
	for _, want := range []string{"Here (bridge-wide: 1 running, 1 queued):", "claude · app · ", " · running ", "step 0",
		"memory 12 MiB of 64 MiB · CPU 37%", "queued, 1 ahead"} {
		if !strings.Contains(status, want) {
			t.Errorf("/status = %q, lacks %q", status, want)
		}
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 11, UserID: 7, Text: "/projects"})
	want := "Projects:\n• app · claude · this chat\n• my-lib · claude · chat -5, topic 9\n\nStart a message with /<project> to run it in another project."
	if got := chat.replyTo(t, 11); got != want {
		t.Errorf("/projects = %q, want %q", got, want)
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 12, UserID: 7, Text: "/help"})
	help := chat.replyTo(t, 12)
	for _, want := range []string{"Untether 1.2.3", "/cancel — Stop a run", "/model — ", "/<engine> (claude)"} {
		if !strings.Contains(help, want) {
			t.Errorf("/help = %q, lacks %q", help, want)
		}
	}
	close(box.hold)
	chat.waitFinals(t, 2)
	waitStats(t, o, 0, 0)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 13, UserID: 7, Text: "/status"})
	if got := chat.replyTo(t, 13); got != "Nothing is running here. Bridge-wide: 0 running, 0 queued." {
		t.Errorf("idle /status = %q", got)
	}

	var names []string
	for _, c := range o.Commands() {
		names = append(names, c.Name)
	}
	if want := []string{"cancel", "new", "agent", "model", "status", "approvals", "planmode", "projects", "usage", "stats", "ctx", "continue", "at", "listen", "file", "voice", "help", "claude", "app"}; !slices.Equal(names, want) {
		t.Errorf("Commands() = %q, want %q (my-lib is not a valid command name)", names, want)
	}
}

func TestSessionScopes(t *testing.T) {
	const forum = int64(-100777)
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	sessions := &memSessions{m: map[string][2]string{}}
	o := newTestOrchestrator(t, box, chat, func(o *Options) {
		o.AllowedUsers = []int64{7, 8}
		o.Sessions = sessions
		o.Projects = append(o.Projects,
			Project{Name: "forum", Path: "/src/forum", ChatID: forum, Images: map[string]string{"claude": "img"}},
			Project{Name: "topic", Path: "/src/topic", ChatID: forum, TopicID: 42, Images: map[string]string{"claude": "img"}})
	})
	msgs := []Message{
		{ChatID: group, MessageID: 1, UserID: 7, Text: "a"},
		{ChatID: group, MessageID: 2, UserID: 8, Text: "b"},
		{ChatID: forum, ThreadID: 42, MessageID: 3, UserID: 7, Text: "c"},
		{ChatID: forum, ThreadID: 43, MessageID: 4, UserID: 7, Text: "d"},
	}
	for _, m := range msgs {
		o.Handle(context.Background(), m)
	}
	chat.waitFinals(t, 4)
	o.Close()
	sessions.mu.Lock()
	var keys []string
	for k := range sessions.m {
		keys = append(keys, k)
	}
	sessions.mu.Unlock()
	slices.Sort(keys)
	want := []string{"chat:-100123:0:user:7:app:claude", "chat:-100123:0:user:8:app:claude", "chat:-100777:42:topic:claude", "chat:-100777:43:forum:claude"}
	if !slices.Equal(keys, want) {
		t.Errorf("session keys = %q, want %q", keys, want)
	}
	mounts := map[string]string{}
	for _, s := range box.specs {
		mounts[s.Labels[sandbox.LabelProject]] = s.Mounts[0].Source
	}
	if mounts["topic"] != "/src/topic" || mounts["forum"] != "/src/forum" {
		t.Errorf("projects used = %v: topic 42 must run in project topic, topic 43 in forum", mounts)
	}
	for _, m := range chat.sent {
		if m.ReplyTo == 3 && m.ThreadID != 42 || m.ReplyTo == 4 && m.ThreadID != 43 {
			t.Errorf("reply left its topic: %+v", m)
		}
	}
}

func TestStatelessMessagesRunInParallel(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), delay: 20 * time.Millisecond}
	o := newTestOrchestrator(t, box, chat, func(o *Options) { o.SessionMode = SessionStateless })
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "a"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "b"})
	finals := chat.waitFinals(t, 2)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "c"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 4, UserID: 7, Text: "d", ReplyToID: 99, ReplyToText: finals[0].Text.S})
	chat.waitFinals(t, 4)
	o.Close()
	if box.peak < 2 {
		t.Errorf("stateless messages ran one at a time (peak %d)", box.peak)
	}
	for _, spec := range box.specs {
		resumed := slices.Contains(spec.Argv, "--resume")
		if want := slices.Contains(spec.Argv, "d"); resumed != want {
			t.Errorf("argv %q: resumed %v, want %v (only the reply resumes)", spec.Argv, resumed, want)
		}
	}
}

func TestDuplicateUpdatesAndMissedMessages(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o := newTestOrchestrator(t, box, chat, func(o *Options) { o.MissedAfter = time.Hour })
	o.Handle(context.Background(), Message{UpdateID: 5, ChatID: group, MessageID: 1, UserID: 7, Text: "a", Sent: time.Now()})
	o.Handle(context.Background(), Message{UpdateID: 5, ChatID: group, MessageID: 2, UserID: 7, Text: "a again"})
	o.Handle(context.Background(), Message{UpdateID: 6, ChatID: group, MessageID: 3, UserID: 7, Text: "old", Sent: time.Now().Add(-2 * time.Hour)})
	if got := chat.replyTo(t, 3); !strings.HasPrefix(got, "Missed while offline: this message arrived 2h00m ago") {
		t.Errorf("reply to an old message = %q", got)
	}
	chat.waitFinals(t, 1)
	o.Close()
	if n := len(box.specs); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

// waitFor polls cond until it holds, for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMessagesForOtherBotsAreIgnored(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o := newTestOrchestrator(t, box, chat, func(o *Options) { o.BotUsername = "Untether_Bot" })
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "/help@dev_bot"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "/claude@dev_bot do it"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "/help@untether_bot"})
	chat.replyTo(t, 3)
	o.Close()
	chat.mu.Lock()
	defer chat.mu.Unlock()
	for _, m := range chat.sent {
		if m.ReplyTo == 1 || m.ReplyTo == 2 {
			t.Errorf("answered a message for another bot: %+v", m)
		}
	}
	if len(box.specs) != 0 {
		t.Errorf("%d runs for another bot's message", len(box.specs))
	}
}

func TestNewDuringARunIsNotUndoneByIt(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), hold: make(chan struct{})}
	o := newTestOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "one"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "two, queued"})
	waitStats(t, o, 1, 1)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "/new"})
	chat.replyTo(t, 3)
	close(box.hold)
	chat.waitFinals(t, 2)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 4, UserID: 7, Text: "three"})
	chat.waitFinals(t, 3)
	o.Close()
	for i, spec := range box.specs {
		if slices.Contains(spec.Argv, "--resume") {
			t.Errorf("run %d resumed a session /new had ended: %q", i+1, spec.Argv)
		}
	}
}
