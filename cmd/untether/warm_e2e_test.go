package main

import (
	"context"
	"encoding/json"
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

// TestWarmStart: with warm = true a started container waits for the
// project's next run, with the limits, mounts and labels of a cold one and
// none of a session's secrets; the run takes it (its engine gets the
// secret), a new one is made for the next, `untether ps` shows it, and the
// bridge removes it when it stops.
func TestWarmStart(t *testing.T) {
	w := newWorld(t, worldOptions{memory: "256MiB", pids: 128, sandbox: "warm = true",
		extra: "\n[claude.env]\nUNTETHER_TEST_SECRET = \"s3cret-value\"\n"})
	w.cleanupVolumes()
	d := w.start()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var warm []string
	pollUntil(t, "a warm container", 30*time.Second, func() bool { warm = w.warmContainers(ctx); return len(warm) == 1 })
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
	var name string
	pollUntil(t, "the run's container", 30*time.Second, func() bool { return w.hasContainer(ctx, &name) && !strings.HasPrefix(name, "untether-warm-") })
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
