package podman

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSH configures how a Runner reaches a service named by an ssh:// URL
// (ssh://user@host[:port]/path/to/podman.sock): an SSH connection to the
// host, and through it a connection to the socket, as `podman --remote`
// does.
type SSH struct {
	// Identity is the private key file to log in with (required).
	Identity string
	// KnownHosts is the known_hosts file the host's key must be in;
	// "" means ~/.ssh/known_hosts. An unknown or changed key is refused.
	KnownHosts string
	// Keepalive is how often a quiet connection is probed; a probe not
	// answered within the same time closes it, so that a dead host is
	// noticed by the runs on it. 0 means 15 s.
	Keepalive time.Duration
}

const (
	defaultKeepalive = 15 * time.Second
	sshDialTimeout   = 15 * time.Second
)

// ErrHostKey marks a host whose key is not the one known_hosts has for it
// (or that is not in it at all): the connection is refused.
var ErrHostKey = errors.New("host key not trusted")

// tunnel reaches a remote unix socket through one SSH connection, made on
// first use and again after it broke. Its keepalive goroutine is owned by
// the connection: it ends when the connection closes, and close closes it.
// Safe for concurrent use.
type tunnel struct {
	addr   string // host:port
	socket string
	config *ssh.ClientConfig
	every  time.Duration
	err    error // set when the options cannot work; every dial fails with it

	mu     sync.Mutex
	conn   *ssh.Client
	closed bool
	// dropped is called when a connection broke (not when close closed it).
	dropped func()
	wg      sync.WaitGroup
}

// newTunnel prepares a tunnel for u; nothing is dialled yet. A key file or
// known_hosts that cannot be read is an error of every dial, not here, so a
// Runner can be built before they exist.
func newTunnel(u *url.URL, o SSH) (*tunnel, error) {
	if u.Path == "" || u.Path == "/" {
		return nil, errors.New("ssh URL without a socket path (ssh://user@host/run/podman/podman.sock)")
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, errors.New("ssh URL without a user (ssh://user@host/...)")
	}
	if _, ok := u.User.Password(); ok {
		return nil, errors.New("ssh URL with a password: use an identity (key) file")
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	t := &tunnel{addr: net.JoinHostPort(u.Hostname(), port), socket: u.Path, every: o.Keepalive}
	if t.every <= 0 {
		t.every = defaultKeepalive
	}
	t.config, t.err = clientConfig(u.User.Username(), o)
	return t, nil
}

// clientConfig reads the key and known_hosts files.
func clientConfig(user string, o SSH) (*ssh.ClientConfig, error) {
	if o.Identity == "" {
		return nil, errors.New("no SSH identity (key file) is configured for this host")
	}
	pem, err := os.ReadFile(o.Identity)
	if err != nil {
		return nil, fmt.Errorf("read SSH identity: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("SSH identity %s: %w (a key with a passphrase cannot be used)", o.Identity, err)
	}
	known := o.KnownHosts
	if known == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("find ~/.ssh/known_hosts: %w", err)
		}
		known = filepath.Join(home, ".ssh", "known_hosts")
	}
	check, err := knownhosts.New(known)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts: %w", err)
	}
	return &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			err := check(host, remote, key)
			var ke *knownhosts.KeyError
			switch {
			case errors.As(err, &ke) && len(ke.Want) == 0:
				return fmt.Errorf("%w: %s is not in %s (add it with: ssh-keyscan -p PORT HOST >> %s, after checking its fingerprint %s)",
					ErrHostKey, host, known, known, ssh.FingerprintSHA256(key))
			case errors.As(err, &ke):
				return fmt.Errorf("%w: the key of %s is not the one %s has (line %d): refusing to connect", ErrHostKey, host, known, ke.Want[0].Line)
			}
			return err
		},
		Timeout: sshDialTimeout,
	}, nil
}

// dial connects to the remote socket, over the current SSH connection or
// a new one.
func (t *tunnel) dial(ctx context.Context) (net.Conn, error) {
	if t.err != nil {
		return nil, t.err
	}
	c, err := t.client(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := c.DialContext(ctx, "unix", t.socket)
	if err != nil {
		// A connection that can no longer open channels is dropped, so the
		// next dial makes a new one.
		t.drop(c)
		return nil, fmt.Errorf("open %s on %s: %w", t.socket, t.addr, err)
	}
	return conn, nil
}

// client returns the SSH connection, making it when there is none.
func (t *tunnel) client(ctx context.Context) (*ssh.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("ssh tunnel closed")
	}
	if t.conn != nil {
		return t.conn, nil
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, sshDialTimeout)
	defer cancel()
	raw, err := d.DialContext(dctx, "tcp", t.addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", t.addr, err)
	}
	stop := context.AfterFunc(dctx, func() { raw.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(raw, t.addr, t.config)
	if !stop() && err == nil {
		sc.Close()
		err = dctx.Err()
	}
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("ssh %s: %w", t.addr, err)
	}
	c := ssh.NewClient(sc, chans, reqs)
	t.conn = c
	t.wg.Add(1)
	go t.keepalive(c)
	return c, nil
}

// keepalive probes c every t.every; a probe without an answer within as
// long closes c, which ends every stream over it. It returns once c is
// closed, by whoever.
func (t *tunnel) keepalive(c *ssh.Client) {
	defer t.wg.Done()
	closed := make(chan struct{})
	go func() { c.Wait(); close(closed) }()
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			t.drop(c)
			return
		case <-tick.C:
		}
		answered := make(chan error, 1)
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		timer := time.NewTimer(t.every)
		select {
		case err := <-answered:
			timer.Stop()
			if err == nil {
				continue
			}
		case <-timer.C:
		case <-closed:
			timer.Stop()
		}
		t.drop(c)
		<-closed
		return
	}
}

// drop closes c and forgets it, if it is still the current connection.
func (t *tunnel) drop(c *ssh.Client) {
	t.mu.Lock()
	current := t.conn == c
	if current {
		t.conn = nil
	}
	f := t.dropped
	if t.closed {
		f = nil
	}
	t.mu.Unlock()
	c.Close()
	if current && f != nil {
		f()
	}
}

// close closes the connection and waits for its keepalive to end; the
// tunnel dials no more.
func (t *tunnel) close() {
	t.mu.Lock()
	t.closed = true
	c := t.conn
	t.conn = nil
	t.mu.Unlock()
	if c != nil {
		c.Close()
	}
	t.wg.Wait()
}
