package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/internal/mockapi"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// git runs git in dir, failing the test on an error.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "safe.directory=*", "-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRealClaudeWorktreesE2E: two sessions on @a and @b of one repository
// run at once, each in a container that sees only its own worktree; each
// commit lands on its own branch, git works inside, and a reply continues
// in the same worktree.
func TestRealClaudeWorktreesE2E(t *testing.T) {
	mock := mockapi.New(mockapi.Options{})
	t.Cleanup(mock.Close)
	w := claudeApprovalWorld(t, mock, "")
	os.WriteFile(filepath.Join(w.project, "README.md"), []byte("hello\n"), 0o644)
	git(t, w.project, "init", "-q", "-b", "main")
	git(t, w.project, "add", "README.md")
	git(t, w.project, "commit", "-qm", "initial")
	// The images' agent (uid 1000) commits: the repository is its own,
	// and it can reach it (the bridge runs git as that user).
	if out, err := exec.Command("chown", "-R", "1000:1000", w.project).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	for d := filepath.Dir(w.project); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil {
			os.Chmod(d, fi.Mode().Perm()|0o005)
		}
	}
	w.start()

	other := map[string]string{"a": "b", "b": "a"}
	msgs := map[string]int64{}
	for _, b := range []string{"a", "b"} {
		cmd := fmt.Sprintf("sleep 8; echo from-%[1]s > %[1]s.txt && git add %[1]s.txt && git -c user.name=agent -c user.email=agent@example.com commit -qm from-%[1]s && ls /workspace && "+
			"cat %[2]s/.worktrees/%[3]s/README.md 2>&1; git log --oneline | head -2", b, w.project, other[b])
		msgs[b] = w.tg.UserSays(groupChat, alice, fmt.Sprintf("@%s commit your file\nrun: %s", b, cmd)).MessageID
	}
	// Both are in their containers at once.
	w.working(groupChat, msgs["a"])
	w.working(groupChat, msgs["b"])
	for _, m := range w.tg.BotMessages(groupChat) {
		if (m.ReplyTo == msgs["a"] || m.ReplyTo == msgs["b"]) && strings.HasPrefix(m.Text, "done ·") {
			t.Fatalf("a run ended before the other started: %q", m.Text)
		}
	}
	finals := map[string]telegramtest.Message{}
	for _, b := range []string{"a", "b"} {
		f := w.finalReply(groupChat, msgs[b], 3*time.Minute)
		finals[b] = f
		out := f.Text
		if !strings.Contains(out, mockapi.RunOutputPrefix) || !strings.Contains(out, "dir: test-claude @"+b) {
			t.Fatalf("@%s answered %q", b, out)
		}
		if !strings.Contains(out, b+".txt") || strings.Contains(out, other[b]+".txt") {
			t.Errorf("@%s sees the wrong files: %q", b, out)
		}
		if !strings.Contains(out, "No such file or directory") {
			t.Errorf("@%s could read the other worktree: %q", b, out)
		}
		if !strings.Contains(out, "from-"+b) || !strings.Contains(out, "initial") {
			t.Errorf("@%s: git log inside the container: %q", b, out)
		}
	}
	for b := range other {
		if log := git(t, w.project, "log", "--oneline", b); !strings.Contains(log, "from-"+b) || strings.Contains(log, "from-"+other[b]) {
			t.Errorf("branch %s: %q", b, log)
		}
	}
	if log := git(t, w.project, "log", "--oneline", "main"); strings.Contains(log, "from-") {
		t.Errorf("main moved: %q", log)
	}
	// A reply continues in the same worktree.
	again := w.tg.UserSays(groupChat, alice, "and now\nrun: ls /workspace", telegramtest.ReplyTo(finals["a"].MessageID))
	if f := w.finalReply(groupChat, again.MessageID, 3*time.Minute); !strings.Contains(f.Text, "a.txt") || !strings.Contains(f.Text, "dir: test-claude @a") {
		t.Errorf("the reply ran elsewhere: %q", f.Text)
	}
}

