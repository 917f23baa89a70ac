package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLimitsCheckedWhenPodmanComesBack: the bridge starts while its Podman
// is down, so the startup check cannot run; then a Podman that cannot
// enforce limits (rootless on cgroup v1) comes up on that socket. A message
// is refused with the reason and no container is created, although the
// service has the image and could run it: no run is ever started without
// limits.
func TestLimitsCheckedWhenPodmanComesBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rp := prepareRootlessPodman(t)
	// The test image in the rootless user's storage: without the check the
	// run would start there, unlimited.
	tar := filepath.Join(rp.dir, "image.tar")
	if out, err := podmanSvc.Podman(ctx, "save", "-o", tar, testImage); err != nil {
		t.Fatalf("podman save: %v\n%s", err, out)
	}
	os.Chmod(tar, 0o644)
	if out, err := rp.asUser(ctx, "podman", "load", "-i", tar).CombinedOutput(); err != nil {
		t.Fatalf("podman load as %s: %v\n%s", rootlessUser, err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rp.asUser(ctx, "podman", "rm", "--all", "--force").Run()
		rp.asUser(ctx, "podman", "rmi", "--force", testImage).Run()
	})
	if out, err := rp.asUser(ctx, "podman", "info", "--format", "{{.Host.CgroupsVersion}}").Output(); err != nil || strings.TrimSpace(string(out)) != "v1" {
		t.Fatalf("this test needs a cgroup v1 host, where rootless Podman cannot enforce limits: %q %v", out, err)
	}

	w := newWorld(t, worldOptions{network: "none"})
	cfg, err := os.ReadFile(w.configPath)
	if err != nil {
		t.Fatal(err)
	}
	cfgText := strings.Replace(string(cfg), podmanSvc.URL, "unix://"+rp.sock, 1)
	if err := os.WriteFile(w.configPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	d := w.start() // Podman is down: the bridge starts and says so
	if !strings.Contains(d.out.String(), "podman is not reachable") {
		t.Errorf("the bridge did not say Podman is down:\n%s", d.out.String())
	}

	rp.start(t)
	msg := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
	f := w.finalReply(groupChat, msg.MessageID, time.Minute)
	for _, want := range []string{"error · claude", "cannot enforce", "rootless Podman on cgroup v1", "untether doctor"} {
		if !strings.Contains(f.Text, want) {
			t.Errorf("answer %q does not say %q", f.Text, want)
		}
	}
	out, err := rp.asUser(ctx, "podman", "ps", "-a", "--format", "{{.Names}}").CombinedOutput()
	if err != nil {
		t.Fatalf("podman ps as %s: %v\n%s", rootlessUser, err, out)
	}
	if names := strings.Fields(string(out)); len(names) > 0 {
		t.Errorf("containers created on the Podman that cannot enforce limits: %v", names)
	}
	if calls := w.engineCalls(); len(calls) > 0 {
		t.Errorf("the engine ran %d times", len(calls))
	}
}
