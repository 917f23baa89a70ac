package orchestrator

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// fakeWorkspaces hands out a worktree per branch; "bad" fails.
type fakeWorkspaces struct {
	mu    sync.Mutex
	calls []string
}

func (w *fakeWorkspaces) Worktree(_ context.Context, p Project, branch string) (Workspace, error) {
	w.mu.Lock()
	w.calls = append(w.calls, p.Name+"@"+branch)
	w.mu.Unlock()
	if branch == "bad" {
		return Workspace{}, errors.New("bad is not a valid branch name")
	}
	git := p.Path + "/.git"
	return Workspace{Path: p.Path + "/.worktrees/" + branch, Mounts: []sandbox.Mount{{Source: git, Target: git}}}, nil
}

// fakeTimers keeps timers in memory.
type fakeTimers struct {
	mu sync.Mutex
	ts []Timer
}

func (f *fakeTimers) Add(t Timer) (Timer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.ID = len(f.ts) + 1
	f.ts = append(f.ts, t)
	return t, nil
}

func (f *fakeTimers) List(chat, thread int64) []Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Timer
	for _, t := range f.ts {
		if t.ChatID == chat && t.ThreadID == thread {
			out = append(out, t)
		}
	}
	return out
}

func (f *fakeTimers) CancelReply(chat, msg int64) (int, bool) {
	f.mu.Lock()
	i := slices.IndexFunc(f.ts, func(t Timer) bool { return t.ChatID == chat && t.ReplyTo == msg })
	if i < 0 {
		f.mu.Unlock()
		return 0, false
	}
	t := f.ts[i]
	f.mu.Unlock()
	return t.ID, f.Cancel(chat, t.ThreadID, t.ID)
}

func (f *fakeTimers) Cancel(chat, thread int64, id int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.ts, func(t Timer) bool { return t.ID == id && t.ChatID == chat && t.ThreadID == thread })
	if i < 0 {
		return false
	}
	f.ts = slices.Delete(f.ts, i, i+1)
	return true
}

func newWorkOrchestrator(t *testing.T, box *fakeSandbox, chat *fakeChat, edit ...func(*Options)) (*Orchestrator, *fakeWorkspaces) {
	ws := &fakeWorkspaces{}
	o := newTestOrchestrator(t, box, chat, append([]func(*Options){func(o *Options) {
		o.Workspaces = ws
		o.Chats = &memChats{m: map[string]string{}}
		o.Projects = append(o.Projects, Project{Name: "lib", Path: "/src/lib", Images: map[string]string{"claude": "img"}})
	}}, edit...)...)
	return o, ws
}

func (c *fakeChat) replyText(t *testing.T, id int64) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, m := range c.sent {
			if m.ReplyTo == id {
				c.mu.Unlock()
				return m.Text.S
			}
		}
		c.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no reply to message %d", id)
	return ""
}

func TestBranchRunsInItsWorktree(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o, ws := newWorkOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "@feature-x fix the build"})
	final := chat.waitFinals(t, 1)[0]
	if !strings.Contains(final.Text.S, "\n\ndir: app @feature-x\n") {
		t.Fatalf("final = %q", final.Text.S)
	}
	spec := box.specs[0]
	if spec.Mounts[0].Source != "/src/app/.worktrees/feature-x" || spec.Mounts[0].Target != "/workspace" ||
		spec.Mounts[1].Source != "/src/app/.git" || spec.Argv[len(spec.Argv)-1] != "fix the build" {
		t.Fatalf("spec mounts %+v, argv %q", spec.Mounts, spec.Argv)
	}
	// A reply to the answer continues in the same worktree and session.
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "and the docs", ReplyToID: 101, ReplyToText: final.Text.S})
	chat.waitFinals(t, 2)
	if got := box.specs[1].Mounts[0].Source; got != "/src/app/.worktrees/feature-x" {
		t.Fatalf("the reply ran in %s", got)
	}
	if i := slices.Index(box.specs[1].Argv, "--resume"); i < 0 {
		t.Fatalf("the reply did not resume: %q", box.specs[1].Argv)
	}
	// A plain message runs in the project, in its own session.
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "hello"})
	chat.waitFinals(t, 3)
	if got := box.specs[2].Mounts; len(got) != 1 || got[0].Source != "/src/app" || slices.Contains(box.specs[2].Argv, "--resume") {
		t.Fatalf("plain message: mounts %+v argv %q", got, box.specs[2].Argv)
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 4, UserID: 7, Text: "@bad go"})
	if f := chat.waitFinals(t, 4)[3]; !strings.Contains(f.Text.S, "The worktree of @bad could not be made: bad is not a valid branch name") {
		t.Fatalf("bad branch final = %q", f.Text.S)
	}
	if len(ws.calls) != 3 {
		t.Fatalf("worktree calls = %q", ws.calls)
	}
}

