package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/untether-go/untether/engines/enginetest"
)

// TestContainerIsHardened has the fake engine probe its own container: no
// capabilities, no new privileges, a read-only root, a writable project and
// /tmp, no secrets in its environment and nothing of the host mounted but
// the project and its engine volume (plus what every container gets).
func TestContainerIsHardened(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.cleanupVolumes()
	w.env = []string{"UNTETHER_BOT_TOKEN=" + w.tg.Token()}
	w.start()
	sent := w.tg.UserSays(groupChat, alice, "look around fake:probe fake:write=owned.txt")
	if f := w.finalReply(groupChat, sent.MessageID, time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
		t.Fatalf("probe run answered %q", f.Text)
	}
	p, err := enginetest.ReadProbe(w.project)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Trim(p.CapEff, "0") != "" {
		t.Errorf("effective capabilities %s, want none", p.CapEff)
	}
	if p.NoNewPrivs != "1" {
		t.Errorf("no_new_privs = %q", p.NoNewPrivs)
	}
	if p.RootWritable {
		t.Errorf("the container could write /")
	}
	if !p.TmpWritable {
		t.Errorf("the container could not write /tmp: %s", p.TmpWriteError)
	}
	for _, k := range p.EnvKeys {
		if strings.Contains(k, "TOKEN") || strings.Contains(k, "UNTETHER") {
			t.Errorf("the container's environment has %s", k)
		}
	}
	// Every container has /proc, /dev, /sys and podman's /etc and /run
	// files; anything else mounted is a leak of the host.
	allowed := []string{"/", "/workspace", "/home/agent", "/tmp", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv"}
	for _, m := range p.Mounts {
		if slices.Contains(allowed, m.Path) || hasAnyPrefix(m.Path, "/proc", "/dev", "/sys", "/run/secrets") {
			continue
		}
		t.Errorf("unexpected mount in the container: %+v", m)
	}
	if m, ok := p.MountAt("/"); !ok || !strings.Contains(","+m.Options+",", ",ro,") {
		t.Errorf("root mount %+v is not read-only", m)
	}
	st, err := os.Stat(filepath.Join(w.project, "owned.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
		t.Errorf("a file the agent wrote belongs to uid %d, not the invoking user %d", uid, os.Getuid())
	}
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p+"/") {
			return true
		}
	}
	return false
}
