package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Defaults and bounds of [sandbox].
const (
	defaultMemory    = 2 << 30
	minMemory        = 16 << 20
	defaultPids      = 512
	minPids          = 16
	defaultCPUs      = 2
	defaultTimeout   = 30 * time.Minute
	defaultStopGrace = 10 * time.Second
	maxStopGrace     = 5 * time.Minute

	defaultMaxConcurrentRuns = 4
	maxConcurrentRuns        = 64
)

// DefaultPodmanURL is the socket of the Podman service that uid would use:
// the system socket for root, else the user's socket under XDG_RUNTIME_DIR
// (or /run/user/<uid> when getenv has no XDG_RUNTIME_DIR).
func DefaultPodmanURL(uid int, getenv func(string) string) string {
	if uid == 0 {
		return "unix:///run/podman/podman.sock"
	}
	dir := getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = "/run/user/" + strconv.Itoa(uid)
	}
	return "unix://" + strings.TrimSuffix(dir, "/") + "/podman/podman.sock"
}

// overrides are the limit keys set in one table ([sandbox] or
// [projects.NAME.sandbox]); nil means not set.
type overrides struct {
	memory, swap, pids *int64
	cpus               *float64
	timeout            *time.Duration
	network            *string
	images             map[string]string
}

// overrides reads and checks the keys [sandbox] shares with
// [projects.NAME.sandbox]. Whether swap covers memory is checked later, on
// the effective values.
func (p *parser) overrides(t *table) overrides {
	var o overrides
	if n, ok := t.size("memory"); ok {
		if n < minMemory {
			t.problem("memory", "must be at least %s, not %s", FormatSize(minMemory), FormatSize(n))
		} else {
			o.memory = &n
		}
	}
	if n, ok := t.size("swap"); ok {
		o.swap = &n
	}
	if n, ok := t.integer("pids"); ok {
		if n < minPids {
			t.problem("pids", "must be at least %d, not %d", minPids, n)
		} else {
			o.pids = &n
		}
	}
	if f, ok := t.number("cpus"); ok {
		if f <= 0 {
			t.problem("cpus", "must be more than 0, not %v", f)
		} else {
			o.cpus = &f
		}
	}
	if d, ok := t.duration("timeout"); ok {
		if d < time.Second {
			t.problem("timeout", "must be at least 1s, not %s", d)
		} else {
			o.timeout = &d
		}
	}
	if s, ok := t.str("network"); ok {
		if s == NetworkDefault || s == NetworkNone || s == NetworkHost {
			o.network = &s
		} else {
			t.problem("network", `must be "default", "none" or "host", not %q`, s)
		}
	}
	if it, ok := t.table("images"); ok {
		o.images = p.images(it)
	}
	return o
}

func (p *parser) images(t *table) map[string]string {
	m := map[string]string{}
	for _, engine := range t.keys() {
		if !isEngine(engine) {
			t.problem(engine, "unknown engine: use one of %s", strings.Join(engineNames[:], ", "))
			continue
		}
		ref, ok := t.str(engine)
		if !ok {
			continue
		}
		if ref == "" || strings.ContainsFunc(ref, unicode.IsSpace) {
			t.problem(engine, "%q is not an image reference", ref)
			continue
		}
		m[engine] = ref
	}
	return m
}

