package podman

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/engines/enginetest"
	"github.com/untether-go/untether/internal/podmantest"
	"github.com/untether-go/untether/sandbox"
)

var svc *podmantest.Service

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if arg := os.Getenv(bridgeEnv); arg != "" {
		return bridgeChild(arg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := podmantest.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podman tests:", err)
		return 1
	}
	defer s.Stop()
	svc = s
	defer func() {
		for _, r := range remotes {
			r.Stop()
		}
	}()
	if err := enginetest.BuildImage(ctx, enginetest.DefaultTag, s.Env); err != nil {
		fmt.Fprintln(os.Stderr, "podman tests: build test image:", err)
		return 1
	}
	return m.Run()
}

// claudeSpec runs the fake claude with prompt in a fresh project directory.
func claudeSpec(t *testing.T, prompt string) sandbox.Spec {
	t.Helper()
	name := testName()
	t.Cleanup(func() { svc.Podman(context.Background(), "volume", "rm", "-f", name+"-home") })
	spec := baseSpec(name, t.TempDir())
	spec.Argv = []string{"claude", "-p", "--output-format", "stream-json", "--verbose",
		"--permission-mode", "bypassPermissions", "--", prompt}
	return spec
}

// testName is a new container name.
func testName() string { return fmt.Sprintf("untether-podmantest-%d", time.Now().UnixNano()) }

// baseSpec is a run's spec as the orchestrator shapes it, without argv.
func baseSpec(name, workspace string) sandbox.Spec {
	return sandbox.Spec{
		Name:      name,
		Image:     enginetest.DefaultTag,
		Env:       map[string]string{"IS_SANDBOX": "1", "HOME": sandbox.HomeDir},
		Workdir:   sandbox.WorkspaceDir,
		Mounts:    []sandbox.Mount{{Source: workspace, Target: sandbox.WorkspaceDir}},
		Volumes:   []sandbox.Volume{{Name: name + "-home", Target: sandbox.HomeDir}},
		Network:   sandbox.NetworkNone,
		Limits:    sandbox.Limits{MemoryBytes: 128 << 20, Pids: 64, CPUs: 1, Timeout: time.Minute},
		Labels:    map[string]string{sandbox.LabelInstance: "podmantest"},
		StopGrace: 2 * time.Second,
	}
}

// removeRun removes a test's container and its volume when the test ends.
func removeRun(tb testing.TB, name string) {
	tb.Cleanup(func() {
		svc.Podman(context.Background(), "rm", "-f", "-t", "0", name)
		svc.Podman(context.Background(), "volume", "rm", "-f", name+"-home")
	})
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(b []byte) { l.mu.Lock(); l.l = append(l.l, string(b)); l.mu.Unlock() }

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func exists(t *testing.T, name string) bool {
	out, err := svc.Podman(context.Background(), "ps", "-a", "--filter", "name=^"+name+"$", "--format", "{{.Names}}")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out)) != ""
}

func TestRunStreamsEveryLineAndRemovesTheContainer(t *testing.T) {
	r := New(Options{URL: svc.URL})
	spec := claudeSpec(t, "create hello.txt")
	var got lines
	res, err := r.Run(context.Background(), spec, got.add)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "engines", "enginetest", "captures", "claude", "basic.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	wantLines := strings.Split(strings.TrimSpace(string(want)), "\n")
	if g := got.get(); strings.Join(g, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("streamed %d lines, want the %d lines of basic.jsonl", len(g), len(wantLines))
	}
	if res.ExitCode != 0 || res.OOMKilled || res.Cancelled || res.TimedOut {
		t.Errorf("result = %+v", res)
	}
	if exists(t, spec.Name) {
		t.Errorf("container %s still exists", spec.Name)
	}
}

func TestRunPastMemoryLimitIsOOM(t *testing.T) {
	r := New(Options{URL: svc.URL})
	spec := claudeSpec(t, "fake:oom")
	spec.Limits.MemoryBytes = 32 << 20
	res, err := r.Run(context.Background(), spec, func([]byte) {})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OOMKilled || res.ExitCode != 137 {
		t.Errorf("result = %+v, want OOM-killed with exit 137", res)
	}
}

func TestCancelStopsWithSigtermThenSigkill(t *testing.T) {
	r := New(Options{URL: svc.URL})
	spec := claudeSpec(t, "fake:sleep=60s fake:ignore-term")
	ctx, cancel := context.WithCancel(context.Background())
	var got lines
	done := make(chan struct{})
	var res sandbox.Result
	var err error
	go func() { res, err = r.Run(ctx, spec, got.add); close(done) }()
	pollLines(t, &got, 1)
	start := time.Now()
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if !res.Cancelled || res.ExitCode != 137 {
		t.Errorf("result = %+v, want cancelled and killed", res)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("cancel took %v with a 2 s grace", took)
	}
	if exists(t, spec.Name) {
		t.Errorf("container %s still exists", spec.Name)
	}
}

func TestTimeoutStopsTheRun(t *testing.T) {
	r := New(Options{URL: svc.URL})
	spec := claudeSpec(t, "fake:sleep=60s")
	spec.Limits.Timeout = 2 * time.Second
	res, err := r.Run(context.Background(), spec, func([]byte) {})
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.OOMKilled {
		t.Errorf("result = %+v, want timed out", res)
	}
}