func TestBranchesRunAtOnce(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), hold: make(chan struct{})}
	o, _ := newWorkOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "@a one"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "@b two"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		box.mu.Lock()
		active := box.active
		box.mu.Unlock()
		if active == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs at once, want 2", active)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(box.hold)
	chat.waitFinals(t, 2)
}

func TestContextBindsChatToProjectAndBranch(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o, _ := newWorkOrchestrator(t, box, chat)
	say := func(id int64, text string) {
		o.Handle(context.Background(), Message{ChatID: group, MessageID: id, UserID: 7, Text: text})
	}
	say(1, "/ctx")
	if got := chat.replyText(t, 1); !strings.Contains(got, "project app (from the config)") {
		t.Fatalf("/ctx = %q", got)
	}
	say(2, "/ctx set lib @topic")
	if got := chat.replyText(t, 2); got != "Bound: messages here run in project lib @topic (its own worktree) (set with /ctx; /ctx clear undoes it)." {
		t.Fatalf("/ctx set = %q", got)
	}
	say(3, "hello")
	chat.waitFinals(t, 1)
	if got := box.specs[0].Mounts[0].Source; got != "/src/lib/.worktrees/topic" {
		t.Fatalf("bound run in %s", got)
	}
	say(4, "/ctx set nope")
	if got := chat.replyText(t, 4); !strings.Contains(got, `There is no project "nope"`) {
		t.Fatalf("/ctx set nope = %q", got)
	}
	say(5, "/ctx clear")
	chat.replyText(t, 5)
	say(6, "hello again")
	chat.waitFinals(t, 2)
	if got := box.specs[1].Mounts[0].Source; got != "/src/app" {
		t.Fatalf("after /ctx clear the run was in %s", got)
	}
}

func TestContinueTakesTheLatestCLISession(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o, _ := newWorkOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hello"})
	chat.waitFinals(t, 1)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "/continue add tests"})
	chat.waitFinals(t, 2)
	argv := box.specs[1].Argv
	if !slices.Contains(argv, "--continue") || slices.Contains(argv, "--resume") || argv[len(argv)-1] != "add tests" {
		t.Fatalf("/continue argv = %q", argv)
	}
}

func TestAtSchedulesListsAndCancels(t *testing.T) {
	chat := newFakeChat()
	timers := &fakeTimers{}
	o, _ := newWorkOrchestrator(t, &fakeSandbox{}, chat, func(o *Options) { o.Timers = timers })
	say := func(id int64, text string, replyTo int64) {
		o.Handle(context.Background(), Message{ChatID: group, MessageID: id, UserID: 7, Text: text, ReplyToID: replyTo})
	}
	say(1, "/at 30m /lib @b run the tests", 0)
	if got := chat.replyText(t, 1); !strings.HasPrefix(got, "⏰ Scheduled run 1: in 30m (") {
		t.Fatalf("/at = %q", got)
	}
	tm := timers.ts[0]
	if tm.Project != "lib" || tm.Branch != "b" || tm.Prompt != "run the tests" || tm.ReplyTo != 1 || time.Until(tm.Due) < 29*time.Minute {
		t.Fatalf("timer = %+v", tm)
	}
	say(2, "/at 2h deploy", 0)
	chat.replyText(t, 2)
	say(3, "/at", 0)
	if got := chat.replyText(t, 3); !strings.Contains(got, "1 · in 30m · lib · run the tests") || !strings.Contains(got, "2 · in 2h · app · deploy") {
		t.Fatalf("/at list = %q", got)
	}
	say(4, "/at cancel 1", 0)
	if got := chat.replyText(t, 4); got != "Scheduled run 1 cancelled." {
		t.Fatalf("/at cancel = %q", got)
	}
	say(5, "/cancel", 2)
	if got := chat.replyText(t, 5); got != "Scheduled run 2 cancelled." {
		t.Fatalf("/cancel as a reply = %q", got)
	}
	for id, text := range map[int64]string{6: "/at 10s hi", 7: "/at 8d hi", 8: "/at soon hi", 9: "/at 5m"} {
		say(id, text, 0)
		if got := chat.replyText(t, id); strings.HasPrefix(got, "⏰") {
			t.Errorf("%s was scheduled: %q", text, got)
		}
	}
}

