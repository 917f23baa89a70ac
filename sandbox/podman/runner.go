// Package podman runs agent sessions in Podman containers through the Podman
// REST API (the v5 bindings, speaking to podman 4.3 and later services).
//
// It is the only package that imports the podman bindings. It adapts the
// vocabulary of package sandbox and must not import the orchestrator, the
// engines or any chat transport.
package podman

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/bindings/volumes"
	entities "github.com/containers/podman/v5/pkg/domain/entities/types"

	"github.com/untether-go/untether/sandbox"
)

const (
	// cleanupTimeout bounds the API calls made after a run ended or was
	// abandoned (inspect, remove), which run even when the caller's context
	// is cancelled.
	cleanupTimeout = 30 * time.Second
	// drainTimeout bounds how long the output stream may lag the exit.
	drainTimeout = 10 * time.Second
	// defaultStopGrace is used when a Spec sets no StopGrace.
	defaultStopGrace = 10 * time.Second
)

// Options configure a Runner.
type Options struct {
	// URL of the Podman service, e.g. unix:///run/podman/podman.sock.
	URL    string
	Logger *slog.Logger
}

// Runner runs Specs as Podman containers. It is safe for concurrent use; it
// connects lazily, so a Runner can be built while Podman is still down.
// Build it with New.
type Runner struct {
	url string
	log *slog.Logger

	mu   sync.Mutex
	conn context.Context // carries the bindings' connection; never cancelled

	volumes sync.Map // names of volumes known to exist

	// host is what the last check of the service found; verified is set
	// while it passed (limits enforceable) and nothing since suggested
	// the service went away, and verifiedAt is when. Guarded by mu.
	host       sandbox.Host
	verified   bool
	verifiedAt time.Time

	detached   chan struct{} // closed by Detach
	detachOnce sync.Once
}

// reverifyAfter bounds how long a check of the service is trusted
// without a failure in between: a service swapped behind the same socket
// between two runs is then noticed within this time.
const reverifyAfter = time.Minute

// Verify checks the Podman service the Runner talks to: reachable, and
// able to enforce memory and pids limits (cgroup version, delegation,
// rootless, runtime). It returns the host it found; an unreachable service
// wraps sandbox.ErrUnavailable, one that cannot enforce limits is a
// *sandbox.LimitsError. Run calls it before it creates a container
// whenever the service was not checked since the Runner connected, since
// a call failed for want of the service, or for reverifyAfter: no run is
// ever started without limits. Safe for concurrent use.
func (r *Runner) Verify(ctx context.Context) (sandbox.Host, error) {
	h, err := r.Host(ctx)
	if err != nil {
		return h, err
	}
	limitsErr := h.CheckLimits()
	r.mu.Lock()
	was := r.verified
	r.host = h
	r.verified, r.verifiedAt = limitsErr == nil, time.Now()
	r.mu.Unlock()
	if limitsErr != nil {
		r.log.Error("podman cannot enforce limits: runs are refused", "err", limitsErr,
			"podman", h.Version, "cgroups", h.CgroupVersion, "rootless", h.Rootless, "runtime", h.Runtime)
		return h, limitsErr
	}
	if !was {
		r.log.Info("sandbox ready", "podman", h.Version, "cgroups", h.CgroupVersion, "rootless", h.Rootless, "runtime", h.Runtime)
	}
	return h, nil
}

// verifiedHost returns the host when its last check passed and is still
// trusted, else checks it anew.
func (r *Runner) verifiedHost(ctx context.Context) (sandbox.Host, error) {
	r.mu.Lock()
	h, ok := r.host, r.verified && time.Since(r.verifiedAt) < reverifyAfter
	r.mu.Unlock()
	if ok {
		return h, nil
	}
	return r.Verify(ctx)
}

// lost forgets the last check of the service: the next run checks again.
func (r *Runner) lost() {
	r.mu.Lock()
	r.verified = false
	r.mu.Unlock()
}

// New returns a Runner for the service at opts.URL.
func New(opts Options) *Runner {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{url: opts.URL, log: log, detached: make(chan struct{})}
}

