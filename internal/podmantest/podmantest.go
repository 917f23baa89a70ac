// Package podmantest starts a private Podman API service for tests: its own
// socket, its own containers.conf (runc, cgroupfs, ulimits that fit the host),
// so tests never depend on, or disturb, a Podman the host already runs.
//
// Only tests and benchmarks import it. It uses the podman CLI, never the
// API client of sandbox/podman, and the standard library only.
package podmantest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// containersConf works on hosts with cgroup v1 (crun refuses hybrid mode,
// runc does not) and a hard nofile limit below podman's defaults.
const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`

// Service is a running `podman system service`.
type Service struct {
	// URL is the socket's URL for podman.Options (unix:///…/podman.sock).
	URL string
	// Env is what a podman CLI call needs to use the same configuration.
	Env []string
	dir string
	cmd *exec.Cmd
	out bytes.Buffer
	// wrap runs the service through another command (e.g. ip netns exec).
	wrap []string
}

// Start launches the service and waits until its socket answers. It fails
// with a clear message when podman is not installed or cannot run.
func Start(ctx context.Context) (*Service, error) {
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, errors.New("podman is not installed: run `make test` as root (it installs podman and runc with apt), or `apt-get install podman runc`")
	}
	dir, err := os.MkdirTemp("", "untether-podman-")
	if err != nil {
		return nil, fmt.Errorf("make service dir: %w", err)
	}
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte(containersConf), 0o644); err != nil {
		return nil, fmt.Errorf("write containers.conf: %w", err)
	}
	sock := filepath.Join(dir, "podman.sock")
	s := &Service{
		URL: "unix://" + sock,
		Env: []string{"CONTAINERS_CONF=" + conf},
		dir: dir,
	}
	if err := s.launch(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// launch starts the service process and waits for its socket.
func (s *Service) launch(ctx context.Context) error {
	argv := append(slices.Clone(s.wrap), "podman", "system", "service", "--time=0", "unix://"+s.Socket())
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env = append(os.Environ(), s.Env...)
	// conmon drops a file named "oom" in its working directory when it
	// sees an OOM kill: keep it out of the source tree.
	s.cmd.Dir = s.dir
	s.cmd.Stdout = &s.out
	s.cmd.Stderr = &s.out
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start podman system service: %w", err)
	}
	if err := waitForSocket(ctx, s.Socket(), 30*time.Second); err != nil {
		return fmt.Errorf("podman system service did not come up: %w\n%s", err, s.out.String())
	}
	return nil
}

// Down stops the service process, as an outage would, keeping its
// configuration so Up can start it again on the same socket.
func (s *Service) Down() {
	s.halt()
	os.Remove(s.Socket())
}

// Up starts the service again after Down.
func (s *Service) Up(ctx context.Context) error { return s.launch(ctx) }

func waitForSocket(ctx context.Context, sock string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Socket is the path of the service's socket.
func (s *Service) Socket() string { return filepath.Join(s.dir, "podman.sock") }

// Stop ends the service and removes its directory.
func (s *Service) Stop() {
	s.halt()
	os.RemoveAll(s.dir)
}

// halt ends the service process and waits for it.
func (s *Service) halt() {
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
}

// Podman runs the podman CLI with the service's configuration and returns
// its stdout; the error carries stderr.
func (s *Service) Podman(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Env = append(os.Environ(), s.Env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
