package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// entityText returns the part of text an entity covers (offsets in UTF-16).
func entityText(text string, e telegramtest.Entity) string {
	u := utf16.Encode([]rune(text))
	if e.Offset < 0 || e.Offset+e.Length > len(u) {
		return ""
	}
	return string(utf16.Decode(u[e.Offset : e.Offset+e.Length]))
}

func hasCodeEntity(m telegramtest.Message, want string) bool {
	for _, e := range m.Entities {
		if e.Type == "code" && entityText(m.Text, e) == want {
			return true
		}
	}
	return false
}

type inspected struct {
	Name       string
	HostConfig struct {
		Memory     int64
		MemorySwap int64
		PidsLimit  int64
		CapDrop    []string
	}
	Config struct {
		Labels map[string]string
	}
	Mounts []struct {
		Type        string
		Name        string
		Source      string
		Destination string
	}
}

// TestMessageRunsClaudeInLimitedContainer follows one message from the chat
// into a container with the configured limits and back, then a second
// message that resumes the session.
func TestMessageRunsClaudeInLimitedContainer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{memory: "256MiB", pids: 128})
	w.cleanupVolumes()
	w.start()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	sent := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello fake:delay=400ms")

	// The container exists while the engine replays its stream.
	var name string
	pollUntil(t, "the run's container", 30*time.Second, func() bool { return w.hasContainer(ctx, &name) })
	if ps, err := w.untether("ps", "--config", w.configPath); err != nil || !strings.Contains(ps, name) ||
		!strings.Contains(ps, "test-claude") || !strings.Contains(ps, "running") {
		t.Errorf("untether ps during the run (err %v):\n%s", err, ps)
	}
	out, err := podmanSvc.Podman(ctx, "inspect", name)
	if err != nil {
		t.Fatal(err)
	}
	var info []inspected
	if err := json.Unmarshal(out, &info); err != nil || len(info) != 1 {
		t.Fatalf("inspect %s: %v (%s)", name, err, out)
	}
	c := info[0]
	if c.HostConfig.Memory != 256<<20 || c.HostConfig.MemorySwap != 256<<20 {
		t.Errorf("memory limit = %d, swap = %d; want both %d", c.HostConfig.Memory, c.HostConfig.MemorySwap, 256<<20)
	}
	if c.HostConfig.PidsLimit != 128 {
		t.Errorf("pids limit = %d, want 128", c.HostConfig.PidsLimit)
	}
	wantLabels := map[string]string{
		"untether.instance": w.instance, "untether.project": "test-claude", "untether.engine": "claude",
		"untether.chat": "-1001000000001",
	}
	for k, v := range wantLabels {
		if c.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Config.Labels[k], v)
		}
	}
	if c.Config.Labels["untether.run"] == "" {
		t.Errorf("label untether.run missing")
	}
	var binds, vols []string
	for _, m := range c.Mounts {
		switch m.Type {
		case "bind":
			binds = append(binds, m.Source+":"+m.Destination)
		case "volume":
			vols = append(vols, m.Name+":"+m.Destination)
		case "tmpfs":
			if m.Destination != "/tmp" {
				t.Errorf("unexpected tmpfs %+v", m)
			}
		default:
			t.Errorf("unexpected mount %+v", m)
		}
	}
	if want := []string{w.project + ":/workspace"}; !slices.Equal(binds, want) {
		t.Errorf("bind mounts = %v, want only %v", binds, want)
	}
	if want := []string{"untether-" + w.instance + "-test-claude-claude-home:/home/agent"}; !slices.Equal(vols, want) {
		t.Errorf("volumes = %v, want %v", vols, want)
	}

	final := w.finalReply(groupChat, sent.MessageID, time.Minute)
	if !strings.HasPrefix(final.Text, "done · claude") || !strings.Contains(final.Text, "Done. Created hello.txt.") {
		t.Errorf("final answer = %q", final.Text)
	}
	if !hasCodeEntity(final, "claude --resume "+basicSession) {
		t.Errorf("final answer has no code entity with the resume line: %q %+v", final.Text, final.Entities)
	}
	if !strings.Contains(final.Text, "claude-sonnet-4-5") || !strings.Contains(final.Text, "$0.0015") {
		t.Errorf("footer lacks model or cost: %q", final.Text)
	}

	// The progress message goes once the answer is there.
	w.waitFor("the progress message to be deleted", 30*time.Second, func(s *telegramtest.Snapshot) bool {
		p, ok := progressMessage(s.BotMessages(groupChat), sent.MessageID)
		return ok && p.Deleted
	})
	msgs := w.tg.BotMessages(groupChat)
	progress, ok := progressMessage(msgs, sent.MessageID)
	if !ok || progress.MessageID == final.MessageID {
		t.Fatalf("no progress message before the final answer: %+v", msgs)
	}
	if len(progress.Edits) == 0 {
		t.Errorf("progress message was never edited")
	}
	for i := 1; i < len(progress.Edits); i++ {
		if gap := progress.Edits[i].At.Sub(progress.Edits[i-1].At); gap < 1900*time.Millisecond {
			t.Errorf("edits %d and %d only %v apart", i-1, i, gap)
		}
	}
	if !progress.Deleted {
		t.Errorf("progress message not deleted after the final answer")
	}
	if names := w.containers(ctx); len(names) != 0 {
		t.Errorf("containers left after the run: %v", names)
	}

	// The next plain message resumes the session.
	sent2 := w.tg.UserSays(groupChat, alice, "now append world to hello.txt")
	final2 := w.finalReply(groupChat, sent2.MessageID, time.Minute)
	if !strings.Contains(final2.Text, "Done. Appended world to hello.txt.") {
		t.Errorf("second answer = %q", final2.Text)
	}
	calls := w.engineCalls()
	if len(calls) != 2 {
		t.Fatalf("engine ran %d times, want 2", len(calls))
	}
	if slices.Contains(calls[0].Argv, "--resume") {
		t.Errorf("first run resumed: %v", calls[0].Argv)
	}
	if i := slices.Index(calls[1].Argv, "--resume"); i < 0 || i+1 >= len(calls[1].Argv) || calls[1].Argv[i+1] != basicSession {
		t.Errorf("second run argv = %v, want --resume %s", calls[1].Argv, basicSession)
	}
}