// connection returns a context carrying the bindings' connection, connecting
// on first use. Errors wrap sandbox.ErrUnavailable.
func (r *Runner) connection(ctx context.Context) (context.Context, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil {
		return r.conn, nil
	}
	// The connection's context outlives this call: it only carries values.
	// The dial itself is bounded by the caller's ctx through the ping below.
	conn, err := dial(ctx, r.url)
	if err != nil {
		return nil, err
	}
	r.conn = conn
	return conn, nil
}

func dial(ctx context.Context, url string) (context.Context, error) {
	type result struct {
		conn context.Context
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := bindings.NewConnection(context.Background(), url)
		done <- result{c, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			return nil, fmt.Errorf("connect to podman at %s: %w: %w", url, sandbox.ErrUnavailable, res.err)
		}
		return res.conn, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("connect to podman at %s: %w", url, ctx.Err())
	}
}

// bind returns a context that carries the connection and is cancelled with
// ctx. The returned stop func must be called.
func (r *Runner) bind(ctx context.Context) (context.Context, context.CancelFunc, error) {
	conn, err := r.connection(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, cancel := context.WithCancel(conn)
	stop := context.AfterFunc(ctx, cancel)
	return c, func() { stop(); cancel() }, nil
}

// unavailable marks errors that mean the service could not be reached;
// the service is then checked again before the next run.
func (r *Runner) unavailable(err error) error {
	var ne net.Error
	var ce bindings.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		r.lost()
		return fmt.Errorf("%w: %w", sandbox.ErrUnavailable, err)
	}
	return err
}

// Run creates the container described by spec, streams its stdout line by
// line to onLine (from a single goroutine, in order, before Run returns),
// waits for it to end and removes it, unless spec.Keep: the container is then
// left in every case, for Reattach to read again and RemoveContainer to
// remove.
//
// Cancelling ctx stops the container: SIGTERM, then SIGKILL after
// spec.StopGrace; the Result then has Cancelled set. spec.Limits.Timeout
// does the same and sets TimedOut. An error is returned only when the run
// could not be carried out (image missing: sandbox.ErrImageNotFound; Podman
// unreachable: sandbox.ErrUnavailable; a service that cannot enforce the
// limits, see Verify: a *sandbox.LimitsError, and nothing is created); an
// engine that fails is a Result.
//
// After Detach, Run returns sandbox.ErrDetached: a started container is left
// running for Reattach (onLine may have seen any prefix of its lines); one
// not yet started is removed (unless spec.Keep; Reattach then removes it and
// answers sandbox.ErrNotFound), and a Run begun after Detach creates nothing.
func (r *Runner) Run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error) {
	res, err := r.run(ctx, spec, onLine)
	if errors.Is(err, sandbox.ErrUnavailable) {
		r.lost()
	}
	return res, r.detachedErr(ctx, "run "+spec.Name, err)
}

func (r *Runner) run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error) {
	if err := validateSpec(spec); err != nil {
		return sandbox.Result{}, err
	}
	if r.isDetached() {
		return sandbox.Result{}, fmt.Errorf("run %s: %w", spec.Name, sandbox.ErrDetached)
	}
	c, stop, err := r.bind(ctx)
	if err != nil {
		return sandbox.Result{}, err
	}
	defer stop()

	host, err := r.verifiedHost(c)
	if err != nil {
		return sandbox.Result{}, fmt.Errorf("run %s: %w", spec.Name, err)
	}
	if err := r.prepare(c, spec); err != nil {
		return sandbox.Result{}, err
	}
	created, err := containers.CreateWithSpec(c, specGenerator(spec, host.Rootless), nil)
	if err != nil {
		return sandbox.Result{}, r.unavailable(fmt.Errorf("create container %s: %w", spec.Name, err))
	}
	id := created.ID
	log := r.log.With("container", spec.Name)
	keep := spec.Keep
	defer func() {
		if !keep {
			r.remove(id, log)
		}
	}()
	if r.isDetached() {
		return sandbox.Result{}, fmt.Errorf("run %s: not started: %w", spec.Name, sandbox.ErrDetached)
	}
	res, err := r.supervise(ctx, c, id, spec, onLine, log)
	keep = keep || errors.Is(err, sandbox.ErrDetached)
	return res, err
}