// TestSchedulesE2E: /at runs once; a pending /at survives a kill -9
// restart and is listed after it; a cron every minute fires once per slot
// across the restart.
func TestSchedulesE2E(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{extra: `
[[triggers.crons]]
id = "tick"
schedule = "* * * * *"
project = "test-claude"
prompt = "tick fake:answer=tock"
`})
	w.cleanupVolumes()
	d := w.start()
	soon := w.tg.UserSays(groupChat, alice, "/at 60s say hi fake:answer=hi_from_at")
	w.reply(groupChat, soon.MessageID, "⏰ Scheduled run 1: in 1m")
	later := w.tg.UserSays(groupChat, alice, "/at 1h much later")
	w.reply(groupChat, later.MessageID, "⏰ Scheduled run 2: in 1h")

	// The first cron slot fires; kill -9 right after, restart at once.
	w.botSaid(groupChat, "⏰ cron tick", 75*time.Second)
	d.kill()
	d = w.start()
	list := w.tg.UserSays(groupChat, alice, "/at")
	if got := w.reply(groupChat, list.MessageID, "Scheduled here:"); !strings.Contains(got.Text, "2 · in ") || !strings.Contains(got.Text, "much later") {
		t.Errorf("/at after the restart = %q", got.Text)
	}
	if final := w.finalReply(groupChat, soon.MessageID, 2*time.Minute); !strings.Contains(final.Text, "hi from at") {
		t.Errorf("/at 60s answered %q", final.Text)
	}
	// Wait for the next slot; then no slot fired twice.
	deadline := time.Now().Add(80 * time.Second)
	for time.Now().Before(deadline) && len(cronPosts(w)) < 2 {
		time.Sleep(time.Second)
	}
	posts := cronPosts(w)
	if len(posts) < 2 {
		t.Fatalf("%d cron posts in two minutes", len(posts))
	}
	seen := map[time.Time]bool{}
	for _, at := range posts {
		slot := at.Truncate(time.Minute)
		if seen[slot] {
			t.Errorf("the slot %s fired twice: %v", slot.Format("15:04"), posts)
		}
		seen[slot] = true
	}
	n := 0
	for _, m := range w.tg.BotMessages(groupChat) {
		if m.ReplyTo == soon.MessageID && strings.HasPrefix(m.Text, "done ·") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("/at 60s ran %d times", n)
	}
}

// cronPosts are the times the cron's messages were posted.
func cronPosts(w *world) []time.Time {
	var out []time.Time
	for _, m := range w.tg.BotMessages(groupChat) {
		if m.Text == "⏰ cron tick" {
			out = append(out, m.SentAt)
		}
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestWebhookE2E: a GitHub-style signed call starts a run whose prompt has
// the templated fields; a wrong signature, a replayed body with a tampered
// field and an oversized body start nothing.
func TestWebhookE2E(t *testing.T) {
	t.Parallel()
	const secret = "a-webhook-secret-0123456789"
	addr := freePort(t)
	w := newWorld(t, worldOptions{extra: fmt.Sprintf(`
[triggers]
listen = %q

[[triggers.webhooks]]
id = "gh"
path = "/hooks/github"
secret = %q
project = "test-claude"
prompt_template = "Triage issue {{ .issue.number }}: {{ .issue.title }} fake:answer=triaged"
event_filter = ["issues.opened"]
`, addr, secret)})
	w.cleanupVolumes()
	w.start()
	url := "http://" + addr + "/hooks/github"
	post := func(body []byte, sig, delivery string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "issues")
		req.Header.Set("X-GitHub-Delivery", delivery)
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	sign := func(body []byte) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	body := []byte(`{"action":"opened","issue":{"number":42,"title":"Login fails"},"repository":{"full_name":"o/r"}}`)
	if code := post(body, sign(body), "d-1"); code != http.StatusAccepted {
		t.Fatalf("signed call: %d", code)
	}
	posted := w.botSaid(groupChat, "⚡ webhook gh", time.Minute)
	final := w.finalReply(groupChat, posted.MessageID, time.Minute)
	if !strings.Contains(final.Text, "triaged") {
		t.Fatalf("final = %q", final.Text)
	}
	calls := w.engineCalls()
	if argv := strings.Join(calls[len(calls)-1].Argv, " "); !strings.Contains(argv, "Triage issue 42: Login fails") {
		t.Fatalf("the agent's argv = %q", argv)
	}

	tampered := bytes.Replace(body, []byte("Login fails"), []byte("rm -rf ~"), 1)
	big := append([]byte(`{"pad":"`), append(bytes.Repeat([]byte("x"), 2<<20), []byte(`"}`)...)...)
	for name, c := range map[string]struct {
		body []byte
		sig  string
		want int
	}{
		"wrong signature":           {body, sign([]byte("other")), http.StatusUnauthorized},
		"replay with tampered body": {tampered, sign(body), http.StatusUnauthorized},
		"oversized":                 {big, sign(big), http.StatusRequestEntityTooLarge},
	} {
		if code := post(c.body, c.sig, "d-"+name); code != c.want {
			t.Errorf("%s: %d, want %d", name, code, c.want)
		}
	}
	time.Sleep(2 * time.Second)
	n := 0
	for _, m := range w.tg.BotMessages(groupChat) {
		if strings.HasPrefix(m.Text, "⚡ webhook") {
			n++
		}
	}
	if n != 1 || len(w.engineCalls()) != len(calls) {
		t.Errorf("refused calls started runs: %d posts, %d engine calls", n, len(w.engineCalls()))
	}
}
