package podman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// HostOptions configure one host of a Pool.
type HostOptions struct {
	// Name is how config, logs and users name the host.
	Name string
	// URL and SSH reach its Podman service (see Options).
	URL string
	SSH SSH
	// MaxRuns is how many runs it takes at once; 0 means no cap.
	MaxRuns int
	// Memory is how much memory its runs may reserve together (each its
	// memory limit); 0 means no cap.
	Memory int64
	// Paths maps a folder on the bridge's machine to where the same
	// folder is on this host (a project's remote_path): a mount from under
	// a key is made from under its value. Nil for a host that shares the
	// bridge's files.
	Paths map[string]string
}

// PlacementStore keeps where runs and conversations were placed, so that
// a restarted bridge reattaches each run on its host and a resumed session
// goes back to its host. Safe for concurrent use; Put and Delete are
// durable when they return.
type PlacementStore interface {
	Put(key, host string) error
	Delete(key string) error
	All() map[string]string
}

// PoolOptions configure a Pool.
type PoolOptions struct {
	Hosts []HostOptions
	// Store is optional: without it placements last as long as the Pool.
	Store  PlacementStore
	Logger *slog.Logger
	// Recheck is how often a host that is down is asked whether it is
	// back; 0 means 10 s.
	Recheck time.Duration
}

