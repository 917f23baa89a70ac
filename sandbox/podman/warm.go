package podman

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// Warm start (Options.Warm): making a container is most of what a message
// waits for before its engine's first event. The pool keeps, for each
// kind of container runs use, one started ahead: everything of a run's
// container that no session decides (image, limits, mounts, volumes,
// network, the instance's, project's and engine's labels) with the
// launcher (launch.go) as its command, blocked on reading its stdin: it
// uses no CPU and holds nothing of a session. A run whose spec matches
// claims it: the container is renamed to the run's name and given the
// run's argv, environment and stdin through the launcher; a new one is
// made for the next run. A claimed container lacks the labels of its run
// (untether.run, untether.chat, untether.topic), which Podman cannot add
// to an existing container: its name says its run.

// labelPool marks a container made by the pool; its value is the pool key
// (a hash of the parts it was made with). A claimed container keeps it.
const labelPool = "untether.pool"

// warmPrefix starts the name of every pool container not claimed yet.
const warmPrefix = "untether-warm-"

// warmMaxAge bounds how long a pool container waits for a run; an older
// one is replaced instead of claimed. A claimed container's timeout label
// carries this much on top of the run's timeout: a reattaching bridge
// counts the deadline from the container's start, which was earlier than
// the run's by at most this much.
const warmMaxAge = time.Hour

// refillDelay lets the run that emptied a pool start before its
// replacement is made beside it.
const refillDelay = 500 * time.Millisecond

// warmContainer is a started pool container waiting for a run.
type warmContainer struct {
	id, name string
	key      string
	group    string // instance, project, engine and mode: one key per group
	made     time.Time
}

// pool keeps the warm containers of a Runner. Its fills run in goroutines
// it owns (wg); close stops them and removes what it holds.
type pool struct {
	r      *Runner
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	ready   map[string]*warmContainer // by key
	filling map[string]bool           // keys being made
	broken  map[string]string         // keys whose containers do not start, and why
	swept   map[string]bool           // instances whose leftovers were removed
	mine    map[string]bool           // names of the containers this pool made
	closed  bool
}

func newPool(r *Runner) *pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &pool{r: r, ctx: ctx, cancel: cancel, ready: map[string]*warmContainer{},
		filling: map[string]bool{}, broken: map[string]string{}, swept: map[string]bool{}, mine: map[string]bool{}}
}

// warmSpec is the container spec of a pool container for runs of spec,
// with its key and group. The session's parts (argv, environment, stdin,
// the run's labels) are left out; whether it gets a live stdin is a mode
// of its group.
func warmSpec(spec sandbox.Spec, rootless bool) (g *containerSpec, key, group string) {
	t := spec
	t.Name, t.Argv, t.Env, t.Stdin, t.LiveStdin = "", launchArgv, nil, nil, false
	t.Labels = maps.Clone(spec.Labels)
	for _, k := range []string{sandbox.LabelRun, sandbox.LabelChat, sandbox.LabelTopic} {
		delete(t.Labels, k)
	}
	g = containerSpecFor(t, rootless)
	g.Stdin = ptr(true)
	if spec.LiveStdin {
		g.Labels[labelStdin] = stdinLive
	}
	if spec.Limits.Timeout > 0 {
		g.Labels[labelTimeout] = (spec.Limits.Timeout + warmMaxAge).String()
	}
	data, _ := json.Marshal(g) // plain data: cannot fail
	sum := sha256.Sum256(data)
	key = hex.EncodeToString(sum[:8])
	group = strings.Join([]string{t.Labels[sandbox.LabelInstance], t.Labels[sandbox.LabelProject],
		t.Labels[sandbox.LabelEngine], g.Labels[labelStdin]}, "\x00")
	g.Labels[labelPool] = key
	return g, key, group
}

// take returns the pool container for key, if one is ready, and forgets
// it: the caller claims it or removes it.
func (p *pool) take(key string) (*warmContainer, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.ready[key]
	if ok {
		delete(p.ready, key)
		delete(p.mine, c.name) // claimed or removed: no longer a warm one
	}
	return c, ok
}

