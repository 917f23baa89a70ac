package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// markDown takes h out of placement until a check passes again.
func (p *Pool) markDown(h *poolHost, why string) {
	p.mu.Lock()
	was := h.down
	h.down, h.downWhy = true, why
	p.mu.Unlock()
	h.r.lost()
	if !was {
		p.log.Warn("host unreachable: runs go elsewhere until it is back", "host", h.Name, "why", why)
	}
}

// recheck asks the hosts that are down, every p.every, whether they are
// back. Hosts that are up are not polled: a failing call or a broken SSH
// connection takes them down.
func (p *Pool) recheck() {
	defer p.wg.Done()
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
		}
		for _, h := range p.hosts {
			if p.isDown(h) {
				p.check(h)
			}
		}
	}
}

// check verifies a host that was down and takes it back when it passes,
// removing what lost runs left on it.
func (p *Pool) check(h *poolHost) {
	ctx, cancel := context.WithTimeout(p.ctx, sshDialTimeout)
	defer cancel()
	if _, err := h.r.Verify(ctx); err != nil {
		p.log.Debug("host still unusable", "host", h.Name, "err", err)
		return
	}
	p.reapLost(ctx, h)
	p.mu.Lock()
	h.down, h.downWhy = false, ""
	p.broadcastLocked()
	p.mu.Unlock()
	p.log.Info("host is back", "host", h.Name)
}

// reapLost removes the containers of this instance on h that no run of
// this Pool carries on in: the runs that were on it ended when it was
// lost.
func (p *Pool) reapLost(ctx context.Context, h *poolHost) {
	instances := map[string]bool{}
	p.mu.Lock()
	for i := range h.instances {
		instances[i] = true
	}
	for name := range h.live {
		if i := instanceOf(name); i != "" {
			instances[i] = true
		}
	}
	for k, v := range p.placed {
		if name, ok := strings.CutPrefix(k, "run:"); ok && v == h.Name {
			if i := instanceOf(name); i != "" {
				instances[i] = true
			}
		}
	}
	p.mu.Unlock()
	for inst := range instances {
		list, err := h.r.Containers(ctx, inst)
		if err != nil {
			continue
		}
		for _, c := range list {
			name := strings.TrimPrefix(c.Name, "/")
			p.mu.Lock()
			live := h.live[name] && !p.lostLocked(name)
			p.mu.Unlock()
			if live {
				continue
			}
			if err := h.r.RemoveContainer(ctx, c.ID); err == nil || errors.Is(err, sandbox.ErrNotFound) {
				p.log.Info("removed a container of a run lost with its host", "host", h.Name, "container", name)
				p.mu.Lock()
				delete(h.live, name)
				p.mu.Unlock()
				p.forget(runKey(name))
			}
		}
	}
}

// lostLocked reports whether the container's run ended already (its
// placement was forgotten or it is not running here any more).
func (p *Pool) lostLocked(name string) bool {
	_, ok := p.placed[runKey(name)]
	return !ok
}

