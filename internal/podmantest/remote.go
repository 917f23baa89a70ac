package podmantest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Remote is a second Podman host on this machine, reachable only over
// SSH: a network namespace with its own address, an sshd in it, and a
// Podman service (started in the namespace) with its own storage, locks
// and state, whose socket is reached through that sshd. It needs root,
// iproute2 and openssh-server.
type Remote struct {
	// Service is the host's Podman service; its Podman method runs the
	// CLI on the host's storage. Its URL is the local socket, for the
	// harness only: the bridge gets URL.
	Service *Service
	// URL is the service as the bridge reaches it:
	// ssh://root@ADDR:PORT/path/to/podman.sock.
	URL string
	// Identity is the client's private key; KnownHosts holds the host's
	// key (and nothing else).
	Identity   string
	KnownHosts string
	// Addr is the host's address in its namespace.
	Addr string

	dir      string
	hostAddr string // the bridge's end of the link
	netns    string
	veth     string
	sshd     *exec.Cmd
	sshOut   bytes.Buffer
}

// remoteStorageConf gives the host its own image and container store.
const remoteStorageConf = `[storage]
driver = "overlay"
graphroot = "%s/root"
runroot = "%s/runroot"
`

// remoteContainersConf is containersConf with the host's own libpod state
// and file locks: two services on one machine must not share the shm
// locks or the state under /run/libpod.
const remoteContainersConf = containersConf + `tmp_dir = "%s/tmp"
lock_type = "file"
volume_path = "%s/volumes"
`