// hasContainer reports whether the world has a container and stores its name.
func (w *world) hasContainer(ctx context.Context, name *string) bool {
	w.t.Helper()
	// Containers of ended runs stay until their answers are delivered:
	// only a running one is the run in progress.
	out, err := podmanSvc.Podman(ctx, "ps", "--filter", "label=untether.instance="+w.instance,
		"--filter", "status=running", "--format", "{{.Names}}")
	if err != nil {
		w.t.Fatal(err)
	}
	names := strings.Fields(string(out))
	if len(names) == 0 {
		return false
	}
	*name = names[0]
	return true
}

// TestOutOfMemoryIsReportedAndBridgeGoesOn runs an engine that allocates
// past its limit: its chat learns why, and the next message works; a
// child process killed for memory while the agent lives on is told too.
func TestOutOfMemoryIsReportedAndBridgeGoesOn(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{memory: "64MiB"})
	w.cleanupVolumes()
	w.start()

	sent := w.tg.UserSays(groupChat, alice, "eat all the memory fake:oom")
	final := w.finalReply(groupChat, sent.MessageID, time.Minute)
	if !strings.HasPrefix(final.Text, "error · claude") || !strings.Contains(final.Text, "Out of memory") ||
		!strings.Contains(final.Text, "64 MiB") {
		t.Errorf("OOM answer = %q, want an error naming the 64 MiB limit", final.Text)
	}
	if strings.Contains(final.Text, "a process in this run") {
		t.Errorf("OOM answer = %q also tells of a process killed for memory", final.Text)
	}

	sent2 := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
	final2 := w.finalReply(groupChat, sent2.MessageID, time.Minute)
	if !strings.HasPrefix(final2.Text, "done · claude") {
		t.Errorf("answer after the OOM = %q", final2.Text)
	}

	// A process the agent started (a build in its shell tool) is killed
	// for memory, the agent lives on: the run is done, and says so.
	sent3 := w.tg.UserSays(groupChat, alice, "build it fake:child-oom fake:answer=BUILT_ANYWAY")
	final3 := w.finalReply(groupChat, sent3.MessageID, time.Minute)
	if !strings.HasPrefix(final3.Text, "done · claude") || !strings.Contains(final3.Text, "BUILT ANYWAY") ||
		!strings.Contains(final3.Text, "⚠️ a process in this run was killed for memory (limit 64 MiB)") {
		t.Errorf("answer of the run whose child was killed for memory = %q", final3.Text)
	}
}

