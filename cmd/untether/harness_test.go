package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/untether-go/untether/engines/enginetest"
	"github.com/untether-go/untether/internal/podmantest"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// The end-to-end tests drive the real binary: a Telegram-faithful server on
// one side, a private Podman service running the offline test image (a fake
// `claude` replaying captured streams) on the other.
//
// Most tests call t.Parallel: each world is its own (bot server, instance,
// project, containers and volumes labelled with the instance), and a test
// mostly waits on its containers, so several run at once (`go test
// -parallel`). These stay sequential, and run first: the tests that stop
// the shared Podman service (outage), use the shared second host b (hosts),
// make the rootless user (rootless, limits), or build and run the real
// engine CLIs' images (RealClaude..., RealCodex...).

var (
	podmanSvc *podmantest.Service
	binPath   string
)

const testImage = enginetest.DefaultTag

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	svc, err := podmantest.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cannot start podman:", err)
		return 1
	}
	defer svc.Stop()
	podmanSvc = svc
	if err := enginetest.BuildImage(ctx, testImage, svc.Env); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build test image:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "untether-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "untether")
	// Under the race detector the daemon is built with it too, so the
	// end-to-end tests look for data races in the bridge itself.
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.CommandContext(ctx, "go", append(args, ".")...)
	if raceEnabled {
		build.Env = append(os.Environ(), "CGO_ENABLED=1")
	}
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build untether: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	stopHostB()
	cleanCtx, cancelClean := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelClean()
	if left := removeLeftovers(cleanCtx); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: the tests left containers behind (now removed): %s\n", strings.Join(left, ", "))
		if code == 0 {
			code = 1
		}
	}
	return code
}

// instances are the instance ids this test binary's worlds used; only
// their containers are this run's (another run may share the storage).
var instances sync.Map

// removeLeftovers removes every container of this run's instances (and of
// "other"+instance, as the reconcile test makes) still in Podman's storage
// and returns their names: each test must clean up what it creates, also
// when it fails.
func removeLeftovers(ctx context.Context) []string {
	out, err := podmanSvc.Podman(ctx, "ps", "-a", "--filter", "label=untether.instance",
		"--format", `{{.Names}} {{index .Labels "untether.instance"}}`)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: list containers:", err)
		return nil
	}
	var left []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, instance, ok := strings.Cut(line, " ")
		if _, ours := instances.Load(strings.TrimPrefix(instance, "other")); !ok || !ours {
			continue
		}
		left = append(left, name)
		podmanSvc.Podman(ctx, "rm", "--force", "--ignore", name)
	}
	return left
}

// Fixed identities of the tests' Telegram world.
var (
	alice   = telegramtest.User{ID: 1001, FirstName: "Alice", Username: "alice"}
	mallory = telegramtest.User{ID: 6666, FirstName: "Mallory", Username: "mallory"}
)

const (
	groupChat = int64(-1001000000001)
	// basicSession is the session id of a new claude run's stream: the
	// captured partial.jsonl, as the daemon asks for partial messages.
	basicSession = "1ce4b1c0-02c4-435f-8d6f-79c225f8d44c"
)

// world is one test's setup: a bot server, a project, a config.
type world struct {
	t          testing.TB
	tg         *telegramtest.Server
	dir        string // config directory
	configPath string
	project    string
	instance   string
	// env is added to the daemon's environment.
	env []string
}

type worldOptions struct {
	memory string // project memory limit
	pids   int
	// defaultProject routes private chats to the project.
	defaultProject bool
	// moreUsers are allowlisted besides alice.
	moreUsers []telegramtest.User
	// moreGroups are routed to projects of their own (named group-N) that
	// share the test project's directory.
	moreGroups []int64
	// engineProjects adds a project test-<engine> per engine but claude,
	// each in its own directory, routed from engineChat(engine) and
	// defaulting to that engine, like the seed's six test groups.
	engineProjects []string
	// images overrides the test image for some engines.
	images map[string]string
	// network is [sandbox] network; empty leaves the default.
	network string
	// extra is appended to the config (e.g. [claude.env]).
	extra string
	// globalMemory is [sandbox] memory; empty leaves the default.
	globalMemory string
	// maxRuns is [sandbox] max_concurrent_runs; 0 leaves the default.
	maxRuns int
	// backend is [sandbox] backend; empty leaves podman.
	backend string
	// top is added to the config's top level (e.g. drain = "wait").
	top string
	// telegram is added to [transports.telegram] (e.g. chat_id = 1).
	telegram string
	// noDrafts makes the Bot API server one without sendMessageDraft.
	noDrafts bool
	// sandbox is added to [sandbox] (e.g. stall_after = "1s").
	sandbox string
}