// Pool runs Specs on several Podman hosts: it places each run on a host
// with room and carries it out there with that host's Runner. A host that
// cannot be reached is skipped until it answers again; a run on a host
// that drops ends with a *sandbox.HostLostError. It implements what a
// single Runner does for the orchestrator (Run, Reattach, Detach,
// RemoveContainer, Containers). Build it with NewPool; Close stops it.
// Safe for concurrent use.
type Pool struct {
	hosts  []*poolHost
	byName map[string]*poolHost
	store  PlacementStore
	log    *slog.Logger
	every  time.Duration

	mu sync.Mutex
	// changed is closed, and replaced, whenever a host may have room it
	// had not: a run ended, a host came back.
	changed chan struct{}
	// placed maps runKey(container) and sessionKey(conversation) to a
	// host name, as the store has them.
	placed map[string]string
	// ids maps container ids seen by Containers to their host.
	ids map[string]string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// poolHost is one host of a Pool; its counters are guarded by Pool.mu.
type poolHost struct {
	HostOptions
	r *Runner

	runs     int
	reserved int64
	down     bool   // a call failed for want of the host, and no check passed since
	downWhy  string // why, for logs and users
	// live are the containers on this host that runs of this Pool carry
	// on in, or whose removal is still due.
	live map[string]bool
	// instances are the instances whose runs were placed here: what a
	// lost host holds of them is removed when it is back.
	instances map[string]bool
}

func runKey(name string) string        { return "run:" + name }
func sessionKey(session string) string { return "session:" + session }

// NewPool returns a Pool of the hosts in opts, in that order (ties of
// placement go to the first). Nothing is dialled yet.
func NewPool(opts PoolOptions) (*Pool, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(opts.Hosts) == 0 {
		return nil, errors.New("a pool needs at least one host")
	}
	p := &Pool{byName: map[string]*poolHost{}, store: opts.Store, log: log, every: opts.Recheck,
		changed: make(chan struct{}), placed: map[string]string{}, ids: map[string]string{}}
	if p.every <= 0 {
		p.every = 10 * time.Second
	}
	for _, o := range opts.Hosts {
		if _, dup := p.byName[o.Name]; dup || o.Name == "" {
			return nil, fmt.Errorf("host name %q is empty or used twice", o.Name)
		}
		h := &poolHost{HostOptions: o, live: map[string]bool{}, instances: map[string]bool{}}
		h.r = New(Options{URL: o.URL, SSH: o.SSH, Logger: log.With("host", o.Name)})
		h.r.api.onDrop(func() { p.markDown(h, "its connection broke") })
		p.hosts = append(p.hosts, h)
		p.byName[o.Name] = h
	}
	if p.store != nil {
		for k, v := range p.store.All() {
			if _, ok := p.byName[v]; ok {
				p.placed[k] = v
			}
		}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.recheck()
	return p, nil
}

// Close stops the Pool's checks and closes its connections. Runs in
// flight end with errors; call Detach first to leave them running.
func (p *Pool) Close() {
	p.cancel()
	p.wg.Wait()
	for _, h := range p.hosts {
		h.r.Close()
	}
}

// Detach makes every run in flight, on every host, return
// sandbox.ErrDetached and leave its container running (see Runner.Detach).
func (p *Pool) Detach() {
	for _, h := range p.hosts {
		h.r.Detach()
	}
}

// Runner returns the Runner of the named host, nil when there is none.
func (p *Pool) Runner(host string) *Runner {
	if h, ok := p.byName[host]; ok {
		return h.r
	}
	return nil
}

// Names returns the hosts' names in their order.
func (p *Pool) Names() []string {
	names := make([]string, len(p.hosts))
	for i, h := range p.hosts {
		names[i] = h.Name
	}
	return names
}

// Run places spec on a host and runs it there as Runner.Run does. When no
// host it may go to has room, it waits (calling spec.Placement.Waiting)
// until one has, or ctx ends. A host found unreachable before the run's
// container was made is skipped; one lost while the run is on it ends the
// run with a *sandbox.HostLostError.
func (p *Pool) Run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error) {
	for {
		h, err := p.place(ctx, spec)
		if err != nil && p.hosts[0].r.isDetached() {
			// Nothing was made: the next bridge starts the run anew.
			return sandbox.Result{}, fmt.Errorf("%w: %w", sandbox.ErrDetached, err)
		}
		if err != nil {
			return sandbox.Result{}, err
		}
		// The host was checked lately, or is checked now: a host that
		// went away since is skipped before anything is made on it.
		if _, err := h.r.verifiedHost(ctx); errors.Is(err, sandbox.ErrUnavailable) {
			p.release(h, spec, false)
			p.markDown(h, err.Error())
			continue
		}
		if f := spec.Placement.Placed; f != nil {
			f(h.Name)
		}
		res, err := h.r.Run(ctx, p.localize(h, spec), onLine)
		p.release(h, spec, spec.Keep || errors.Is(err, sandbox.ErrDetached))
		if errors.Is(err, sandbox.ErrUnavailable) {
			p.markDown(h, err.Error())
			return res, &sandbox.HostLostError{Host: h.Name, Err: err}
		}
		return res, err
	}
}

// place picks spec's host and reserves room there, waiting when none has.
func (p *Pool) place(ctx context.Context, spec sandbox.Spec) (*poolHost, error) {
	home := p.home(ctx, spec)
	waited := false
	for {
		p.mu.Lock()
		h, why := p.pickLocked(spec, home)
		if h != nil {
			h.runs++
			h.reserved += spec.Limits.MemoryBytes
			h.live[spec.Name] = true
			if i := spec.Labels[sandbox.LabelInstance]; i != "" {
				h.instances[i] = true
			}
			p.mu.Unlock()
			p.remember(runKey(spec.Name), h.Name)
			if s := spec.Placement.Session; s != "" {
				p.remember(sessionKey(s), h.Name)
			}
			return h, nil
		}
		changed := p.changed
		p.mu.Unlock()
		if !waited {
			waited = true
			p.log.Info("run waiting for a host", "container", spec.Name, "why", why)
			if f := spec.Placement.Waiting; f != nil {
				f(why)
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("place %s: %w", spec.Name, ctx.Err())
		}
	}
}

// home is the host a resumed conversation goes back to, "" for any.
func (p *Pool) home(ctx context.Context, spec sandbox.Spec) string {
	pl := spec.Placement
	if !pl.Resumes {
		return ""
	}
	if pl.Session != "" {
		p.mu.Lock()
		h := p.placed[sessionKey(pl.Session)]
		p.mu.Unlock()
		if h != "" && p.allowed(spec, h) {
			return h
		}
	}
	// Not placed by this bridge: the host that holds the engine's home
	// volume has the session, when only one does.
	if len(spec.Volumes) == 0 {
		return ""
	}
	var holders []string
	for _, h := range p.hosts {
		if !p.allowed(spec, h.Name) || p.isDown(h) {
			continue
		}
		ok, err := h.r.api.exists(ctx, endpoint("/volumes/%s/exists", spec.Volumes[0].Name))
		if err == nil && ok {
			holders = append(holders, h.Name)
		}
	}
	if len(holders) == 1 {
		return holders[0]
	}
	return ""
}

func (p *Pool) allowed(spec sandbox.Spec, host string) bool {
	return spec.Placement.Hosts == nil || slices.Contains(spec.Placement.Hosts, host)
}

func (p *Pool) isDown(h *poolHost) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return h.down
}

// pickLocked is the host with room for spec: fewest runs, then most memory
// not reserved, then the first configured. Without one, why says what
// the run waits for.
func (p *Pool) pickLocked(spec sandbox.Spec, home string) (*poolHost, string) {
	var best *poolHost
	var down, full []string
	for _, h := range p.hosts {
		if !p.allowed(spec, h.Name) || (home != "" && h.Name != home) {
			continue
		}
		switch {
		case h.down:
			down = append(down, h.Name)
			continue
		case !h.hasRoom(spec.Limits.MemoryBytes):
			full = append(full, h.Name)
			continue
		}
		if best == nil || h.runs < best.runs || (h.runs == best.runs && h.free() > best.free()) {
			best = h
		}
	}
	if best != nil {
		return best, ""
	}
	switch {
	case home != "" && len(down) > 0:
		return nil, fmt.Sprintf("waiting for host %s, which holds this session and is unreachable", home)
	case home != "":
		return nil, fmt.Sprintf("waiting for host %s, which holds this session and is full", home)
	case len(full) == 0 && len(down) == 0:
		return nil, "waiting for a host: none is configured for this project"
	}
	return nil, "waiting for a host" + hostsNote(full, "full") + hostsNote(down, "unreachable")
}

func hostsNote(names []string, what string) string {
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s %s)", strings.Join(names, ", "), what)
}