// StartRemote makes the host: namespace and link, keys, sshd, Podman
// service. Stop removes all of it.
func StartRemote(ctx context.Context) (*Remote, error) {
	for _, bin := range []string{"ip", "sshd", "ssh-keygen", "podman"} {
		if _, err := exec.LookPath(bin); err != nil && !(bin == "sshd" && exists("/usr/sbin/sshd")) {
			return nil, fmt.Errorf("%s is not installed: run `make test` as root (.ci/setup-host installs openssh-server, iproute2 and podman)", bin)
		}
	}
	dir, err := os.MkdirTemp("", "untether-host-")
	if err != nil {
		return nil, err
	}
	// A /30 per process: test binaries running side by side get their own.
	n := os.Getpid() % 16000
	r := &Remote{
		dir:      dir,
		netns:    fmt.Sprintf("utt%d", os.Getpid()),
		veth:     fmt.Sprintf("utv%d", os.Getpid()),
		Addr:     fmt.Sprintf("10.%d.%d.%d", 200+n/4000, (n%4000)/16, (n%16)*16+2),
		hostAddr: fmt.Sprintf("10.%d.%d.%d", 200+n/4000, (n%4000)/16, (n%16)*16+1),
	}
	if err := r.start(ctx); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func (r *Remote) start(ctx context.Context) error {
	peer := r.veth + "p"
	steps := [][]string{
		{"ip", "netns", "add", r.netns},
		{"ip", "link", "add", r.veth, "type", "veth", "peer", "name", peer},
		{"ip", "link", "set", peer, "netns", r.netns},
		{"ip", "addr", "add", r.hostAddr + "/28", "dev", r.veth},
		{"ip", "link", "set", r.veth, "up"},
		{"ip", "netns", "exec", r.netns, "ip", "addr", "add", r.Addr + "/28", "dev", peer},
		{"ip", "netns", "exec", r.netns, "ip", "link", "set", peer, "up"},
		{"ip", "netns", "exec", r.netns, "ip", "link", "set", "lo", "up"},
		{"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", r.path("host_key")},
		{"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", r.path("id")},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	r.Identity = r.path("id")
	pub, err := os.ReadFile(r.path("id.pub"))
	if err != nil {
		return err
	}
	hostPub, err := os.ReadFile(r.path("host_key.pub"))
	if err != nil {
		return err
	}
	const port = 2222
	r.KnownHosts = r.path("known_hosts")
	writes := map[string]string{
		"authorized_keys": string(pub),
		"known_hosts":     fmt.Sprintf("[%s]:%d %s", r.Addr, port, hostPub),
		"sshd_config": fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
ClientAliveInterval 0
`, port, r.Addr, r.path("host_key"), r.path("sshd.pid"), r.path("authorized_keys")),
		"storage.conf":    fmt.Sprintf(remoteStorageConf, r.dir, r.dir),
		"containers.conf": fmt.Sprintf(remoteContainersConf, r.dir, r.dir),
	}
	for name, data := range writes {
		if err := os.WriteFile(r.path(name), []byte(data), 0o600); err != nil {
			return err
		}
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	svc := &Service{
		dir:  r.path("podman"),
		Env:  []string{"CONTAINERS_CONF=" + r.path("containers.conf"), "CONTAINERS_STORAGE_CONF=" + r.path("storage.conf")},
		wrap: []string{"nsenter", "--net=/run/netns/" + r.netns},
	}
	if err := os.MkdirAll(svc.dir, 0o700); err != nil {
		return err
	}
	svc.URL = "unix://" + svc.Socket()
	if err := svc.launch(ctx); err != nil {
		return err
	}
	r.Service = svc
	r.URL = fmt.Sprintf("ssh://root@%s:%d%s", r.Addr, port, svc.Socket())
	return r.Up(ctx)
}

func (r *Remote) path(name string) string { return filepath.Join(r.dir, name) }

// Up starts the host's sshd (again, after Down) and waits until it
// listens.
func (r *Remote) Up(ctx context.Context) error {
	r.sshOut.Reset()
	r.sshd = exec.Command("ip", "netns", "exec", r.netns, "/usr/sbin/sshd", "-D", "-e", "-f", r.path("sshd_config"))
	r.sshd.Stdout, r.sshd.Stderr = &r.sshOut, &r.sshOut
	if err := r.sshd.Start(); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(r.Addr, "2222"), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("sshd did not come up: %w\n%s", err, r.sshOut.String())
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Down stops the host's sshd and every session it serves, as a host that
// goes away would: the bridge's SSH connections break.
func (r *Remote) Down() {
	if r.sshd == nil || r.sshd.Process == nil {
		return
	}
	for _, pid := range descendants(r.sshd.Process.Pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	r.sshd.Process.Kill()
	r.sshd.Wait()
	r.sshd = nil
}

// Unplug takes the host's link down, as a pulled cable would: nothing
// answers and nothing is closed; Plug puts it back.
func (r *Remote) Unplug() error { return run("ip", "link", "set", r.veth, "down") }

// Plug puts the link back after Unplug.
func (r *Remote) Plug() error { return run("ip", "link", "set", r.veth, "up") }

func run(argv ...string) error {
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out)
	}
	return nil
}

// SSHLog is what sshd wrote, for failing tests.
func (r *Remote) SSHLog() string { return r.sshOut.String() }

// Stop ends sshd and the service and removes the namespace, the link and
// the host's directory (its storage included).
func (r *Remote) Stop() {
	r.Down()
	if r.Service != nil {
		r.Service.halt()
		// Containers the tests left: the storage goes with the directory.
		r.Service.Podman(context.Background(), "rm", "-af", "-t", "0")
		exec.Command("umount", "-R", r.path("root/overlay")).Run()
	}
	exec.Command("ip", "link", "del", r.veth).Run()
	exec.Command("ip", "netns", "del", r.netns).Run()
	exec.Command("umount", "-R", r.path("root")).Run()
	os.RemoveAll(r.dir)
}

// descendants are the processes under pid, deepest last.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(data[bytes.LastIndexByte(data, ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// LoadImage copies an image from the local service's storage into the
// host's.
func (r *Remote) LoadImage(ctx context.Context, local *Service, ref string) error {
	tar := r.path("image.tar")
	defer os.Remove(tar)
	if _, err := local.Podman(ctx, "save", "-o", tar, ref); err != nil {
		return err
	}
	if _, err := r.Service.Podman(ctx, "load", "-i", tar); err != nil {
		return err
	}
	return nil
}