// engineChat is the group routed to the project test-<engine>.
func engineChat(engine string) int64 {
	n := int64(0)
	for _, c := range engine {
		n = n*31 + int64(c)
	}
	return -1002000000000 - n%1000000
}

func newWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	if o.memory == "" {
		o.memory = "256MiB"
	}
	if o.pids == 0 {
		o.pids = 128
	}
	tg := telegramtest.NewServer(telegramtest.Options{NoDrafts: o.noDrafts})
	t.Cleanup(tg.Close)
	tg.AddChat(telegramtest.Chat{ID: groupChat, Type: "supergroup", Title: "test-claude"})
	tg.AddChat(telegramtest.Chat{ID: alice.ID, Type: "private"})

	dir := t.TempDir()
	project := filepath.Join(dir, "test-claude")
	if err := os.Mkdir(project, 0o755); err != nil {
		t.Fatal(err)
	}
	instance := fmt.Sprintf("e2e%d", time.Now().UnixNano()%1_000_000_000)
	instances.Store(instance, true)
	top := o.top
	if o.defaultProject {
		top += "\ndefault_project = \"test-claude\""
	}
	users := []string{fmt.Sprint(alice.ID)}
	for _, u := range o.moreUsers {
		users = append(users, fmt.Sprint(u.ID))
		tg.AddChat(telegramtest.Chat{ID: u.ID, Type: "private"})
	}
	cfg := fmt.Sprintf(`instance = %q
default_engine = "claude"
%s

[transports.telegram]
bot_token = %q
api_url = %q
allowed_user_ids = [%s]
poll_timeout = "2s"
%s

[projects.test-claude]
path = %q
chat_id = %d

[projects.test-claude.sandbox]
memory = %q

[sandbox]
podman_url = %q
pids = %d
cpus = 1
timeout = "2m"
stop_grace = "2s"
%s
[sandbox.images]
%s`, instance, top, tg.Token(), tg.URL(), strings.Join(users, ", "), o.telegram, project, groupChat, o.memory,
		podmanSvc.URL, o.pids, networkLine(o.network)+memoryLine(o.globalMemory)+maxRunsLine(o.maxRuns)+backendLine(o.backend)+o.sandbox+"\n", imageLines(o.images))
	for _, e := range o.engineProjects {
		dir := filepath.Join(dir, "test-"+e)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		tg.AddChat(telegramtest.Chat{ID: engineChat(e), Type: "supergroup", Title: "test-" + e})
		cfg += fmt.Sprintf("\n[projects.test-%s]\npath = %q\nchat_id = %d\ndefault_engine = %q\n", e, dir, engineChat(e), e)
	}
	for i, g := range o.moreGroups {
		tg.AddChat(telegramtest.Chat{ID: g, Type: "supergroup"})
		cfg += fmt.Sprintf("\n[projects.group-%d]\npath = %q\nchat_id = %d\n", i, project, g)
	}
	cfg += o.extra
	path := filepath.Join(dir, "untether.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, tg: tg, dir: dir, configPath: path, project: project, instance: instance}
}

func networkLine(n string) string {
	if n == "" {
		return ""
	}
	return fmt.Sprintf("network = %q\n", n)
}

func backendLine(b string) string {
	if b == "" {
		return ""
	}
	return fmt.Sprintf("backend = %q\n", b)
}

func maxRunsLine(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("max_concurrent_runs = %d\n", n)
}

func memoryLine(m string) string {
	if m == "" {
		return ""
	}
	return fmt.Sprintf("memory = %q\n", m)
}

// imageLines gives every engine the test image unless overridden.
func imageLines(over map[string]string) string {
	var b strings.Builder
	for _, e := range []string{"claude", "codex", "opencode", "pi", "gemini", "amp"} {
		img := testImage
		if over[e] != "" {
			img = over[e]
		}
		fmt.Fprintf(&b, "%s = %q\n", e, img)
	}
	return b.String()
}

// daemon is one running `untether run`.
type daemon struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
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

// start runs the daemon and waits until it polls Telegram.
func (w *world) start() *daemon {
	w.t.Helper()
	return w.startBinary(binPath)
}