func TestStderrTailIsKept(t *testing.T) {
	r := New(Options{URL: svc.URL})
	res, err := r.Run(context.Background(), claudeSpec(t, "fake:exit=3"), func([]byte) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || !strings.Contains(res.StderrTail, "crashing on request") {
		t.Errorf("result = %+v", res)
	}
}

func TestMissingImageAndUnreachablePodman(t *testing.T) {
	spec := claudeSpec(t, "x")
	spec.Image = "localhost/untether-no-such-image:latest"
	_, err := New(Options{URL: svc.URL}).Run(context.Background(), spec, func([]byte) {})
	if !errors.Is(err, sandbox.ErrImageNotFound) {
		t.Errorf("missing image: err = %v, want ErrImageNotFound", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = New(Options{URL: "unix://" + filepath.Join(t.TempDir(), "none.sock")}).Run(ctx, claudeSpec(t, "x"), func([]byte) {})
	if !errors.Is(err, sandbox.ErrUnavailable) {
		t.Errorf("no podman: err = %v, want ErrUnavailable", err)
	}
}

func pollLines(t *testing.T, l *lines, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(l.get()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no output after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStdinReachesTheProcess(t *testing.T) {
	r := New(Options{URL: svc.URL})
	spec := claudeSpec(t, "")
	spec.Argv = spec.Argv[:len(spec.Argv)-2] // no "--" and no prompt: the CLI reads stdin
	spec.Stdin = strings.NewReader("create hello.txt containing hello\n")
	var got lines
	res, err := r.Run(context.Background(), spec, got.add)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || len(got.get()) == 0 {
		t.Fatalf("result = %+v, %d lines", res, len(got.get()))
	}
	calls, err := enginetest.ReadCalls(spec.Mounts[0].Source)
	if err != nil || len(calls) != 1 {
		t.Fatalf("calls = %+v, %v", calls, err)
	}
}

func TestBuildAndListImages(t *testing.T) {
	r := New(Options{URL: svc.URL})
	tag := fmt.Sprintf("localhost/untether-podmantest-build:%d", time.Now().UnixNano())
	t.Cleanup(func() { svc.Podman(context.Background(), "rmi", "-f", tag) })
	var out strings.Builder
	err := r.BuildImage(context.Background(), sandbox.ImageBuild{
		Tag:           tag,
		Containerfile: []byte("ARG GREETING=unset\nFROM " + enginetest.DefaultTag + "\nARG GREETING\nLABEL greeting=$GREETING\n"),
		Args:          map[string]string{"GREETING": "hello"},
		Labels:        map[string]string{"untether.engine": "claude"},
	}, &out)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	list, err := r.Images(context.Background(), "localhost/untether-podmantest-build:")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, im := range list {
		if im.Ref == tag {
			found = true
			if im.Labels["untether.engine"] != "claude" || im.Labels["greeting"] != "hello" {
				t.Errorf("labels = %v", im.Labels)
			}
		}
	}
	if !found {
		t.Errorf("built image %s not listed in %+v", tag, list)
	}
	err = r.BuildImage(context.Background(), sandbox.ImageBuild{
		Tag: tag + "-bad", Containerfile: []byte("FROM localhost/untether-no-such-base:none\n"),
	}, &out)
	if err == nil {
		t.Errorf("a build from a missing base succeeded")
	}
}

func TestHostReportsThisMachine(t *testing.T) {
	h, err := New(Options{URL: svc.URL}).Host(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "podman" || h.Version == "" || h.CgroupVersion == "" || h.Runtime != "runc" {
		t.Errorf("host = %+v", h)
	}
	if os.Geteuid() == 0 && (h.Rootless || h.CheckLimits() != nil) {
		t.Errorf("rootful podman here must enforce limits: %+v: %v", h, h.CheckLimits())
	}
}

func TestBuildSecretIsMountedNotKept(t *testing.T) {
	r := New(Options{URL: svc.URL})
	tag := fmt.Sprintf("localhost/untether-podmantest-secret:%d", time.Now().UnixNano())
	t.Cleanup(func() { svc.Podman(context.Background(), "rmi", "-f", tag) })
	secret := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(secret, []byte("not a real CA"), 0o600)
	// The test image has no shell, so the check is that the build with a
	// secret mount succeeds and the secret is absent from the image.
	var out strings.Builder
	err := r.BuildImage(context.Background(), sandbox.ImageBuild{
		Tag:           tag,
		Containerfile: []byte("FROM " + enginetest.DefaultTag + "\nRUN --mount=type=secret,id=ca,required=true [\"/usr/local/bin/claude\", \"--version\"]\n"),
		Secrets:       map[string]string{"ca": secret},
	}, &out)
	if err != nil {
		t.Fatalf("build with a secret: %v\n%s", err, out.String())
	}
	if o, err := svc.Podman(context.Background(), "run", "--rm", tag, "claude", "--version"); err != nil {
		t.Fatalf("run: %v %s", err, o)
	}
}