// hasRoom reports whether the host takes one more run of memory bytes.
func (h *poolHost) hasRoom(memory int64) bool {
	if h.MaxRuns > 0 && h.runs >= h.MaxRuns {
		return false
	}
	return h.Memory <= 0 || h.reserved+memory <= h.Memory
}

// free is the memory not reserved; a host without a cap has the most.
func (h *poolHost) free() int64 {
	if h.Memory <= 0 {
		return math.MaxInt64
	}
	return h.Memory - h.reserved
}

// release gives back what place reserved for spec on h; keep leaves the
// container known as h's until RemoveContainer.
func (p *Pool) release(h *poolHost, spec sandbox.Spec, keep bool) {
	p.mu.Lock()
	h.runs--
	h.reserved -= spec.Limits.MemoryBytes
	if !keep {
		delete(h.live, spec.Name)
	}
	p.broadcastLocked()
	p.mu.Unlock()
	if !keep {
		p.forget(runKey(spec.Name))
	}
}

func (p *Pool) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// localize returns spec as host h sees it: mounts from the bridge's
// folders made from the host's (HostOptions.Paths).
func (p *Pool) localize(h *poolHost, spec sandbox.Spec) sandbox.Spec {
	if len(h.Paths) == 0 {
		return spec
	}
	mounts := make([]sandbox.Mount, len(spec.Mounts))
	for i, m := range spec.Mounts {
		m.Source = remap(m.Source, h.Paths)
		mounts[i] = m
	}
	spec.Mounts = mounts
	return spec
}

// remap moves path from under the longest matching key of paths to under
// its value; a path under none is kept.
func remap(path string, paths map[string]string) string {
	best := ""
	for from := range paths {
		if (path == from || strings.HasPrefix(path, strings.TrimSuffix(from, "/")+"/")) && len(from) > len(best) {
			best = from
		}
	}
	if best == "" {
		return path
	}
	rel, err := filepath.Rel(best, path)
	if err != nil {
		return path
	}
	return filepath.Join(paths[best], rel)
}

func (p *Pool) remember(key, host string) {
	p.mu.Lock()
	same := p.placed[key] == host
	p.placed[key] = host
	p.mu.Unlock()
	if p.store != nil && !same {
		if err := p.store.Put(key, host); err != nil {
			p.log.Error("save placement", "key", key, "host", host, "err", err)
		}
	}
}

func (p *Pool) forget(key string) {
	p.mu.Lock()
	_, had := p.placed[key]
	delete(p.placed, key)
	p.mu.Unlock()
	if p.store != nil && had {
		if err := p.store.Delete(key); err != nil {
			p.log.Error("delete placement", "key", key, "err", err)
		}
	}
}