func TestTriggerPostsAndRuns(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o, _ := newWorkOrchestrator(t, box, chat)
	if err := o.Trigger(context.Background(), Trigger{Kind: "webhook", ID: "gh", Project: "app", Prompt: "triage issue 42"}); err != nil {
		t.Fatal(err)
	}
	final := chat.waitFinals(t, 1)[0]
	chat.mu.Lock()
	first := chat.sent[0]
	chat.mu.Unlock()
	if first.Text.S != "⚡ webhook gh" || final.ReplyTo != chat.ids[0] {
		t.Fatalf("posted %q, final replies to %d", first.Text.S, final.ReplyTo)
	}
	if argv := box.specs[0].Argv; argv[len(argv)-1] != "triage issue 42" {
		t.Fatalf("argv = %q", argv)
	}
	if err := o.Trigger(context.Background(), Trigger{Kind: "cron", ID: "x", Project: "lib", Prompt: "p"}); err == nil || !strings.Contains(err.Error(), "no chat_id") {
		t.Fatalf("a project without a chat: %v", err)
	}
}

func TestDidYouMean(t *testing.T) {
	for text, want := range map[string]string{".new": "Did you mean /new?", `\status now`: "Did you mean /status?", ".env is broken": "", "hello": "", ".": ""} {
		if got := didYouMean(text); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", text, got, want)
		}
	}
	for d, want := range map[time.Duration]string{30 * time.Minute: "30m", 90 * time.Minute: "1h30m", 7 * 24 * time.Hour: "7d", 26*time.Hour + 29*time.Second: "1d2h"} {
		if got := formatDelay(d); got != want {
			t.Errorf("formatDelay(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestListenMentions(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o, _ := newWorkOrchestrator(t, box, chat, func(o *Options) { o.BotUsername = "untether_bot" })
	say := func(m Message) { m.ChatID, m.UserID = group, 7; o.Handle(context.Background(), m) }
	say(Message{MessageID: 1, Text: "/listen mentions"})
	if got := chat.replyText(t, 1); !strings.HasPrefix(got, "Saved. Here only messages that mention @untether_bot") {
		t.Fatalf("/listen mentions = %q", got)
	}
	say(Message{MessageID: 2, Text: "people talking among themselves"})
	say(Message{MessageID: 3, Text: "a reply to another bot", ReplyToID: 50, ReplyToBot: "other_bot"})
	say(Message{MessageID: 4, Text: "hey @Untether_Bot fix it"})
	say(Message{MessageID: 5, Text: "go on", ReplyToID: 101, ReplyToBot: "untether_bot"})
	say(Message{MessageID: 6, Text: "/lib do it"})
	finals := chat.waitFinals(t, 3)
	var answered []int64
	for _, f := range finals {
		answered = append(answered, f.ReplyTo)
	}
	slices.Sort(answered)
	if !slices.Equal(answered, []int64{4, 5, 6}) || len(box.specs) != 3 {
		t.Fatalf("answered %v, %d runs", answered, len(box.specs))
	}
	say(Message{MessageID: 7, Text: ".new"})
	if got := chat.replyText(t, 7); got != "Did you mean /new?" {
		t.Fatalf(".new = %q", got)
	}
}