func (p *parser) sandbox(t *table) (Sandbox, overrides) {
	sb := Sandbox{
		Backend:           BackendPodman,
		PodmanURL:         p.podmanURL,
		Network:           NetworkDefault,
		StopGrace:         defaultStopGrace,
		MaxConcurrentRuns: defaultMaxConcurrentRuns,
		Footer:            true,
		StallAfter:        defaultStallAfter,
	}
	if s, ok := t.str("backend"); ok {
		if s == BackendPodman || s == BackendProcess {
			sb.Backend = s
		} else {
			t.problem("backend", `must be "podman" or "process" (unsandboxed), not %q`, s)
		}
	}
	if s, ok := t.str("podman_url"); ok {
		if msg := checkPodmanURL(s); msg != "" {
			t.problem("podman_url", "%s", msg)
		} else {
			sb.PodmanURL = s
		}
	}
	if d, ok := t.duration("stop_grace"); ok {
		if d < 0 || d > maxStopGrace {
			t.problem("stop_grace", "must be between 0s and %s, not %s", maxStopGrace, d)
		} else {
			sb.StopGrace = d
		}
	}
	if n, ok := t.integer("max_concurrent_runs"); ok {
		if n < 1 || n > maxConcurrentRuns {
			t.problem("max_concurrent_runs", "must be between 1 and %d, not %d", maxConcurrentRuns, n)
		} else {
			sb.MaxConcurrentRuns = int(n)
		}
	}
	if ht, ok := t.table("hosts"); ok {
		sb.Hosts = p.hosts(ht)
	}
	sandboxExtras(t, &sb)
	global := p.overrides(t)
	t.done()

	sb.Limits = Limits{
		MemoryBytes: deref(global.memory, defaultMemory),
		Pids:        deref(global.pids, defaultPids),
		CPUs:        deref(global.cpus, defaultCPUs),
		Timeout:     deref(global.timeout, defaultTimeout),
	}
	sb.Limits.SwapBytes = deref(global.swap, sb.Limits.MemoryBytes)
	memoryValid := global.memory != nil || !t.has("memory") // else reported; don't compare with the default
	if global.swap != nil && memoryValid && *global.swap < sb.Limits.MemoryBytes {
		t.problem("swap", "is memory+swap and must be at least memory (%s), not %s", FormatSize(sb.Limits.MemoryBytes), FormatSize(*global.swap))
	}
	sb.Network = deref(global.network, NetworkDefault)
	sb.Images = mergeImages(defaultImages(), global.images)
	return sb, global
}

// effective applies a project's overrides to the global sandbox. A swap set
// in [sandbox] carries over to the project; when neither sets it, swap
// equals the project's memory (no swap).
func (p *parser) effective(t *table, sb Sandbox, global, own overrides) (Limits, string, map[string]string) {
	l := sb.Limits
	l.MemoryBytes = deref(own.memory, l.MemoryBytes)
	l.Pids = deref(own.pids, l.Pids)
	l.CPUs = deref(own.cpus, l.CPUs)
	l.Timeout = deref(own.timeout, l.Timeout)
	switch {
	case own.swap != nil:
		l.SwapBytes = *own.swap
		if l.SwapBytes < l.MemoryBytes && (own.memory != nil || !t.has("memory")) {
			t.problem("swap", "is memory+swap and must be at least memory (%s), not %s", FormatSize(l.MemoryBytes), FormatSize(l.SwapBytes))
		}
	case global.swap != nil:
		l.SwapBytes = *global.swap
		if own.memory != nil && l.SwapBytes < l.MemoryBytes {
			t.problem("memory", "%s is more than the swap (memory+swap) of %s set in [sandbox]: set %s as well",
				FormatSize(l.MemoryBytes), FormatSize(l.SwapBytes), t.key("swap"))
		}
	default:
		l.SwapBytes = l.MemoryBytes
	}
	return l, deref(own.network, sb.Network), mergeImages(sb.Images, own.images)
}

func deref[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}

// checkPodmanURL returns why s is not a usable Podman service URL, or "".
func checkPodmanURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", s)
	}
	switch u.Scheme {
	case "unix":
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			return fmt.Sprintf("%q must name an absolute socket path, as in unix:///run/podman/podman.sock", s)
		}
	case "tcp", "ssh":
		if u.Host == "" {
			return fmt.Sprintf("%q has no host", s)
		}
	default:
		return fmt.Sprintf("%q must start with unix://, tcp:// or ssh://", s)
	}
	return ""
}
