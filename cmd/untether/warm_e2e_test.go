package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// warmInspected is what the warm start test reads of a container.
type warmInspected struct {
	ID         string `json:"Id"`
	Name       string
	HostConfig struct {
		Memory     int64
		MemorySwap int64
		PidsLimit  int64
		NanoCpus   int64
		CpuQuota   int64
	}
	Config struct {
		Labels map[string]string
		Env    []string
		Cmd    []string
	}
	Mounts []struct {
		Type        string
		Name        string
		Source      string
		Destination string
	}
}

func (w *world) inspectContainer(ctx context.Context, name string) warmInspected {
	w.t.Helper()
	out, err := podmanSvc.Podman(ctx, "inspect", name)
	if err != nil {
		w.t.Fatalf("inspect %s: %v\n%s", name, err, out)
	}
	var info []warmInspected
	if err := json.Unmarshal(out, &info); err != nil || len(info) != 1 {
		w.t.Fatalf("inspect %s: %v (%s)", name, err, out)
	}
	return info[0]
}

// warmContainers lists the world's warm containers no run claimed.
func (w *world) warmContainers(ctx context.Context) []string {
	w.t.Helper()
	out, err := podmanSvc.Podman(ctx, "ps", "-a", "--filter", "label=untether.instance="+w.instance,
		"--filter", "label=untether.pool", "--format", "{{.Names}}")
	if err != nil {
		w.t.Fatal(err)
	}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if strings.HasPrefix(n, "untether-warm-") {
			names = append(names, n)
		}
	}
	return names
}

// readyWarm waits for the world's one warm container to be ready for a
// run (running past the pool's settle time) and returns its name.
func (w *world) readyWarm(ctx context.Context) string {
	w.t.Helper()
	var name string
	pollUntil(w.t, "a ready warm container", 30*time.Second, func() bool {
		names := w.warmContainers(ctx)
		if len(names) != 1 {
			return false
		}
		out, err := podmanSvc.Podman(ctx, "inspect", "--format", "{{.State.Status}} {{.State.StartedAt.Unix}}", names[0])
		if err != nil {
			return false
		}
		var status string
		var started int64
		fmt.Sscan(string(out), &status, &started)
		name = names[0]
		return status == "running" && time.Since(time.Unix(started, 0)) > 2*time.Second
	})
	return name
}

// runContainer waits for the world's running container that is not a
// warm one and returns its name.
func (w *world) runContainer(ctx context.Context) string {
	w.t.Helper()
	var name string
	pollUntil(w.t, "the run's container", 30*time.Second, func() bool {
		out, err := podmanSvc.Podman(ctx, "ps", "--filter", "label=untether.instance="+w.instance,
			"--filter", "status=running", "--format", "{{.Names}}")
		if err != nil {
			w.t.Fatal(err)
		}
		for _, n := range strings.Fields(string(out)) {
			if !strings.HasPrefix(n, "untether-warm-") {
				name = n
				return true
			}
		}
		return false
	})
	return name
}