// fill makes a pool container for spec unless one is ready or being made
// for its key, after delay. It never blocks.
func (p *pool) fill(spec sandbox.Spec, rootless bool, delay time.Duration) {
	g, key, group := warmSpec(spec, rootless)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.r.isDetached() || p.ready[key] != nil || p.filling[key] || p.broken[key] != "" {
		return
	}
	p.filling[key] = true
	instance := spec.Labels[sandbox.LabelInstance]
	sweep := !p.swept[instance]
	p.swept[instance] = true
	p.wg.Go(func() {
		defer func() {
			p.mu.Lock()
			delete(p.filling, key)
			p.mu.Unlock()
		}()
		if sweep {
			p.sweep(instance)
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-p.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		p.make(spec, g, key, group)
	})
}

// make creates and starts one pool container and adds it to the ready
// ones, replacing (removing) a ready one of its group with another key:
// what the config no longer makes.
func (p *pool) make(spec sandbox.Spec, g *containerSpec, key, group string) {
	log := p.r.log.With("pool", key)
	ctx, cancel := context.WithTimeout(p.ctx, cleanupTimeout)
	defer cancel()
	if err := p.r.prepare(ctx, spec); err != nil {
		log.Debug("warm container not made", "err", err)
		return
	}
	g.Name = warmPrefix + key + "-" + randomSuffix()
	p.mu.Lock()
	p.mine[g.Name] = true
	p.mu.Unlock()
	id, err := p.r.createContainer(ctx, g)
	if err != nil {
		if ctx.Err() != nil {
			// Given up (the pool closes): Podman may have made it all
			// the same, and nobody would remove it.
			p.r.remove(g.Name, log)
		}
		log.Warn("create warm container", "err", err)
		return
	}
	c := &warmContainer{id: id, name: g.Name, key: key, group: group, made: time.Now()}
	if err := p.r.api.call(ctx, http.MethodPost, endpoint("/containers/%s/start", c.id), nil, nil, nil); err != nil {
		p.breaks(key, helperMissing(spec.Image, err).Error(), log)
		p.r.remove(c.id, log)
		return
	}
	// A launcher the image does not have ends at once: such a container
	// must not take a run.
	if err := p.settled(ctx, c.id); err != nil {
		if errors.Is(err, errNoLauncher) {
			p.breaks(key, err.Error(), log)
		} else {
			log.Warn("warm container did not keep running; the next run of its kind makes another", "err", err)
		}
		p.r.remove(c.id, log)
		return
	}
	p.mu.Lock()
	var stale []*warmContainer
	if !p.closed && !p.r.isDetached() {
		for k, o := range p.ready {
			if o.group == group {
				stale = append(stale, o)
				delete(p.ready, k)
			}
		}
		p.ready[key] = c
		c = nil
	}
	p.mu.Unlock()
	for _, o := range stale {
		log.Info("warm container replaced: its spec changed", "container", o.name)
		p.r.remove(o.id, log)
	}
	if c != nil {
		p.r.remove(c.id, log) // made while the pool closed
		return
	}
	log.Debug("warm container ready", "container", g.Name)
}

// settleTime is how long a started pool container must keep running
// before it is trusted with runs.
const settleTime = 150 * time.Millisecond

// errNoLauncher: a pool container's image has no launcher.
var errNoLauncher = fmt.Errorf("the image has no `%s launch`: rebuild it with `untether images build`", stdinHelper)

// settled reports an error when the container id does not keep running
// for settleTime: errNoLauncher when its launcher is missing (the helper's
// usage or the shell's "not found" status).
func (p *pool) settled(ctx context.Context, id string) error {
	t := time.NewTimer(settleTime)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	data, err := p.r.inspect(ctx, id)
	if err != nil {
		return err
	}
	switch {
	case data.State == nil:
		return errors.New("inspect: no state")
	case data.State.Status == "running":
		return nil
	case data.State.Status == "exited" && (data.State.ExitCode == 2 || data.State.ExitCode == 127):
		return errNoLauncher
	}
	return fmt.Errorf("the warm container is %s (exit code %d)", data.State.Status, data.State.ExitCode)
}

// breaks stops making containers of key: they cannot start.
func (p *pool) breaks(key, why string, log *slog.Logger) {
	log.Error("warm containers of this kind cannot start; its runs start cold", "err", why)
	p.mu.Lock()
	p.broken[key] = why
	p.mu.Unlock()
}

// sweep removes the pool containers of instance nobody claimed that this
// pool does not hold: a bridge that stopped without removing its own, or
// the Runner of a config reloaded since.
func (p *pool) sweep(instance string) {
	ctx, cancel := context.WithTimeout(p.ctx, cleanupTimeout)
	defer cancel()
	list, err := p.r.Containers(ctx, instance)
	if err != nil {
		p.r.log.Debug("list warm containers left from before", "err", err)
		return
	}
	for _, c := range list {
		if !c.Warm || p.made(c.Name) {
			continue
		}
		p.r.log.Info("removing a warm container left from before", "container", c.Name)
		p.r.remove(c.ID, p.r.log)
	}
}

// made reports whether this pool made the container named name.
func (p *pool) made(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mine[name]
}

// close stops the fills, waits for them and removes the ready containers.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	ready := p.ready
	p.ready = map[string]*warmContainer{}
	p.mu.Unlock()
	for _, c := range ready {
		p.r.remove(c.id, p.r.log)
	}
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// claim renames the pool container c to name, the run's. A container that
// is gone or no longer running cannot be claimed (and is removed).
func (r *Runner) claim(ctx context.Context, c *warmContainer, name string) error {
	q := url.Values{"name": {name}}
	err := r.api.call(ctx, http.MethodPost, endpoint("/containers/%s/rename", c.id), q, nil, nil)
	if err != nil {
		r.remove(c.id, r.log)
		return fmt.Errorf("claim warm container %s: %w", c.name, err)
	}
	return nil
}

// runWarm carries out spec in a pool container when one is ready for it;
// ok is false when none could be claimed: the caller makes one. Either
// way, a pool container is made for the next run of its kind.
func (r *Runner) runWarm(ctx context.Context, spec sandbox.Spec, rootless bool, stdin *stdinCloser,
	onLine func([]byte)) (res sandbox.Result, err error, ok bool) {
	_, key, _ := warmSpec(spec, rootless)
	c, found := r.pool.take(key)
	r.pool.fill(spec, rootless, refillDelay)
	if !found {
		return res, nil, false
	}
	log := r.log.With("container", spec.Name)
	if time.Since(c.made) > warmMaxAge {
		log.Debug("warm container too old; starting cold", "warm", c.name)
		r.remove(c.id, log)
		return res, nil, false
	}
	header, err := launchHeader(spec.Argv, spec.Env)
	if spec.LiveStdin && err == nil {
		header, err = launchHeader(liveArgv(spec.Argv), spec.Env)
	}
	if err != nil {
		if !r.pool.keep(c) {
			r.remove(c.id, log)
		}
		return res, fmt.Errorf("run %s: %w", spec.Name, err), true
	}
	if err := r.claim(ctx, c, spec.Name); err != nil {
		log.Warn("warm container lost; starting cold", "err", err)
		return res, nil, false
	}
	log.Debug("warm container claimed", "warm", c.name)
	keep := spec.Keep
	defer func() {
		if !keep {
			r.remove(c.id, log)
		}
	}()
	res, err = r.supervise(ctx, c.id, spec, stdin, onLine, log, header)
	keep = keep || errors.Is(err, sandbox.ErrDetached)
	return res, err, true
}

// keep puts back a container taken but not claimed; false when the pool
// has no place for it (the caller removes it).
func (p *pool) keep(c *warmContainer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.ready[c.key] != nil {
		return false
	}
	p.ready[c.key] = c
	return true
}

// Warm makes a container ahead for runs like spec, unless one is ready or
// being made: only the parts of spec no session decides count (see
// warmSpec). It returns at once; without Options.Warm it does nothing.
// Safe for concurrent use.
func (r *Runner) Warm(ctx context.Context, spec sandbox.Spec) error {
	if r.pool == nil {
		return nil
	}
	check := spec
	check.Name, check.Argv = "warm", launchArgv
	if err := validateSpec(check); err != nil {
		return err
	}
	host, err := r.verifiedHost(ctx)
	if err != nil {
		return err
	}
	r.pool.fill(spec, host.Rootless, 0)
	return nil
}