// prepare checks the image and creates the engine volumes with their labels.
func (r *Runner) prepare(c context.Context, spec sandbox.Spec) error {
	ok, err := images.Exists(c, spec.Image, nil)
	if err != nil {
		return r.unavailable(fmt.Errorf("look up image %s: %w", spec.Image, err))
	}
	if !ok {
		return fmt.Errorf("image %s: %w", spec.Image, sandbox.ErrImageNotFound)
	}
	for _, v := range spec.Volumes {
		if _, known := r.volumes.Load(v.Name); known {
			continue
		}
		exists, err := volumes.Exists(c, v.Name, nil)
		if err != nil {
			return r.unavailable(fmt.Errorf("look up volume %s: %w", v.Name, err))
		}
		if !exists {
			labels := volumeLabels(spec.Labels)
			_, err := volumes.Create(c, entities.VolumeCreateOptions{Name: v.Name, Labels: labels, IgnoreIfExists: true}, nil)
			if err != nil {
				return r.unavailable(fmt.Errorf("create volume %s: %w", v.Name, err))
			}
		}
		r.volumes.Store(v.Name, true)
	}
	return nil
}

// volumeLabels keeps the labels that describe a volume's owner (instance,
// project, engine), not the ones of one run.
func volumeLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{sandbox.LabelInstance, sandbox.LabelProject, sandbox.LabelEngine} {
		if v, ok := l[k]; ok {
			out[k] = v
		}
	}
	return out
}

// supervise attaches, starts, waits and inspects one created container.
func (r *Runner) supervise(ctx, c context.Context, id string, spec sandbox.Spec, onLine func([]byte), log *slog.Logger) (sandbox.Result, error) {
	started := time.Now()
	// The attach outlives ctx: after a cancel the container is stopped and
	// its last output still has to be read.
	ac, err := r.dialAttach(c)
	if err != nil {
		return sandbox.Result{}, err
	}
	attachCtx, cancelAttach := context.WithCancel(ac.ctx)
	abort := func() { cancelAttach(); ac.Close() }
	defer abort()

	stdout := &sandbox.LineWriter{Emit: onLine}
	stderr := &sandbox.TailWriter{Max: sandbox.StderrTail}
	ready := make(chan bool, 1)
	attached := make(chan error, 1)
	stdinRead := make(chan struct{})
	var stdin io.Reader
	if spec.Stdin != nil {
		// A reader that ends: the bindings then close the stream's write
		// side and the process reads EOF.
		stdin = &eofReader{r: bytes.NewReader(spec.Stdin), eof: stdinRead}
	} else {
		close(stdinRead)
	}
	go func() {
		attached <- containers.Attach(attachCtx, id, stdin, stdout, stderr, ready, nil)
	}()
	select {
	case <-ready:
	case err := <-attached:
		return sandbox.Result{}, r.unavailable(fmt.Errorf("attach to container %s: %w", spec.Name, err))
	}

	if err := containers.Start(c, id, nil); err != nil {
		abort()
		<-attached
		return sandbox.Result{}, r.unavailable(fmt.Errorf("start container %s: %w", spec.Name, err))
	}
	log.Debug("container started", "image", spec.Image)

	w := watch{id: id, name: spec.Name, grace: spec.StopGrace, memoryLimit: spec.Limits.MemoryBytes > 0}
	if spec.Limits.Timeout > 0 {
		w.deadline = time.Now().Add(spec.Limits.Timeout)
	}
	res, waitErr := r.wait(ctx, c, w, log)
	if errors.Is(waitErr, sandbox.ErrDetached) {
		letGo(stdinRead, attached, abort, log)
		return res, waitErr
	}

	// Let the stream drain: it ends when the container's output closes.
	drain := time.NewTimer(drainTimeout)
	defer drain.Stop()
	select {
	case err := <-attached:
		if err != nil {
			log.Warn("attach ended with an error", "err", err)
		}
	case <-drain.C:
		log.Warn("output stream did not end after exit; abandoning it")
		abort()
		<-attached
	}
	stdout.Close()
	res.StderrTail = stderr.String()
	if res.Duration == 0 {
		res.Duration = time.Since(started)
	}
	return res, waitErr
}

// watch is what wait needs to know of a started container.
type watch struct {
	id, name    string
	deadline    time.Time     // zero: no timeout
	grace       time.Duration // SIGTERM to SIGKILL; zero: defaultStopGrace
	memoryLimit bool          // a SIGKILL nobody sent is then the OOM killer's
}

