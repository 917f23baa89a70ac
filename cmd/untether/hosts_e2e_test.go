package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/internal/podmantest"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// The hosts tests run the bridge over two Podman hosts: "local" (the
// tests' own service) and "b", a second service with its own storage in a
// network namespace, reached only through an sshd there.

var (
	hostB     = sync.OnceValues(startHostB)
	hostBStop []*podmantest.Remote
)

func startHostB() (*podmantest.Remote, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := podmantest.StartRemote(ctx)
	if err != nil {
		return nil, err
	}
	hostBStop = append(hostBStop, r)
	if err := r.LoadImage(ctx, podmanSvc, testImage); err != nil {
		return nil, err
	}
	return r, nil
}

// stopHostB is called by testMain.
func stopHostB() {
	for _, r := range hostBStop {
		r.Stop()
	}
}

// hostsWorld is a world whose projects h0..h(n-1) may run on both hosts,
// each in its own folder, with a folder of its own on b (remote_path).
type hostsWorld struct {
	*world
	b      *podmantest.Remote
	chats  []int64
	local  []string // project folders on the bridge's side
	remote []string // the same projects' folders on b
}

func newHostsWorld(t *testing.T, n, maxRuns int, extra string) *hostsWorld {
	t.Helper()
	b, err := hostB()
	if err != nil {
		t.Fatal("start host b:", err)
	}
	hw := &hostsWorld{b: b}
	cfg := fmt.Sprintf(`
[sandbox.hosts.local]
url = %q
max_runs = %d

[sandbox.hosts.b]
url = %q
identity = %q
known_hosts = %q
max_runs = %d
%s`, podmanSvc.URL, maxRuns, b.URL, b.Identity, b.KnownHosts, maxRuns, extra)
	root := t.TempDir()
	for i := range n {
		chat := int64(-1001000000100 - i)
		local := filepath.Join(root, fmt.Sprintf("h%d", i))
		remote := filepath.Join(root, fmt.Sprintf("h%d-on-b", i))
		for _, d := range []string{local, remote} {
			if err := os.Mkdir(d, 0o777); err != nil {
				t.Fatal(err)
			}
			os.Chmod(d, 0o777) // the agent's user writes its call log here
		}
		hw.chats, hw.local, hw.remote = append(hw.chats, chat), append(hw.local, local), append(hw.remote, remote)
		cfg += fmt.Sprintf("\n[projects.h%d]\npath = %q\nremote_path = %q\nchat_id = %d\n", i, local, remote, chat)
	}
	hw.world = newWorld(t, worldOptions{maxRuns: 2 * n, globalMemory: "192MiB", extra: cfg})
	for _, c := range hw.chats {
		hw.tg.AddChat(telegramtest.Chat{ID: c, Type: "supergroup"})
	}
	hw.cleanupVolumes()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _ := b.Service.Podman(ctx, "ps", "-aq", "--filter", "label=untether.instance="+hw.instance)
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			t.Errorf("containers left on b: %v", ids)
			b.Service.Podman(ctx, append([]string{"rm", "-f", "-t", "0"}, ids...)...)
		}
		vols, _ := b.Service.Podman(ctx, "volume", "ls", "-q", "--filter", "label=untether.instance="+hw.instance)
		for _, v := range strings.Fields(string(vols)) {
			b.Service.Podman(ctx, "volume", "rm", "-f", v)
		}
	})
	return hw
}

// ranOn says where project i's runs went: how many engine calls its
// folder on each host logged.
func (hw *hostsWorld) ranOn(i int) (local, b int) {
	return len(hw.engineCallsIn(hw.local[i])), len(hw.engineCallsIn(hw.remote[i]))
}

// homeOf is the host project h<i>'s one run so far ran on: "local" or
// "b"; anything else fails the test.
func (hw *hostsWorld) homeOf(t *testing.T, i int) string {
	t.Helper()
	switch l, b := hw.ranOn(i); {
	case l == 1 && b == 0:
		return "local"
	case l == 0 && b == 1:
		return "b"
	default:
		t.Fatalf("project h%d: %d runs in its local folder, %d in its folder on b", i, l, b)
	}
	return ""
}