// TestStrangerStartsNothing: a user not on the allowlist gets no reply and
// no run, even in a routed chat.
func TestStrangerStartsNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.start()
	sent := w.tg.UserSays(groupChat, mallory, "rm -rf / please")
	w.waitFor("the stranger's update to be handled", 30*time.Second, func(s *telegramtest.Snapshot) bool {
		return s.Acked(sent.UpdateID)
	})
	if msgs := w.tg.BotMessages(groupChat); len(msgs) != 0 {
		t.Errorf("bot answered a stranger: %+v", msgs)
	}
	if calls := w.engineCalls(); len(calls) != 0 {
		t.Errorf("a stranger's message ran the engine: %+v", calls)
	}
	if names := w.containers(context.Background()); len(names) != 0 {
		t.Errorf("containers created for a stranger: %v", names)
	}
}

// TestRestartNeitherRepeatsNorLoses kills the daemon after an update was
// handled, sends another while it is down, and starts it again.
func TestRestartNeitherRepeatsNorLoses(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.cleanupVolumes()
	d := w.start()
	first := w.tg.UserSays(groupChat, alice, "first message")
	w.finalReply(groupChat, first.MessageID, time.Minute)
	// Between Telegram accepting the answer and the bridge recording that
	// (a millisecond or two), a crash cannot be told from one just before
	// the send: the answer would come again. Crash a moment later.
	time.Sleep(500 * time.Millisecond)
	d.kill()

	second := w.tg.UserSays(groupChat, alice, "second message, sent while the bridge is down")
	w.start()
	w.finalReply(groupChat, second.MessageID, time.Minute)

	calls := w.engineCalls()
	if len(calls) != 2 {
		t.Fatalf("engine ran %d times, want 2 (first once, second once): %+v", len(calls), calls)
	}
	finals := 0
	for _, m := range w.tg.BotMessages(groupChat) {
		if m.ReplyTo == first.MessageID && strings.HasPrefix(m.Text, "done") {
			finals++
		}
	}
	if finals != 1 {
		t.Errorf("first message got %d final answers, want 1", finals)
	}
}

// TestSecondDaemonOnSameConfigIsRefused: the lock keeps an instance single.
func TestSecondDaemonOnSameConfigIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.start()
	cmd := exec.Command(binPath, "run", "--config", w.configPath)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitLocked {
		t.Fatalf("second daemon: err = %v, want exit %d; output:\n%s", err, exitLocked, out)
	}
	if !strings.Contains(string(out), "another untether daemon is running") {
		t.Errorf("second daemon's message = %q", out)
	}
}

// TestBadConfigListsEveryProblem: one line per problem, each naming its
// TOML path, and a non-zero exit.
func TestBadConfigListsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "untether.toml")
	cfg := `bogus_key = 1

[transports.telegram]
allowed_user_ids = []

[projects.app]
path = "/tmp"
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "run", "--config", path)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitConfig {
		t.Fatalf("err = %v, want exit %d; output:\n%s", err, exitConfig, out)
	}
	for _, key := range []string{"bogus_key", "transports.telegram.bot_token", "transports.telegram.allowed_user_ids"} {
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, path+": "+key+": ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no line names %s:\n%s", key, out)
		}
	}
}

// TestNoConfigSaysWhatToDo: a first start without a config explains the
// setup instead of failing obscurely.
func TestNoConfigSaysWhatToDo(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing", "untether.toml")
	cmd := exec.Command(binPath, "run")
	cmd.Env = append(cleanEnv(), "UNTETHER_CONFIG_PATH="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitConfig {
		t.Fatalf("err = %v, want exit %d", err, exitConfig)
	}
	for _, want := range []string{"No config found at " + path, "untether setup", "@BotFather", "[transports.telegram]", "allowed_user_ids"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
