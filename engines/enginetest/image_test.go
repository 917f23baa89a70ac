//go:build containers

package enginetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// containersConf is a private Podman configuration that works on cgroup v1
// hosts (crun refuses them, runc does not) and fits podman's default
// ulimits under the host's hard limits.
const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`

// headless is how the daemon runs claude, before the prompt.
var headless = []string{"claude", "-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "bypassPermissions"}

// podmanEnv finds podman and writes the private configuration. A missing
// podman fails the test: the image tests are part of `make test`.
func podmanEnv(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman is not installed: the test image needs real Podman (apt-get install podman runc): %v", err)
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte(containersConf), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"CONTAINERS_CONF=" + conf}
}

// podmanRun runs a container of the test image to the end and returns its
// name, stdout, stderr and exit status. The container is kept for inspection
// until the test ends.
func podmanRun(t *testing.T, ctx context.Context, env []string, opts []string, cmd ...string) (name, stdout, stderr string, code int) {
	t.Helper()
	var id [6]byte
	_, _ = rand.Read(id[:])
	name = "untether-enginetest-" + hex.EncodeToString(id[:])
	t.Cleanup(func() {
		rm := exec.Command("podman", "rm", "--force", "--ignore", name)
		rm.Env = append(os.Environ(), env...)
		_ = rm.Run()
	})
	args := append([]string{"run", "--name", name}, opts...)
	args = append(append(args, DefaultTag), cmd...)
	c := exec.CommandContext(ctx, "podman", args...)
	c.Env = append(os.Environ(), env...)
	// conmon drops a file named "oom" in its working directory when it
	// sees an OOM kill: keep it out of the source tree.
	c.Dir = t.TempDir()
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("podman run: %v", err)
	}
	return name, out.String(), errOut.String(), code
}

// podmanInspect returns a field of a container's inspect output.
func podmanInspect(t *testing.T, ctx context.Context, env []string, name, format string) string {
	t.Helper()
	c := exec.CommandContext(ctx, "podman", "inspect", "--format", format, name)
	c.Env = append(os.Environ(), env...)
	out, err := c.Output()
	if err != nil {
		t.Fatalf("podman inspect %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

func imageID(t *testing.T, ctx context.Context, env []string) string {
	t.Helper()
	c := exec.CommandContext(ctx, "podman", "image", "inspect", "--format", "{{.Id}}", DefaultTag)
	c.Env = append(os.Environ(), env...)
	out, err := c.Output()
	if err != nil {
		t.Fatalf("podman image inspect: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestImage(t *testing.T) {
	env := podmanEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	if err := BuildImage(ctx, DefaultTag, env); err != nil {
		t.Fatalf("BuildImage: %v", err)
	}
	id := imageID(t, ctx, env)

	t.Run("rebuild is skipped", func(t *testing.T) {
		if err := BuildImage(ctx, DefaultTag, env); err != nil {
			t.Fatalf("BuildImage: %v", err)
		}
		if got := imageID(t, ctx, env); got != id {
			t.Errorf("image %s replaced by %s though nothing changed", id, got)
		}
	})

	basic, err := os.ReadFile(filepath.Join("captures", "claude", "basic.jsonl"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("basic replay", func(t *testing.T) {
		want := basic
		ws := t.TempDir()
		cmd := append(slices.Clone(headless), "--model", "claude-sonnet-4-5", "--", "create hello.txt containing hello")
		_, stdout, stderr, code := podmanRun(t, ctx, env,
			[]string{"--env", "IS_SANDBOX=1", "--volume", ws + ":/workspace"}, cmd...)
		if code != 0 || stdout != string(want) {
			t.Fatalf("exit %d, stderr %q; stdout equals basic.jsonl: %v\n%.300s", code, stderr, stdout == string(want), stdout)
		}
		calls, err := ReadCalls(ws)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || !slices.Equal(calls[0].Argv, cmd) || calls[0].Cwd != "/workspace" || calls[0].UID != 0 {
			t.Fatalf("calls %+v; want one of %q in /workspace as root", calls, cmd)
		}
		for _, k := range []string{"HOME", "IS_SANDBOX", "PATH"} {
			if !slices.Contains(calls[0].EnvKeys, k) {
				t.Errorf("environment %v lacks %s", calls[0].EnvKeys, k)
			}
		}
	})

	t.Run("every engine", func(t *testing.T) {
		const prompt = "create hello.txt containing hello"
		argvs := map[string][]string{
			"claude":   append(slices.Clone(headless), "--model", "claude-sonnet-4-5", "--", prompt),
			"codex":    {"codex", "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", prompt},
			"opencode": {"opencode", "run", "--format", "json", prompt},
			"pi":       {"pi", "--mode", "json", "--provider", "mock", "--model", "mock-model", prompt},
			"gemini":   {"gemini", "-p", prompt, "--output-format", "stream-json", "--yolo", "--skip-trust", "-m", "gemini-2.5-pro"},
			"amp":      {"amp", "-x", prompt, "--stream-json", "--dangerously-allow-all"},
		}
		for _, name := range EngineNames() {
			t.Run(name, func(t *testing.T) {
				cmd, ok := argvs[name]
				if !ok {
					t.Fatalf("no argv for %s", name)
				}
				want, err := os.ReadFile(filepath.Join("captures", name, "basic.jsonl"))
				if err != nil {
					t.Fatal(err)
				}
				wantStderr, err := os.ReadFile(filepath.Join("captures", name, "basic.stderr.txt"))
				if err != nil {
					t.Fatal(err)
				}
				ws := t.TempDir()
				_, stdout, stderr, code := podmanRun(t, ctx, env,
					[]string{"--env", "IS_SANDBOX=1", "--volume", ws + ":/workspace"}, cmd...)
				if code != 0 || stdout != string(want) || stderr != string(wantStderr) {
					t.Fatalf("exit %d, stderr %q; stdout equals basic.jsonl: %v\n%.300s", code, stderr, stdout == string(want), stdout)
				}
				if calls, err := ReadCalls(ws); err != nil || len(calls) != 1 || !slices.Equal(calls[0].Argv, cmd) {
					t.Errorf("calls %+v, %v; want one of %q", calls, err, cmd)
				}
			})
		}
	})

	t.Run("probe as a user", func(t *testing.T) {
		ws, home := t.TempDir(), t.TempDir()
		for _, d := range []string{ws, home} {
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		// No IS_SANDBOX: the CLI refuses bypassPermissions to root only.
		_, stdout, stderr, code := podmanRun(t, ctx, env,
			[]string{"--user", "1000:1000", "--volume", ws + ":/workspace", "--volume", home + ":/home/agent"},
			append(slices.Clone(headless), "--", "fake:probe")...)
		if code != 0 || stdout == "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		p, err := ReadProbe(ws)
		if err != nil {
			t.Fatal(err)
		}
		if p.UID != 1000 || p.GID != 1000 || !p.TmpWritable || p.RootWritable {
			t.Errorf("probe %+v; want uid 1000, /tmp writable (mode 1777), / not writable", p)
		}
		if _, ok := p.MountAt("/workspace"); !ok {
			t.Errorf("no mount at /workspace in %+v", p.Mounts)
		}
		if !slices.Contains(p.EnvKeys, "HOME") {
			t.Errorf("environment %v lacks HOME", p.EnvKeys)
		}
		// The session went to the engine's home.
		if entries, _ := os.ReadDir(filepath.Join(home, ".claude", "sessions")); len(entries) != 1 {
			t.Errorf("sessions in the engine home: %v; want 1", entries)
		}
	})

	t.Run("oom kill", func(t *testing.T) {
		name, stdout, stderr, code := podmanRun(t, ctx, env,
			[]string{"--env", "IS_SANDBOX=1", "--memory", "64m", "--memory-swap", "64m"},
			append(slices.Clone(headless), "--", "fake:oom")...)
		init, _, _ := strings.Cut(string(basic), "\n")
		if code != 137 || stdout != init+"\n" {
			t.Fatalf("exit %d, stderr %q, stdout %.100q; want 137 (SIGKILL) after the init line", code, stderr, stdout)
		}
		// Not asserted: conmon checks a cgroup v1 OOM event only while the
		// container runs, and loses it when the exit is handled first, so
		// OOMKilled stays false on cgroup v1 hosts (true on v2).
		t.Logf("State.OOMKilled = %s", podmanInspect(t, ctx, env, name, "{{.State.OOMKilled}}"))
	})

	t.Run("forkbomb meets the pids limit", func(t *testing.T) {
		_, stdout, stderr, code := podmanRun(t, ctx, env,
			[]string{"--env", "IS_SANDBOX=1", "--pids-limit", "64"},
			append(slices.Clone(headless), "--", "fake:forkbomb")...)
		if code != 0 || stdout != string(basic) {
			t.Fatalf("exit %d, stderr %q; want the whole replay", code, stderr)
		}
		if !strings.Contains(stderr, "resource temporarily unavailable") {
			t.Errorf("stderr %q; want the fork stopped by the pids limit", stderr)
		}
	})
}

func TestBuildImageReportsPodmanErrors(t *testing.T) {
	env := podmanEnv(t)
	const tag = "localhost/Not-Lowercase:latest"
	t.Cleanup(func() { os.Remove(lockPath(tag)) })
	err := BuildImage(t.Context(), tag, env)
	if err == nil {
		t.Fatal("BuildImage accepted an invalid tag")
	}
	for _, want := range []string{"build test image localhost/Not-Lowercase:latest", "podman build", "must be lowercase"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