// running lists the world's running containers on a host's service.
func (hw *hostsWorld) running(ctx context.Context, svc *podmantest.Service) []string {
	hw.t.Helper()
	out, err := svc.Podman(ctx, "ps", "--filter", "label=untether.instance="+hw.instance, "--format", "{{.Names}}")
	if err != nil {
		hw.t.Fatal(err)
	}
	return strings.Fields(string(out))
}

func memoryLimit(t *testing.T, ctx context.Context, svc *podmantest.Service, name string) string {
	t.Helper()
	out, err := svc.Podman(ctx, "inspect", "--format", "{{.HostConfig.Memory}}", name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestHostsPlaceSessionsOnBothHosts: six sessions at max_runs = 3 land
// three and three, each container on its host with its limits, each run
// in the project's folder of its host; a resumed session goes back to its
// host; files are refused for a project that may run remotely. It logs
// how long a message takes to its answer on each host.
func TestHostsPlaceSessionsOnBothHosts(t *testing.T) {
	hw := newHostsWorld(t, 6, 3, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	doctor, err := hw.untether("doctor", "--config", hw.configPath)
	for _, want := range []string{"ok    host local: podman 4", "ok    host b: podman 4", "ok    host b: limits: memory and pids limits are enforced", "ok    host b: image " + testImage} {
		if !strings.Contains(doctor, want) {
			t.Errorf("doctor lacks %q: %v\n%s", want, err, doctor)
		}
	}
	hw.start()
	sent := make([]int64, 6)
	for i, c := range hw.chats {
		sent[i] = hw.tg.UserSays(c, alice, fmt.Sprintf("job %d fake:sleep=8s", i)).MessageID
	}
	var onLocal, onB []string
	pollUntil(t, "six containers running, three on each host", 2*time.Minute, func() bool {
		onLocal, onB = hw.running(ctx, podmanSvc), hw.running(ctx, hw.b.Service)
		return len(onLocal)+len(onB) == 6
	})
	if len(onLocal) != 3 || len(onB) != 3 {
		t.Fatalf("containers on local %v, on b %v: want three and three", onLocal, onB)
	}
	want := fmt.Sprint(192 << 20)
	for _, n := range onLocal {
		if got := memoryLimit(t, ctx, podmanSvc, n); got != want {
			t.Errorf("memory limit of %s on local = %s, want %s", n, got, want)
		}
	}
	for _, n := range onB {
		if got := memoryLimit(t, ctx, hw.b.Service, n); got != want {
			t.Errorf("memory limit of %s on b = %s, want %s", n, got, want)
		}
	}
	ps, err := hw.untether("ps", "--config", hw.configPath)
	if err != nil {
		t.Fatalf("ps: %v\n%s", err, ps)
	}
	for host, names := range map[string][]string{"local": onLocal, "b": onB} {
		for _, n := range names {
			if !slices.ContainsFunc(strings.Split(ps, "\n"), func(l string) bool {
				f := strings.Fields(l)
				return len(f) > 2 && f[0] == n && f[1] == host
			}) {
				t.Errorf("ps does not list %s on %s:\n%s", n, host, ps)
			}
		}
	}
	st := hw.tg.UserSays(hw.chats[0], alice, "/status").MessageID
	hw.waitFor("/status with the run's host", 30*time.Second, func(s *telegramtest.Snapshot) bool {
		for _, bm := range s.BotMessages(hw.chats[0]) {
			if bm.ReplyTo == st && (strings.Contains(bm.Text, " · on b · memory") || strings.Contains(bm.Text, " · on local · memory")) {
				return true
			}
		}
		return false
	})
	for i, c := range hw.chats {
		if f := hw.finalReply(c, sent[i], 2*time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
			t.Errorf("answer %d = %q", i, f.Text)
		}
	}
	home := map[int]string{}
	for i := range hw.chats {
		home[i] = hw.homeOf(t, i)
	}

	// Resumed sessions go back to their hosts, though both are idle.
	for i, c := range hw.chats {
		m := hw.tg.UserSays(c, alice, "again").MessageID
		if f := hw.finalReply(c, m, 2*time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
			t.Errorf("second answer %d = %q", i, f.Text)
		}
		l, b := hw.ranOn(i)
		calls := hw.engineCallsIn(hw.local[i])
		if home[i] == "b" {
			calls = hw.engineCallsIn(hw.remote[i])
		}
		if (home[i] == "local" && (l != 2 || b != 0)) || (home[i] == "b" && (l != 0 || b != 2)) {
			t.Errorf("project h%d (home %s): %d runs in its local folder, %d on b", i, home[i], l, b)
		} else if !slices.Contains(calls[1].Argv, "--resume") {
			t.Errorf("project h%d: the second run did not resume: %q", i, calls[1].Argv)
		}
	}

	// Message to answer on each host, for a run that does next to nothing
	// (one per chat: the chats' flood limits stay out of it).
	took := map[string][]time.Duration{}
	for i, c := range hw.chats {
		start := time.Now()
		m := hw.tg.UserSays(c, alice, "quick").MessageID
		hw.finalReply(c, m, time.Minute)
		took[home[i]] = append(took[home[i]], time.Since(start))
	}
	l, b := median(took["local"]), median(took["b"])
	t.Logf("message to answer: local %v, b %v (ratio %.2f)", l.Round(time.Millisecond), b.Round(time.Millisecond), float64(b)/float64(l))

	// The bridge's folder is not where a remote run works: files are
	// refused, with the reason.
	m := hw.tg.UserSays(hw.chats[0], alice, "/file get notes.txt").MessageID
	defer func() {
		if t.Failed() {
			for _, bm := range hw.tg.BotMessages(hw.chats[0]) {
				t.Logf("bot: reply to %d: %q", bm.ReplyTo, bm.Text)
			}
		}
	}()
	hw.waitFor("the refusal of /file", 30*time.Second, func(s *telegramtest.Snapshot) bool {
		for _, bm := range s.BotMessages(hw.chats[0]) {
			if bm.ReplyTo == m && strings.Contains(bm.Text, "cannot reach the project's folder (hosts: b, local)") {
				return true
			}
		}
		return false
	})
	pollUntil(t, "every container removed", time.Minute, func() bool {
		return len(hw.running(ctx, podmanSvc))+len(hw.running(ctx, hw.b.Service)) == 0
	})
}

// homes sends one short run to every chat at once (so that they overlap
// and spread over the hosts) and returns the host each session went to.
func (hw *hostsWorld) homes(t *testing.T) []string {
	t.Helper()
	sent := make([]int64, len(hw.chats))
	for i, c := range hw.chats {
		sent[i] = hw.tg.UserSays(c, alice, fmt.Sprintf("first %d fake:sleep=3s", i)).MessageID
	}
	home := make([]string, len(hw.chats))
	for i, c := range hw.chats {
		if f := hw.finalReply(c, sent[i], 2*time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
			t.Fatalf("first answer %d = %q", i, f.Text)
		}
		home[i] = hw.homeOf(t, i)
	}
	return home
}

// byHome returns the chats' indexes whose session is on host.
func byHome(home []string, host string) []int {
	var out []int
	for i, h := range home {
		if h == host {
			out = append(out, i)
		}
	}
	return out
}

// TestHostsLoseAndRegainAHost: b's sshd stops mid-run: b's run ends with
// the reason, the local runs finish, new sessions go to local and a
// resumed session of b waits, visibly, for b; b comes back and is used
// again, and what the lost run left on it is removed.
func TestHostsLoseAndRegainAHost(t *testing.T) {
	hw := newHostsWorld(t, 6, 3, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := hw.start()
	home := hw.homes(t)
	locals, remotes := byHome(home, "local"), byHome(home, "b")
	if len(locals) != 3 || len(remotes) != 3 {
		t.Fatalf("sessions went to %v: want three and three", home)
	}

	lost := hw.tg.UserSays(hw.chats[remotes[0]], alice, "long fake:sleep=60s").MessageID
	var short []int64
	for _, i := range locals {
		short = append(short, hw.tg.UserSays(hw.chats[i], alice, "short fake:sleep=5s").MessageID)
	}
	pollUntil(t, "the runs started on both hosts", time.Minute, func() bool {
		return len(hw.running(ctx, hw.b.Service)) == 1 && len(hw.running(ctx, podmanSvc)) == 3
	})
	hw.b.Down()
	f := hw.finalReply(hw.chats[remotes[0]], lost, time.Minute)
	if !strings.HasPrefix(f.Text, "error ·") || !strings.Contains(f.Text, "the host b became unreachable") {
		t.Errorf("answer of the run on b = %q", f.Text)
	}
	for k, i := range locals {
		if f := hw.finalReply(hw.chats[i], short[k], time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
			t.Errorf("answer of the local run %d = %q", i, f.Text)
		}
	}

	if ps, _ := hw.untether("ps", "--config", hw.configPath); !strings.Contains(ps, "host b did not answer") {
		t.Errorf("ps with b down:\n%s", ps)
	}

	// A new session goes to local while b is down.
	fresh := remotes[1]
	hw.tg.UserSays(hw.chats[fresh], alice, "/new")
	m := hw.tg.UserSays(hw.chats[fresh], alice, "fresh start").MessageID
	if f := hw.finalReply(hw.chats[fresh], m, time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
		t.Errorf("answer of the new session = %q", f.Text)
	}
	if l, b := hw.ranOn(fresh); l != 1 || b != 1 {
		t.Errorf("project h%d: %d runs local, %d on b; want its new session local", fresh, l, b)
	}

	// A resumed session of b waits for b, and says so.
	waiting := remotes[2]
	w := hw.tg.UserSays(hw.chats[waiting], alice, "resume me").MessageID
	hw.waitFor("the run waiting for b", time.Minute, func(s *telegramtest.Snapshot) bool {
		for _, bm := range s.BotMessages(hw.chats[waiting]) {
			if bm.ReplyTo == w && strings.Contains(bm.Text, "queued · waiting for host b") {
				return true
			}
		}
		return false
	})
	if err := hw.b.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if f := hw.finalReply(hw.chats[waiting], w, time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
		t.Errorf("answer of the session that waited for b = %q", f.Text)
	}
	if l, b := hw.ranOn(waiting); l != 0 || b != 2 {
		t.Errorf("project h%d: %d runs local, %d on b; want both on b", waiting, l, b)
	}
	if !strings.Contains(d.out.String(), `msg="host is back" instance=`+hw.instance+` component=podman host=b`) &&
		!strings.Contains(d.out.String(), `msg="host is back"`) {
		t.Errorf("the bridge never logged b back")
	}
	pollUntil(t, "the lost run's container removed from b", time.Minute, func() bool {
		out, _ := hw.b.Service.Podman(ctx, "ps", "-aq", "--filter", "label=untether.instance="+hw.instance)
		return strings.TrimSpace(string(out)) == ""
	})
}

// TestHostsRestartAndOutOfMemory: a kill -9 of the bridge while runs go on
// on both hosts: the next bridge reattaches to each on its host, and each
// answer arrives once, and a stray container on b is reconciled away; so
// after a drain that detaches them. A
// run on b can be cancelled, a memory hog on b is reported as one on
// local is, and a live config reload keeps sessions on their hosts.
func TestHostsRestartAndOutOfMemory(t *testing.T) {
	hw := newHostsWorld(t, 2, 3, "")
	d := hw.start()
	home := hw.homes(t)
	if !slices.Contains(home, "local") || !slices.Contains(home, "b") {
		t.Fatalf("sessions went to %v: want one on each host", home)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	sent := make([]int64, 2)
	for i, c := range hw.chats {
		sent[i] = hw.tg.UserSays(c, alice, "across a crash fake:sleep=6s").MessageID
	}
	pollUntil(t, "a run on each host", time.Minute, func() bool {
		return len(hw.running(ctx, hw.b.Service)) == 1 && len(hw.running(ctx, podmanSvc)) == 1
	})
	d.kill()
	// A container of the instance that no run record names, on b: the next
	// bridge's reconcile removes it there.
	stray := "untether-" + hw.instance + "-0000stray000"
	if _, err := hw.b.Service.Podman(ctx, "create", "--name", stray, "--label", "untether.instance="+hw.instance,
		"--label", "untether.run=0000stray000", testImage, "true"); err != nil {
		t.Fatal(err)
	}
	d = hw.start()
	pollUntil(t, "the stray container on b removed", time.Minute, func() bool {
		out, _ := hw.b.Service.Podman(ctx, "ps", "-a", "--filter", "name="+stray, "--format", "{{.Names}}")
		return strings.TrimSpace(string(out)) == ""
	})
	for i, c := range hw.chats {
		if f := hw.finalReply(c, sent[i], time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
			t.Errorf("answer %d after the restart = %q", i, f.Text)
		}
	}
	time.Sleep(time.Second) // a second answer would land now
	for i, c := range hw.chats {
		if n := hw.finals(c, sent[i]); n != 1 {
			t.Errorf("chat %d: %d answers, want 1", i, n)
		}
		if l, b := hw.ranOn(i); l+b != 2 || (home[i] == "b") != (b == 2) {
			t.Errorf("project h%d (home %s): %d runs local, %d on b", i, home[i], l, b)
		}
	}

	// A drain (SIGTERM, drain = "detach") leaves the runs on both hosts
	// running; the next bridge delivers each answer once.
	for i, c := range hw.chats {
		sent[i] = hw.tg.UserSays(c, alice, "across a drain fake:sleep=15s").MessageID
	}
	pollUntil(t, "a run on each host", time.Minute, func() bool {
		return len(hw.running(ctx, hw.b.Service)) == 1 && len(hw.running(ctx, podmanSvc)) == 1
	})
	took := d.sigterm(t)
	t.Logf("SIGTERM to exit with a run detached on each host: %v", took.Round(time.Millisecond))
	if len(hw.running(ctx, hw.b.Service)) != 1 || len(hw.running(ctx, podmanSvc)) != 1 {
		t.Errorf("runs did not outlive the drain")
	}
	d = hw.start()
	for i, c := range hw.chats {
		if f := hw.finalReply(c, sent[i], time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
			t.Errorf("answer %d after the drain = %q", i, f.Text)
		}
	}
	time.Sleep(time.Second)
	for i, c := range hw.chats {
		if n := hw.finals(c, sent[i]); n != 1 {
			t.Errorf("chat %d: %d answers after the drain, want 1", i, n)
		}
	}

	// /cancel stops a run on its host.
	onB := hw.chats[slices.Index(home, "b")]
	long := hw.tg.UserSays(onB, alice, "long fake:sleep=60s").MessageID
	p := hw.working(onB, long)
	hw.tg.UserSays(onB, alice, "/cancel", telegramtest.ReplyTo(p.MessageID))
	if f := hw.finalReply(onB, long, time.Minute); !strings.Contains(f.Text, "Cancelled.") {
		t.Errorf("final after /cancel on b = %q", f.Text)
	}

	for i, c := range hw.chats {
		m := hw.tg.UserSays(c, alice, "eat memory fake:oom").MessageID
		f := hw.finalReply(c, m, 2*time.Minute)
		if !strings.Contains(f.Text, "Out of memory") || !strings.Contains(f.Text, "192 MiB") {
			t.Errorf("memory hog on %s answered %q", home[i], f.Text)
		}
	}

	// A live config change (a new project) puts a new pool in force: the
	// sessions still go back to their hosts, and the new project runs.
	dir := filepath.Join(hw.dir, "h9")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	const h9 = int64(-1001000000199)
	hw.tg.AddChat(telegramtest.Chat{ID: h9, Type: "supergroup"})
	appendConfig(t, hw.world, fmt.Sprintf("\n[projects.h9]\npath = %q\nchat_id = %d\n", dir, h9))
	pollUntil(t, "the config reloaded", time.Minute, func() bool { return strings.Contains(d.out.String(), "config reloaded") })
	for i, c := range hw.chats {
		l0, b0 := hw.ranOn(i)
		m := hw.tg.UserSays(c, alice, "after the reload").MessageID
		if f := hw.finalReply(c, m, time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
			t.Errorf("answer %d after the reload = %q", i, f.Text)
		}
		if l, b := hw.ranOn(i); (home[i] == "b" && b != b0+1) || (home[i] == "local" && l != l0+1) {
			t.Errorf("project h%d (home %s) after the reload: %d runs local, %d on b (before %d, %d)", i, home[i], l, b, l0, b0)
		}
	}
	m := hw.tg.UserSays(h9, alice, "new project").MessageID
	if f := hw.finalReply(h9, m, time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
		t.Errorf("answer of the new project = %q", f.Text)
	}
	pollUntil(t, "every container removed", time.Minute, func() bool {
		return len(hw.running(ctx, podmanSvc))+len(hw.running(ctx, hw.b.Service)) == 0
	})
}
