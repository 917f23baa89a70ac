package orchestrator

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/claude"
	"github.com/untether-go/untether/sandbox"
)

// other is a second engine for routing tests: claude under another name.
type other struct{ claude.Engine }

func (other) Name() string                { return "other" }
func (other) ResumeLine(id string) string { return "other --resume " + id }
func (other) ParseResume(t string) (string, bool) {
	return engines.FindResume(t, "other --resume")
}

type memChats struct {
	mu     sync.Mutex
	m      map[string]string
	models map[string]string // by key + " " + engine
}

func (c *memChats) Engine(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return e, ok
}

func (c *memChats) SetEngine(k, e string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = e
	return nil
}

func (c *memChats) Model(k, e string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.models[k+" "+e]
	return m, ok
}

func (c *memChats) SetModel(k, e, m string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.models == nil {
		c.models = map[string]string{}
	}
	if m == "" {
		delete(c.models, k+" "+e)
	} else {
		c.models[k+" "+e] = m
	}
	return nil
}

func newRoutingOrchestrator(t *testing.T, box *fakeSandbox, chat *fakeChat) *Orchestrator {
	t.Helper()
	o, err := New(Options{
		Instance: "test",
		Projects: []Project{
			{Name: "app", Path: "/src/app", ChatID: group, Images: map[string]string{"claude": "img-c", "other": "img-o"}},
			{Name: "lib", Path: "/src/lib", Images: map[string]string{"claude": "img-c", "other": "img-o"}},
		},
		DefaultEngine:  "claude",
		AllowedUsers:   []int64{7},
		ShowResumeLine: true,
		Engines:        map[string]engines.Engine{"claude": claude.Engine{}, "other": other{}},
		EngineEnv:      map[string]map[string]string{"claude": {"ANTHROPIC_API_KEY": "sk-test"}},
		ExtraArgs:      map[string][]string{"other": {"--max-turns", "3"}},
		Chat:           chat,
		Sandbox:        box,
		Sessions:       &memSessions{m: map[string][2]string{}},
		Chats:          &memChats{m: map[string]string{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o
}

func TestRouting(t *testing.T) {
	cases := []struct {
		name    string
		before  []Message // handled first, each waited for
		msg     Message
		engine  string
		project string
		prompt  string
		resume  string
		reply   string // a reply instead of a run
	}{
		{name: "project default", msg: Message{Text: "fix it"}, engine: "claude", project: "app", prompt: "fix it"},
		{name: "engine directive", msg: Message{Text: "/other fix it\nand more"}, engine: "other", project: "app", prompt: "fix it\nand more"},
		{name: "directive with bot name", msg: Message{Text: "/other@untether_bot fix it"}, engine: "other", prompt: "fix it", project: "app"},
		{name: "project directive", msg: Message{Text: "/lib /other hi"}, engine: "other", project: "lib", prompt: "hi"},
		{name: "unknown slash goes to the agent", msg: Message{Text: "/compact now"}, engine: "claude", project: "app", prompt: "/compact now"},
		{name: "directive without prompt", msg: Message{Text: "/other"}, reply: "Write the prompt after the directive"},
		{name: "reply resumes the answer's engine", msg: Message{Text: "go on", ReplyToText: "done\n\nother --resume abc-123"},
			engine: "other", project: "app", prompt: "go on", resume: "abc-123"},
		{name: "directive beats the reply", msg: Message{Text: "/claude go on", ReplyToText: "other --resume abc-123"},
			engine: "claude", project: "app", prompt: "go on"},
		{name: "agent shows", msg: Message{Text: "/agent"}, reply: "This chat uses claude"},
		{name: "agent rejects", msg: Message{Text: "/agent gpt"}, reply: `There is no engine "gpt"`},
		{name: "agent sets the chat's engine", before: []Message{{Text: "/agent other"}}, msg: Message{Text: "hi"},
			engine: "other", project: "app", prompt: "hi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chat := newFakeChat()
			box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
			o := newRoutingOrchestrator(t, box, chat)
			id := int64(1)
			for _, m := range tc.before {
				m.ChatID, m.UserID, m.MessageID = group, 7, id
				id++
				o.Handle(context.Background(), m)
			}
			m := tc.msg
			m.ChatID, m.UserID, m.MessageID = group, 7, id
			o.Handle(context.Background(), m)
			if tc.reply == "" {
				chat.waitFinals(t, 1)
			}
			o.Close()
			if tc.reply != "" {
				if len(box.specs) != 0 || !slices.ContainsFunc(chat.sent, func(s Outgoing) bool {
					return s.ReplyTo == id && strings.Contains(s.Text.S, tc.reply)
				}) {
					t.Fatalf("want reply %q and no run; sent %+v, runs %d", tc.reply, chat.sent, len(box.specs))
				}
				return
			}
			if len(box.specs) != 1 {
				t.Fatalf("runs = %d, want 1 (sent %+v)", len(box.specs), chat.sent)
			}
			s := box.specs[0]
			if s.Labels[sandbox.LabelEngine] != tc.engine || s.Labels[sandbox.LabelProject] != tc.project {
				t.Errorf("ran %s in %s, want %s in %s", s.Labels[sandbox.LabelEngine], s.Labels[sandbox.LabelProject], tc.engine, tc.project)
			}
			if got := s.Argv[len(s.Argv)-1]; got != tc.prompt {
				t.Errorf("prompt = %q, want %q", got, tc.prompt)
			}
			i := slices.Index(s.Argv, "--resume")
			if (i >= 0) != (tc.resume != "") || (i >= 0 && s.Argv[i+1] != tc.resume) {
				t.Errorf("argv = %q, want resume %q", s.Argv, tc.resume)
			}
		})
	}
}

func TestEngineSettingsReachOnlyTheirEngine(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o := newRoutingOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, UserID: 7, MessageID: 1, Text: "a"})
	o.Handle(context.Background(), Message{ChatID: group, UserID: 7, MessageID: 2, Text: "/other b"})
	chat.waitFinals(t, 2)
	o.Close()
	if len(box.specs) != 2 {
		t.Fatalf("runs = %d", len(box.specs))
	}
	byEngine := map[string]sandbox.Spec{}
	for _, s := range box.specs {
		byEngine[s.Labels[sandbox.LabelEngine]] = s
	}
	if byEngine["claude"].Env["ANTHROPIC_API_KEY"] != "sk-test" {
		t.Errorf("claude env lacks its key")
	}
	if _, ok := byEngine["other"].Env["ANTHROPIC_API_KEY"]; ok {
		t.Errorf("another engine got claude's key")
	}
	for _, s := range box.specs {
		if slices.Contains(s.Argv, "sk-test") {
			t.Errorf("a secret is in argv: %q", s.Argv)
		}
	}
	if !slices.Contains(byEngine["other"].Argv, "--max-turns") || slices.Contains(byEngine["claude"].Argv, "--max-turns") {
		t.Errorf("extra args: claude %q, other %q", byEngine["claude"].Argv, byEngine["other"].Argv)
	}
	if byEngine["other"].Image != "img-o" {
		t.Errorf("other's image = %q", byEngine["other"].Image)
	}
}

func (c *memChats) Setting(k, name string) (string, bool) { return c.Model(k, "setting:"+name) }

func (c *memChats) SetSetting(k, name, v string) error { return c.SetModel(k, "setting:"+name, v) }