// instanceOf reads the instance from a container name the orchestrator
// made (untether-<instance>-<run>); "" for another name.
func instanceOf(name string) string {
	rest, ok := strings.CutPrefix(name, "untether-")
	if !ok {
		return ""
	}
	i := strings.LastIndex(rest, "-")
	if i <= 0 {
		return ""
	}
	return rest[:i]
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

// hostOf is the host a container was placed on, nil when unknown.
func (p *Pool) hostOf(name string) *poolHost {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.placed[runKey(name)]; ok {
		return p.byName[n]
	}
	if n, ok := p.ids[name]; ok {
		return p.byName[n]
	}
	return nil
}

// Reattach carries on the run in container name on the host it was placed
// on (see Runner.Reattach). A container whose host is unknown is looked
// for on every host. When its host cannot be reached the run ends with a
// *sandbox.HostLostError.
func (p *Pool) Reattach(ctx context.Context, name string, stdin io.Reader, onLine func([]byte)) (sandbox.Result, error) {
	h := p.hostOf(name)
	if h == nil {
		for _, c := range p.hosts {
			res, err := c.r.Reattach(ctx, name, stdin, onLine)
			if !errors.Is(err, sandbox.ErrNotFound) {
				return res, err
			}
		}
		return sandbox.Result{}, fmt.Errorf("reattach %s: %w", name, sandbox.ErrNotFound)
	}
	// Its memory is not reserved again: the record does not say it, and
	// the run holds the host's room only until it ends.
	p.mu.Lock()
	h.runs++
	h.live[name] = true
	if i := instanceOf(name); i != "" {
		h.instances[i] = true
	}
	p.mu.Unlock()
	res, err := h.r.Reattach(ctx, name, stdin, onLine)
	p.mu.Lock()
	h.runs--
	p.broadcastLocked()
	p.mu.Unlock()
	if errors.Is(err, sandbox.ErrUnavailable) {
		p.markDown(h, err.Error())
		return res, &sandbox.HostLostError{Host: h.Name, Err: err}
	}
	return res, err
}

// RemoveContainer removes a container (by name, or by an id Containers
// listed) from its host (see Runner.RemoveContainer). One whose host is
// unknown is removed from whichever host has it.
func (p *Pool) RemoveContainer(ctx context.Context, id string) error {
	h := p.hostOf(id)
	if h == nil {
		for _, c := range p.hosts {
			if err := c.r.RemoveContainer(ctx, id); !errors.Is(err, sandbox.ErrNotFound) {
				return err
			}
		}
		return fmt.Errorf("remove container %s: %w", id, sandbox.ErrNotFound)
	}
	err := h.r.RemoveContainer(ctx, id)
	if errors.Is(err, sandbox.ErrUnavailable) {
		// Left for when the host is back (reapLost).
		p.markDown(h, err.Error())
	}
	p.mu.Lock()
	delete(h.live, id)
	p.mu.Unlock()
	p.forget(runKey(id))
	return err
}

// Containers lists the instance's containers on every host that answers,
// each with its Host; a host that does not is logged and left out.
func (p *Pool) Containers(ctx context.Context, instance string) ([]sandbox.Container, error) {
	var all []sandbox.Container
	var errs []error
	for _, h := range p.hosts {
		if p.isDown(h) {
			continue
		}
		list, err := h.r.Containers(ctx, instance)
		if err != nil {
			if errors.Is(err, sandbox.ErrUnavailable) {
				p.markDown(h, err.Error())
			}
			p.log.Warn("list containers", "host", h.Name, "err", err)
			errs = append(errs, fmt.Errorf("host %s: %w", h.Name, err))
			continue
		}
		p.mu.Lock()
		for i := range list {
			list[i].Host = h.Name
			p.ids[list[i].ID] = h.Name
		}
		p.mu.Unlock()
		all = append(all, list...)
	}
	if len(errs) == len(p.hosts) {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(all, func(a, b sandbox.Container) int { return a.Created.Compare(b.Created) })
	return all, nil
}

// HostState is what a Pool knows of one host now.
type HostState struct {
	Name     string
	URL      string
	Down     bool
	Why      string // why it is down
	Runs     int
	MaxRuns  int
	Reserved int64
	Memory   int64
}

// States reports every host, in order.
func (p *Pool) States() []HostState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]HostState, len(p.hosts))
	for i, h := range p.hosts {
		out[i] = HostState{Name: h.Name, URL: h.URL, Down: h.down, Why: h.downWhy, Runs: h.runs,
			MaxRuns: h.MaxRuns, Reserved: h.reserved, Memory: h.Memory}
	}
	return out
}

// Verify checks every host as Runner.Verify does, in order; errs has an
// entry per host (nil when it passed). A host that is unreachable is
// marked down; one that cannot enforce limits stays in, and its runs are
// refused by its Runner.
func (p *Pool) Verify(ctx context.Context) (hosts []sandbox.Host, errs []error) {
	for _, h := range p.hosts {
		host, err := h.r.Verify(ctx)
		if errors.Is(err, sandbox.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			p.markDown(h, err.Error())
		}
		hosts, errs = append(hosts, host), append(errs, err)
	}
	return hosts, errs
}
