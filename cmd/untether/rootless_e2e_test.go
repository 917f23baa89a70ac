package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rootlessUser is the unprivileged account the rootless check runs as; the
// test creates it when missing (make test runs as root).
const rootlessUser = "untethertest"

// TestDoctorRefusesRootlessOnCgroupV1 runs a rootless Podman service as an
// unprivileged user and `untether doctor` as that user: on a cgroup v1 host
// such a Podman cannot enforce memory or pids limits, and the doctor must
// say so and fail. On a cgroup v2 host the check is that it reports the
// delegated controllers instead.
func TestDoctorRefusesRootlessOnCgroupV1(t *testing.T) {
	rp := startRootlessPodman(t)
	dir, sock := rp.dir, rp.sock

	w := newWorld(t, worldOptions{})
	cfg, err := os.ReadFile(w.configPath)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "untether.toml")
	rootless := strings.Replace(string(cfg), podmanSvc.URL, "unix://"+sock, 1)
	rootless = strings.Replace(rootless, w.project, dir, 1)
	if err := os.WriteFile(cfgPath, []byte(rootless), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	doctor := rp.asUser(ctx, binPath, "doctor", "--config", cfgPath)
	got, err := doctor.CombinedOutput()
	text := string(got)
	if !strings.Contains(text, "rootless") {
		t.Fatalf("doctor did not reach the rootless Podman:\n%s", text)
	}
	var ee *exec.ExitError
	cgroupV1 := !strings.Contains(text, "cgroup v2")
	switch {
	case cgroupV1 && (!errors.As(err, &ee) || ee.ExitCode() == 0):
		t.Errorf("doctor passed for rootless Podman on cgroup v1:\n%s", text)
	case cgroupV1 && !strings.Contains(text, "FAIL  limits: resource limits cannot be enforced: rootless Podman on cgroup v1"):
		t.Errorf("doctor does not say why limits fail:\n%s", text)
	case !cgroupV1 && !strings.Contains(text, "limits"):
		t.Errorf("doctor says nothing of limits:\n%s", text)
	}
}

// rootlessPodman is a Podman service run by the unprivileged rootlessUser,
// on a socket in dir; env is the environment its podman commands need.
type rootlessPodman struct {
	dir, sock string
	env       []string
}

// startRootlessPodman starts a rootless Podman service as rootlessUser
// (created when missing) and stops it when the test ends.
func startRootlessPodman(t *testing.T) rootlessPodman {
	t.Helper()
	rp := prepareRootlessPodman(t)
	rp.start(t)
	return rp
}

// prepareRootlessPodman makes the user, directory and configuration of a
// rootless Podman service without starting it.
func prepareRootlessPodman(t *testing.T) rootlessPodman {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test creates a user and runs as it: run make test as root")
	}
	u := ensureUser(t, rootlessUser)
	dir, err := os.MkdirTemp("", "untether-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{dir, filepath.Dir(binPath)} {
		os.Chmod(d, 0o755)
	}
	os.Chown(dir, u.uid, u.gid)
	conf := filepath.Join(dir, "containers.conf")
	os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"), 0o644)
	return rootlessPodman{
		dir:  dir,
		sock: filepath.Join(dir, "podman.sock"),
		env:  []string{"HOME=" + u.home, "XDG_RUNTIME_DIR=" + dir, "CONTAINERS_CONF=" + conf, "PATH=" + os.Getenv("PATH")},
	}
}

// asUser is a command that runs argv as rootlessUser in rp's environment.
func (rp rootlessPodman) asUser(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "runuser", "-u", rootlessUser, "--", "env", "-i")
	cmd.Args = append(cmd.Args, rp.env...)
	cmd.Args = append(cmd.Args, argv...)
	return cmd
}

// start runs the service until the test ends and waits for its socket.
func (rp rootlessPodman) start(t *testing.T) {
	t.Helper()
	svc := rp.asUser(context.Background(), "podman", "system", "service", "--time=0", "unix://"+rp.sock)
	out := &syncBuffer{}
	svc.Stdout, svc.Stderr = out, out
	// runuser forks podman: kill the whole group, or podman outlives it.
	svc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-svc.Process.Pid, syscall.SIGKILL)
		svc.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", rp.sock); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rootless podman service did not come up:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type account struct {
	uid, gid int
	home     string
}

func ensureUser(t *testing.T, name string) account {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		if out, err := exec.Command("useradd", "--create-home", "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if _, err := os.Stat(u.HomeDir); err != nil {
		t.Fatal(fmt.Errorf("home of %s: %w", name, err))
	}
	return account{uid: uid, gid: gid, home: u.HomeDir}
}
