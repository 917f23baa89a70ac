package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// LocalHost is the name of the one host of a config without
// [sandbox.hosts]: the Podman service at podman_url.
const LocalHost = "local"

// Host is [sandbox.hosts.NAME]: a Podman service runs may be placed on.
type Host struct {
	Name string
	// URL (key `url`, required) is unix:///path, ssh://user@host[:port]/path
	// (the socket on that host), or tcp://host:port on the loopback only
	// (the API has no authentication and this bridge speaks no TLS).
	URL string
	// Identity (key `identity`, required for ssh://) is the SSH private
	// key file; KnownHosts (key `known_hosts`) the known_hosts file its
	// key must be in, "" for ~/.ssh/known_hosts.
	Identity   string
	KnownHosts string
	// MaxRuns (key `max_runs`, 0 = no cap, 0..256) is how many runs it
	// takes at once; Memory (key `memory`, 0 = no cap) how much memory
	// its runs reserve together, each its memory limit.
	MaxRuns int
	Memory  int64
}

// Remote reports whether the host's files are not the bridge's: an ssh://
// URL, or tcp:// to another machine.
func (h Host) Remote() bool {
	return strings.HasPrefix(h.URL, "ssh://")
}

var hostName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// hosts reads [sandbox.hosts]; none configured gives nil.
func (p *parser) hosts(t *table) []Host {
	var out []Host
	for _, name := range t.keys() {
		ht, ok := t.table(name)
		if !ok {
			continue
		}
		if !hostName.MatchString(name) {
			t.problem(name, "host names are 1-32 lowercase letters, digits, - and _")
		}
		h := Host{Name: name}
		if s, ok := ht.str("url"); ok {
			if msg := checkHostURL(s); msg != "" {
				ht.problem("url", "%s", msg)
			} else {
				h.URL = s
			}
		} else if !ht.has("url") {
			ht.problem("url", "required: unix:///run/podman/podman.sock or ssh://user@host/run/podman/podman.sock")
		}
		if s, ok := ht.str("identity"); ok {
			if abs, ok := p.path(ht, "identity", s); ok {
				h.Identity = abs
			}
		}
		if s, ok := ht.str("known_hosts"); ok {
			if abs, ok := p.path(ht, "known_hosts", s); ok {
				h.KnownHosts = abs
			}
		}
		if h.Remote() && h.Identity == "" && !ht.has("identity") {
			ht.problem("identity", "required for an ssh:// host: the private key file to log in with")
		}
		if n, ok := ht.integer("max_runs"); ok {
			if n < 0 || n > 256 {
				ht.problem("max_runs", "must be between 0 (no cap) and 256, not %d", n)
			} else {
				h.MaxRuns = int(n)
			}
		}
		if n, ok := ht.size("memory"); ok {
			if n != 0 && n < minMemory {
				ht.problem("memory", "must be 0 (no cap) or at least %s, not %s", FormatSize(minMemory), FormatSize(n))
			} else {
				h.Memory = n
			}
		}
		ht.done()
		out = append(out, h)
	}
	return out
}

// checkHostURL returns why s is not a usable host URL, or "".
func checkHostURL(s string) string {
	if msg := checkPodmanURL(s); msg != "" {
		return msg
	}
	u, _ := url.Parse(s)
	switch u.Scheme {
	case "ssh":
		if u.User == nil || u.User.Username() == "" {
			return fmt.Sprintf("%q has no user: ssh://user@host/run/podman/podman.sock", s)
		}
		if _, ok := u.User.Password(); ok {
			return fmt.Sprintf("%q has a password: log in with an identity (key) file instead", s)
		}
		if !strings.HasPrefix(u.Path, "/") || u.Path == "/" {
			return fmt.Sprintf("%q names no socket path on the host, as in ssh://user@host/run/podman/podman.sock", s)
		}
	case "tcp":
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Sprintf("%q: tcp:// is only allowed on the loopback (the API has no authentication and this bridge speaks no TLS): use ssh://", s)
		}
	}
	return ""
}

// projectHosts reads a project's `hosts` and `remote_path`.
func (p *parser) projectHosts(t *table, pr *Project) {
	if list, ok := t.stringList("hosts"); ok {
		if len(list) == 0 {
			t.problem("hosts", "must name at least one host (leave it out for all)")
		}
		pr.Hosts = list
	}
	if v, ok := t.get("remote_path"); ok {
		pr.RemotePaths = map[string]string{}
		switch rp := v.(type) {
		case string:
			if abs, ok := p.remotePath(t, "remote_path", rp); ok {
				pr.RemotePaths[""] = abs
			}
		case map[string]any:
			rt, _ := t.table("remote_path")
			for _, host := range rt.keys() {
				if s, ok := rt.str(host); ok {
					if abs, ok := p.remotePath(rt, host, s); ok {
						pr.RemotePaths[host] = abs
					}
				}
			}
		default:
			t.problem("remote_path", "must be a path, or a table of host = path, not %s", typeName(v))
		}
	}
}

// remotePath checks a folder on a remote host: absolute, nothing to
// expand (the bridge's ~ and $HOME are not the host's).
func (p *parser) remotePath(t *table, key, s string) (string, bool) {
	if !filepath.IsAbs(s) {
		t.problem(key, "must be an absolute path on the host, not %q", s)
		return "", false
	}
	return filepath.Clean(s), true
}

// checkHosts validates what projects say of the hosts.
func (p *parser) checkHosts(c *Config) {
	names := make([]string, 0, len(c.Sandbox.Hosts))
	for _, h := range c.Sandbox.Hosts {
		names = append(names, h.Name)
	}
	for _, pr := range c.Projects {
		for _, h := range pr.Hosts {
			if !slices.Contains(names, h) && !(len(names) == 0 && h == LocalHost) {
				p.problem(keyString("projects", pr.Name, "hosts"), "no host named %q: define [sandbox.hosts.%s]", h, h)
			}
		}
		for h := range pr.RemotePaths {
			if h != "" && !slices.Contains(names, h) {
				p.problem(keyString("projects", pr.Name, "remote_path", h), "no host named %q", h)
			}
		}
	}
}

// HostsOf returns the hosts project pr may run on: its `hosts`, else all;
// without [sandbox.hosts], the one LocalHost.
func (c *Config) HostsOf(pr Project) []string {
	if len(c.Sandbox.Hosts) == 0 {
		return []string{LocalHost}
	}
	if pr.Hosts != nil {
		return pr.Hosts
	}
	names := make([]string, len(c.Sandbox.Hosts))
	for i, h := range c.Sandbox.Hosts {
		names[i] = h.Name
	}
	return names
}

// RemotePath is pr's folder on host h: its remote_path for h, else its
// remote_path for all, else its path.
func (pr Project) RemotePath(h string) string {
	if s, ok := pr.RemotePaths[h]; ok {
		return s
	}
	if s, ok := pr.RemotePaths[""]; ok {
		return s
	}
	return pr.Path
}