// TestWarmStart: with warm = true a started container waits for the
// project's next run, with the limits, mounts and labels of a cold one and
// none of a session's secrets; the run takes it (its engine gets the
// secret), a new one is made for the next, `untether ps` shows it, and the
// bridge removes it when it stops.
func TestWarmStart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{memory: "256MiB", pids: 128, sandbox: "warm = true",
		extra: "\n[claude.env]\nUNTETHER_TEST_SECRET = \"s3cret-value\"\n"})
	w.cleanupVolumes()
	d := w.start()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	warm := []string{w.readyWarm(ctx)}
	pool := w.inspectContainer(ctx, warm[0])
	if pool.HostConfig.Memory != 256<<20 || pool.HostConfig.MemorySwap != 256<<20 || pool.HostConfig.PidsLimit != 128 {
		t.Errorf("warm container limits: memory %d, swap %d, pids %d; want 256 MiB, 256 MiB, 128",
			pool.HostConfig.Memory, pool.HostConfig.MemorySwap, pool.HostConfig.PidsLimit)
	}
	for k, v := range map[string]string{"untether.instance": w.instance, "untether.project": "test-claude", "untether.engine": "claude"} {
		if pool.Config.Labels[k] != v {
			t.Errorf("warm container label %s = %q, want %q", k, pool.Config.Labels[k], v)
		}
	}
	for _, k := range []string{"untether.run", "untether.chat"} {
		if v, ok := pool.Config.Labels[k]; ok {
			t.Errorf("warm container has the session's label %s = %q", k, v)
		}
	}
	for _, e := range pool.Config.Env {
		if strings.Contains(e, "UNTETHER_TEST_SECRET") || strings.Contains(e, "s3cret") {
			t.Errorf("warm container's config holds a secret: %q", e)
		}
	}
	if !slices.Equal(pool.Config.Cmd, []string{"untether-stdin", "launch"}) {
		t.Errorf("warm container runs %v, want the launcher", pool.Config.Cmd)
	}
	var binds []string
	for _, m := range pool.Mounts {
		if m.Type == "bind" {
			binds = append(binds, m.Source+":"+m.Destination)
		}
	}
	if want := []string{w.project + ":/workspace"}; !slices.Equal(binds, want) {
		t.Errorf("warm container bind mounts = %v, want %v", binds, want)
	}
	if ps, err := w.untether("ps", "--config", w.configPath); err != nil || !strings.Contains(ps, warm[0]) || !strings.Contains(ps, "(warm)") {
		t.Errorf("untether ps does not show the warm container (err %v):\n%s", err, ps)
	}

	sent := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello fake:delay=500ms")
	name := w.runContainer(ctx)
	run := w.inspectContainer(ctx, name)
	if run.ID != pool.ID {
		t.Errorf("the run's container %s (%.12s) is not the warm one %s (%.12s)", name, run.ID, warm[0], pool.ID)
	}
	for _, e := range run.Config.Env {
		if strings.Contains(e, "s3cret") {
			t.Errorf("the claimed container's config holds the secret: %q", e)
		}
	}
	if ps, err := w.untether("ps", "--config", w.configPath); err != nil || !strings.Contains(ps, name) {
		t.Errorf("untether ps during the warm run (err %v):\n%s", err, ps)
	}
	final := w.finalReply(groupChat, sent.MessageID, time.Minute)
	if !strings.HasPrefix(final.Text, "done · claude") || !strings.Contains(final.Text, "Done. Created hello.txt.") {
		t.Errorf("final answer = %q", final.Text)
	}
	if !strings.Contains(final.Text, "⚙ ") {
		t.Errorf("a warm run's answer has no resource footer: %q", final.Text)
	}
	calls := w.engineCalls()
	if len(calls) != 1 || !slices.Contains(calls[0].EnvKeys, "UNTETHER_TEST_SECRET") || calls[0].Argv[0] != "claude" {
		t.Errorf("engine calls = %+v, want one claude run that got UNTETHER_TEST_SECRET", calls)
	}

	// A new one waits for the next run, and takes it.
	var next []string
	pollUntil(t, "the next warm container", 30*time.Second, func() bool {
		next = w.warmContainers(ctx)
		return len(next) == 1 && next[0] != warm[0]
	})
	sent2 := w.tg.UserSays(groupChat, alice, "now append world to hello.txt")
	if final2 := w.finalReply(groupChat, sent2.MessageID, time.Minute); !strings.Contains(final2.Text, "Done. Appended world to hello.txt.") {
		t.Errorf("second answer = %q", final2.Text)
	}
	if calls := w.engineCalls(); len(calls) != 2 || !slices.Contains(calls[1].Argv, "--resume") {
		t.Errorf("second run argv = %+v, want a resume", calls)
	}

	d.stop(t)
	if names := w.containers(ctx); len(names) != 0 {
		t.Errorf("containers left after the bridge stopped: %v", names)
	}
}

// TestWarmRunSurvivesRestart: a run in a warm container (which has no run
// label: its name says its run) is left running by a detaching drain, and
// the next daemon reattaches to it instead of reaping it as an orphan.
func TestWarmRunSurvivesRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{top: `drain = "detach"`, sandbox: "warm = true"})
	w.cleanupVolumes()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := w.start()
	w.readyWarm(ctx)
	msg := w.tg.UserSays(groupChat, alice, "a long job fake:sleep=4s fake:delay=300ms")
	w.working(groupChat, msg.MessageID)
	name := w.runContainer(ctx)
	if l := w.inspectContainer(ctx, name).Config.Labels; l["untether.pool"] == "" || l["untether.run"] != "" {
		t.Fatalf("the run is not in a claimed warm container: labels %v", l)
	}
	d.sigterm(t)
	if state := w.containerState(ctx); state != "running" {
		t.Fatalf("containers after the drain: %q, want the run's only, running", state)
	}

	d = w.start()
	final := w.finalReply(groupChat, msg.MessageID, time.Minute)
	if !strings.HasPrefix(final.Text, "done · claude") || !strings.Contains(final.Text, "Done. Created hello.txt.") {
		t.Errorf("final answer = %q", final.Text)
	}
	if n := w.finals(groupChat, msg.MessageID); n != 1 {
		t.Errorf("%d final answers, want 1", n)
	}
	if n := len(w.engineCalls()); n != 1 {
		t.Errorf("engine ran %d times, want 1", n)
	}
	d.stop(t)
	if names := w.containers(ctx); len(names) != 0 {
		t.Errorf("containers left after the bridge stopped: %v", names)
	}
}