// wait waits for the container to exit, stopping it on cancel or at the
// deadline, and reads how it ended. After Detach it returns
// sandbox.ErrDetached at once and leaves the container alone.
func (r *Runner) wait(ctx, c context.Context, w watch, log *slog.Logger) (sandbox.Result, error) {
	bg, cancelBg := context.WithTimeout(context.WithoutCancel(c), 365*24*time.Hour)
	defer cancelBg()
	exited := make(chan error, 1)
	go func() {
		_, err := containers.Wait(bg, w.id, new(containers.WaitOptions).
			WithCondition([]define.ContainerStatus{define.ContainerStateExited, define.ContainerStateStopped}))
		exited <- err
	}()
	detach := func() (sandbox.Result, error) {
		cancelBg()
		<-exited
		log.Info("container left running")
		return sandbox.Result{}, fmt.Errorf("container %s: %w", w.name, sandbox.ErrDetached)
	}

	var res sandbox.Result
	var timeout <-chan time.Time
	if !w.deadline.IsZero() {
		t := time.NewTimer(time.Until(w.deadline))
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case err = <-exited:
	case <-r.detached:
		return detach()
	case <-ctx.Done():
		// The drain detaches before it cancels: a cancel that follows a
		// Detach leaves the container running.
		if r.isDetached() {
			return detach()
		}
		res.Cancelled = true
		r.stop(w, log)
		err = <-exited
	case <-timeout:
		res.TimedOut = true
		r.stop(w, log)
		err = <-exited
	}
	if err != nil {
		return res, r.unavailable(fmt.Errorf("wait for container %s: %w", w.name, err))
	}
	return r.ended(c, w, res)
}

// ended inspects an exited container and completes res with how it ended.
func (r *Runner) ended(c context.Context, w watch, res sandbox.Result) (sandbox.Result, error) {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(c), cleanupTimeout)
	defer cancel()
	data, err := containers.Inspect(ictx, w.id, nil)
	if err != nil {
		return res, r.unavailable(fmt.Errorf("inspect container %s: %w", w.name, err))
	}
	if data.State == nil {
		return res, fmt.Errorf("inspect container %s: no state", w.name)
	}
	res.ExitCode = int(data.State.ExitCode)
	// Conmon flags OOM only when it saw the cgroup's event; a SIGKILL we did
	// not send, in a container with a memory limit, is the kernel's too.
	res.OOMKilled = data.State.OOMKilled ||
		(res.ExitCode == 137 && w.memoryLimit && !res.Cancelled && !res.TimedOut)
	if from, to := data.State.StartedAt, data.State.FinishedAt; !from.IsZero() && to.After(from) {
		res.Duration = to.Sub(from)
	}
	return res, nil
}

// stop asks the container to stop: SIGTERM, then SIGKILL after the grace.
func (r *Runner) stop(w watch, log *slog.Logger) {
	grace := w.grace
	if grace <= 0 {
		grace = defaultStopGrace
	}
	c, cancel, err := r.bind(context.Background())
	if err != nil {
		log.Warn("stop container", "err", err)
		return
	}
	defer cancel()
	c, cancelT := context.WithTimeout(c, grace+cleanupTimeout)
	defer cancelT()
	secs := uint(grace.Seconds() + 0.5)
	if secs == 0 {
		secs = 1
	}
	if err := containers.Stop(c, w.id, new(containers.StopOptions).WithTimeout(secs)); err != nil {
		log.Warn("stop container; killing it", "err", err)
		if err := containers.Kill(c, w.id, new(containers.KillOptions).WithSignal("KILL")); err != nil {
			log.Warn("kill container", "err", err)
		}
	}
}

// remove deletes the container and anything still running in it.
func (r *Runner) remove(id string, log *slog.Logger) {
	c, cancel, err := r.bind(context.Background())
	if err != nil {
		log.Warn("remove container", "err", err)
		return
	}
	defer cancel()
	c, cancelT := context.WithTimeout(c, cleanupTimeout)
	defer cancelT()
	if _, err := containers.Remove(c, id, new(containers.RemoveOptions).WithForce(true).WithVolumes(false)); err != nil {
		log.Warn("remove container", "err", err)
	}
}