// startBinary runs the daemon from bin (e.g. an installed release) and
// waits until it polls Telegram.
func (w *world) startBinary(bin string) *daemon {
	w.t.Helper()
	d := &daemon{out: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(bin, "run", "--config", w.configPath, "--log-level", "debug")
	d.cmd.Env = append(cleanEnv(), w.env...)
	d.cmd.Stdout = d.out
	d.cmd.Stderr = d.out
	if err := d.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	w.t.Cleanup(func() {
		d.stop(w.t)
		if strings.Contains(d.out.String(), "WARNING: DATA RACE") {
			w.t.Errorf("the daemon reported a data race")
		}
		if w.t.Failed() {
			w.t.Logf("daemon output:\n%s", d.out.String())
		}
	})
	polls := len(w.calls("getUpdates"))
	w.waitFor("the daemon polls", 30*time.Second, func(s *telegramtest.Snapshot) bool {
		n := 0
		for _, c := range s.Calls() {
			if c.Method == "getUpdates" {
				n++
			}
		}
		return n > polls
	})
	return d
}

// stop ends the daemon with SIGTERM and waits.
func (d *daemon) stop(t testing.TB) {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		t.Errorf("daemon did not stop within 60 s of SIGTERM")
		d.cmd.Process.Kill()
		<-d.done
	}
}

// kill ends the daemon with SIGKILL, as a crash would.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.done
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "UNTETHER_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (w *world) calls(method string) []telegramtest.Call {
	var out []telegramtest.Call
	for _, c := range w.tg.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (w *world) waitFor(what string, limit time.Duration, cond func(s *telegramtest.Snapshot) bool) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := w.tg.WaitFor(ctx, cond); err != nil {
		w.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// finalReply waits for the bot's final answer to the user's message id: a
// reply whose header starts with "done" or "error".
func (w *world) finalReply(chat, userMsg int64, limit time.Duration) telegramtest.Message {
	w.t.Helper()
	var final telegramtest.Message
	w.waitFor(fmt.Sprintf("the final answer to message %d", userMsg), limit, func(s *telegramtest.Snapshot) bool {
		for _, m := range s.BotMessages(chat) {
			if m.ReplyTo == userMsg && (strings.HasPrefix(m.Text, "done ·") || strings.HasPrefix(m.Text, "error ·")) {
				final = m
				return true
			}
		}
		return false
	})
	return final
}

// progressMessage is the first bot reply to userMsg (the progress message).
func progressMessage(msgs []telegramtest.Message, userMsg int64) (telegramtest.Message, bool) {
	for _, m := range msgs {
		if m.ReplyTo == userMsg {
			return m, true
		}
	}
	return telegramtest.Message{}, false
}

// engineCall is one line of the fake engine's invocation log.
type engineCall struct {
	Argv    []string `json:"argv"`
	Cwd     string   `json:"cwd"`
	EnvKeys []string `json:"env_keys"`
}

func (w *world) engineCalls() []engineCall {
	w.t.Helper()
	return w.engineCallsIn(w.project)
}

// engineCallsIn reads the fake engine's invocation log in a project dir.
func (w *world) engineCallsIn(project string) []engineCall {
	w.t.Helper()
	data, err := os.ReadFile(filepath.Join(project, ".fakeengine-calls.jsonl"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	var out []engineCall
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var c engineCall
		if err := json.Unmarshal(line, &c); err != nil {
			w.t.Fatalf("engine call log: %v", err)
		}
		out = append(out, c)
	}
	return out
}

// containers lists this world's containers (running or not).
func (w *world) containers(ctx context.Context) []string {
	w.t.Helper()
	out, err := podmanSvc.Podman(ctx, "ps", "-a", "--filter", "label=untether.instance="+w.instance, "--format", "{{.Names}}")
	if err != nil {
		w.t.Fatal(err)
	}
	return strings.Fields(string(out))
}

func (w *world) cleanupVolumes() {
	w.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _ := podmanSvc.Podman(ctx, "volume", "ls", "-q", "--filter", "label=untether.instance="+w.instance)
		for _, v := range strings.Fields(string(out)) {
			podmanSvc.Podman(ctx, "volume", "rm", "-f", v)
		}
	})
}

// pollUntil checks cond every 100 ms until it holds or limit passes; for
// conditions outside the Telegram server (containers, files).
func pollUntil(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out after %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// untether runs the binary with args and returns its combined output. It
// runs with the private Podman's configuration, for commands that call the
// podman CLI (images base).
func (w *world) untether(args ...string) (string, error) {
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(cleanEnv(), podmanSvc.Env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
