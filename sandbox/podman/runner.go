// Package podman runs agent sessions in Podman containers. It speaks the
// Podman service's REST API (the libpod API of podman 4.3 and later) itself,
// with a small client over net/http: no Podman library, no cgo.
//
// It adapts the vocabulary of package sandbox and imports nothing else but
// the standard library and golang.org/x/crypto/ssh (it is the only importer
// of that module, for ssh:// services): not the orchestrator, the engines
// or any chat transport. A Pool places runs on several services (hosts).
package podman

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

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
	// URL of the Podman service: unix:///run/podman/podman.sock,
	// ssh://user@host/run/podman/podman.sock, or tcp://host:port.
	URL string
	// SSH is how an ssh:// URL is reached.
	SSH    SSH
	Logger *slog.Logger
	// Warm keeps a container started ahead for each kind of run (see
	// pool.go); Close removes them.
	Warm bool
}

// Runner runs Specs as Podman containers. It is safe for concurrent use; it
// connects lazily, so a Runner can be built while Podman is still down.
// Build it with New.
type Runner struct {
	api *client
	log *slog.Logger

	volumes sync.Map // names of volumes known to exist
	pool    *pool    // nil without Options.Warm
	meters  sync.Map // container name → *meter of the runs followed here

	mu sync.Mutex
	// host is what the last check of the service found; verified is set
	// while it passed (limits enforceable) and nothing since suggested
	// the service went away, and verifiedAt is when. Guarded by mu.
	host       sandbox.Host
	verified   bool
	verifiedAt time.Time

	detached   chan struct{} // closed by Detach
	detachOnce sync.Once

	// creating holds the turn to create a container on a rootless
	// service (see createContainer).
	creating chan struct{}
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
// whenever the service was not checked yet, since a call failed for want
// of the service, or for reverifyAfter: no run is ever started without
// limits. Safe for concurrent use.
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

// New returns a Runner for the service at opts.URL: unix:///path/to/socket
// or tcp://host:port.
func New(opts Options) *Runner {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{api: newClient(opts.URL, opts.SSH), log: log, detached: make(chan struct{}), creating: make(chan struct{}, 1)}
	if opts.Warm {
		r.pool = newPool(r)
	}
	return r
}

// unavailable marks errors that mean the service could not be reached;
// the service is then checked again before the next run.
func (r *Runner) unavailable(err error) error {
	if errors.Is(err, sandbox.ErrUnavailable) {
		r.lost()
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
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
// spec.Stdin is copied to the process (see sandbox.Spec.Stdin). With
// spec.LiveStdin it is copied through the container's live stdin (see
// stdin.go; the image needs the untether-stdin helper, else Run fails
// naming the image and the fix), its EOF stops the container as a cancel
// would and sets StdinEnded instead of Cancelled, and a detach leaves the
// process's stdin open for a Reattach to write to.
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
	stdin := &stdinCloser{r: spec.Stdin}
	defer stdin.close()
	res, err := r.run(ctx, spec, stdin, onLine)
	if errors.Is(err, sandbox.ErrUnavailable) {
		r.lost()
	}
	return res, r.detachedErr(ctx, "run "+spec.Name, err)
}

func (r *Runner) run(ctx context.Context, spec sandbox.Spec, stdin *stdinCloser, onLine func([]byte)) (sandbox.Result, error) {
	if err := validateSpec(spec); err != nil {
		return sandbox.Result{}, err
	}
	if r.isDetached() {
		return sandbox.Result{}, fmt.Errorf("run %s: %w", spec.Name, sandbox.ErrDetached)
	}
	host, err := r.verifiedHost(ctx)
	if err != nil {
		return sandbox.Result{}, fmt.Errorf("run %s: %w", spec.Name, err)
	}
	if r.pool != nil {
		if res, err, ok := r.runWarm(ctx, spec, host.Rootless, stdin, onLine); ok {
			return res, err
		}
	}
	if err := r.prepare(ctx, spec); err != nil {
		return sandbox.Result{}, err
	}
	id, err := r.createContainer(ctx, containerSpecFor(spec, host.Rootless))
	if err != nil {
		return sandbox.Result{}, r.unavailable(fmt.Errorf("create container %s: %w", spec.Name, err))
	}
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
	res, err := r.supervise(ctx, id, spec, stdin, onLine, log, nil)
	keep = keep || errors.Is(err, sandbox.ErrDetached)
	return res, err
}

// prepare checks the image and creates the engine volumes with their labels.
func (r *Runner) prepare(ctx context.Context, spec sandbox.Spec) error {
	ok, err := r.api.exists(ctx, endpoint("/images/%s/exists", spec.Image))
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
		exists, err := r.api.exists(ctx, endpoint("/volumes/%s/exists", v.Name))
		if err != nil {
			return r.unavailable(fmt.Errorf("look up volume %s: %w", v.Name, err))
		}
		if !exists {
			if err := r.createVolume(ctx, v.Name, volumeLabels(spec.Labels)); err != nil {
				return r.unavailable(fmt.Errorf("create volume %s: %w", v.Name, err))
			}
		}
		r.volumes.Store(v.Name, true)
	}
	return nil
}

// createVolume creates a named volume; one that exists already (another run
// made it since the look-up) is no error.
func (r *Runner) createVolume(ctx context.Context, name string, labels map[string]string) error {
	in := struct {
		Name   string            `json:"Name"`
		Labels map[string]string `json:"Labels"`
	}{name, labels}
	err := r.api.call(ctx, http.MethodPost, "/volumes/create", nil, in, nil)
	var ae *apiError
	if errors.As(err, &ae) && (ae.Status == http.StatusConflict || strings.Contains(ae.Message, "already exists")) {
		return nil
	}
	return err
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
// sc closes spec.Stdin. A claimed warm container (launch, its launch
// header, not nil) runs already: it is given the header on its stdin
// instead of being started.
func (r *Runner) supervise(ctx context.Context, id string, spec sandbox.Spec, sc *stdinCloser, onLine func([]byte),
	log *slog.Logger, launch []byte) (sandbox.Result, error) {
	started := time.Now()
	oneShot := spec.Stdin != nil && !spec.LiveStdin
	warm := launch != nil
	// The attach outlives ctx: after a cancel the container is stopped and
	// its last output still has to be read.
	as, err := r.api.attach(ctx, id, oneShot || warm)
	if err != nil {
		// Attaching prepares the container: the runtime creates it here,
		// and fails here when the image lacks the helper.
		if spec.LiveStdin {
			err = helperMissing(spec.Image, err)
		}
		return sandbox.Result{}, r.unavailable(fmt.Errorf("attach to container %s: %w", spec.Name, err))
	}
	abort := func() { as.Close() }

	m := r.newMeter(id, spec.Name, spec.Limits.MemoryBytes, log)
	stdout := &sandbox.LineWriter{Emit: func(line []byte) { onLine(line); m.poke() }}
	stderr := &sandbox.TailWriter{Max: sandbox.StderrTail}
	attached := make(chan error, 1)
	stdinRead := make(chan struct{})
	var stdin io.Reader
	closeStdin := func() {}
	switch {
	case oneShot:
		// A reader that ends: the stream's write side is then closed and
		// the process reads EOF.
		in := spec.Stdin
		if warm {
			in = io.MultiReader(bytes.NewReader(launch), spec.Stdin)
		}
		stdin = &eofReader{r: in, eof: stdinRead}
		closeStdin = sc.close
	case warm:
		stdin = &eofReader{r: bytes.NewReader(launch), eof: stdinRead}
	default:
		close(stdinRead)
	}
	// Every return below receives from attached: the copy ends first.
	// The output closing means the processes are ending: the meter reads
	// their cgroup once more at once, before it goes.
	go func() {
		err := as.copy(stdin, stdout, stderr)
		m.flush()
		attached <- err
	}()

	var startErr error
	if !warm {
		startErr = r.api.call(ctx, http.MethodPost, endpoint("/containers/%s/start", id), nil, nil, nil)
	}
	if err := startErr; err != nil {
		abort()
		sc.close()
		<-attached
		if spec.LiveStdin {
			err = helperMissing(spec.Image, err)
		}
		return sandbox.Result{}, r.unavailable(fmt.Errorf("start container %s: %w", spec.Name, err))
	}
	log.Debug("container started", "image", spec.Image)
	m.start()
	var feed *liveFeed
	if spec.LiveStdin {
		feed = r.openFeed(ctx, id, sc, log)
	}

	w := watch{id: id, name: spec.Name, grace: spec.StopGrace, memoryLimit: spec.Limits.MemoryBytes > 0,
		stdinEnded: feed.endedC(), meter: m}
	if warm {
		w.since = started
	}
	if spec.Limits.Timeout > 0 {
		w.deadline = time.Now().Add(spec.Limits.Timeout)
	}
	res, waitErr := r.wait(ctx, w, log)
	feed.stop()
	if errors.Is(waitErr, sandbox.ErrDetached) {
		letGo(stdinRead, attached, abort, closeStdin, log)
		return res, waitErr
	}
	closeStdin()

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
	deadline    time.Time       // zero: no timeout
	grace       time.Duration   // SIGTERM to SIGKILL; zero: defaultStopGrace
	memoryLimit bool            // a SIGKILL nobody sent is then the OOM killer's
	stdinEnded  <-chan struct{} // closed when the live stdin ended; nil: never
	meter       *meter          // the container's usage; nil: not followed
	since       time.Time       // when its run began, if not at its start (a warm container)
}

// wait waits for the container to exit, stopping it on cancel or at the
// deadline, and reads how it ended. After Detach it returns
// sandbox.ErrDetached at once and leaves the container alone. A container
// that ends unseen (removed from outside, or a wait that does not return)
// is noticed by its meter and by a check every checkEvery.
func (r *Runner) wait(ctx context.Context, w watch, log *slog.Logger) (sandbox.Result, error) {
	// The wait outlives ctx: a cancel stops the container, whose exit is
	// still waited for.
	bg, cancelBg := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBg()
	exited := make(chan error, 1)
	go func() {
		q := url.Values{"condition": {"exited", "stopped"}}
		exited <- r.api.call(bg, http.MethodPost, endpoint("/containers/%s/wait", w.id), q, nil, nil)
	}()
	detach := func() (sandbox.Result, error) {
		cancelBg()
		<-exited
		w.meter.stop()
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
	check := time.NewTicker(checkEvery)
	defer check.Stop()
	vanished := w.meter.vanishedC()
	ended := false // the last check found the container ended, its wait pending
	ticks := 0
	var err error
waiting:
	for {
		select {
		case err = <-exited:
			break waiting
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
			break waiting
		case <-timeout:
			res.TimedOut = true
			r.stop(w, log)
			err = <-exited
			break waiting
		case <-w.stdinEnded:
			log.Debug("live stdin ended; stopping the container")
			res.StdinEnded = true
			r.stop(w, log)
			err = <-exited
			break waiting
		case <-vanished:
			vanished = nil
		case <-check.C:
			// A container whose cgroup the meter reads here is checked
			// when that cgroup goes; the timer is then only a backstop.
			if ticks++; w.meter.local() && !ended && ticks%localCheckEvery != 0 {
				continue
			}
		}
		switch gone, stopped := r.probe(bg, w); {
		case gone:
			cancelBg()
			<-exited
			return r.gone(w, res, log), nil
		case stopped && ended:
			log.Warn("container ended but its wait did not return; taking it as ended")
			cancelBg()
			<-exited
			err = nil
			break waiting
		default:
			ended = stopped
		}
	}
	if err != nil {
		if gone, _ := r.probe(context.WithoutCancel(ctx), w); gone {
			return r.gone(w, res, log), nil
		}
		w.meter.stop()
		return res, r.unavailable(fmt.Errorf("wait for container %s: %w", w.name, err))
	}
	res.Usage = w.meter.finish()
	return r.ended(ctx, w, res, log)
}

// checkEvery is how often a run's container is checked while its wait is
// pending, so that one that ended unseen ends its run within about twice
// this time.
const checkEvery = 4 * time.Second

// localCheckEvery is how many checkEvery pass between two checks of a
// container whose meter reads its cgroup on this host.
const localCheckEvery = 4

// probe inspects a container whose wait is pending: gone when it no longer
// exists, stopped when it is no longer running. A failed inspect is
// neither.
func (r *Runner) probe(ctx context.Context, w watch) (gone, stopped bool) {
	ictx, cancel := context.WithTimeout(ctx, checkEvery)
	defer cancel()
	data, err := r.inspect(ictx, w.id)
	if err != nil {
		return notFound(err), false
	}
	if data.State == nil {
		return false, false
	}
	switch data.State.Status {
	case "exited", "stopped":
		return false, true
	}
	return false, false
}

// gone completes res for a container removed from outside while it ran.
func (r *Runner) gone(w watch, res sandbox.Result, log *slog.Logger) sandbox.Result {
	log.Warn("container removed while its run lasted")
	res.Gone = true
	res.ExitCode = -1
	res.Usage = w.meter.finish()
	return res
}

// inspectData is the part of a container's inspect answer the Runner reads.
type inspectData struct {
	ID    string `json:"Id"`
	State *struct {
		Status     string
		ExitCode   int32
		OOMKilled  bool
		StartedAt  time.Time
		FinishedAt time.Time
		CgroupPath string
	}
	Config *struct {
		Labels      map[string]string
		StopTimeout uint
	}
	HostConfig *struct {
		Memory int64
	}
}

// inspect reads a container's state and configuration.
func (r *Runner) inspect(ctx context.Context, id string) (inspectData, error) {
	var data inspectData
	err := r.api.call(ctx, http.MethodGet, endpoint("/containers/%s/json", id), nil, nil, &data)
	return data, err
}

// ended inspects an exited container and completes res with how it ended.
func (r *Runner) ended(ctx context.Context, w watch, res sandbox.Result, log *slog.Logger) (sandbox.Result, error) {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	data, err := r.inspect(ictx, w.id)
	if notFound(err) {
		return r.gone(w, res, log), nil
	}
	if err != nil {
		return res, r.unavailable(fmt.Errorf("inspect container %s: %w", w.name, err))
	}
	if data.State == nil {
		return res, fmt.Errorf("inspect container %s: no state", w.name)
	}
	res.ExitCode = int(data.State.ExitCode)
	outside := outsideUnknown
	if unasked(res) && !data.State.OOMKilled {
		// Only then does it matter, and cost a call.
		killed, err := r.killedByPodman(ictx, w.id, data.State.StartedAt)
		switch {
		case err != nil:
			log.Debug("read the container's kill events", "err", err)
		case killed:
			outside = outsideKill
		default:
			outside = outsideNone
		}
	}
	res.OOMKilled, res.Killed = killedBy(res, data.State.OOMKilled, w.memoryLimit, outside)
	from, to := data.State.StartedAt, data.State.FinishedAt
	if !w.since.IsZero() {
		from = w.since
	}
	if !from.IsZero() && to.After(from) {
		res.Duration = to.Sub(from)
	}
	return res, nil
}

// What Podman's events say of a kill from outside the bridge.
const (
	outsideUnknown = iota // not asked, or they could not be read
	outsideNone           // no kill from outside
	outsideKill           // `podman kill`
)

// unasked reports whether res ended by a SIGKILL the bridge did not ask
// for.
func unasked(res sandbox.Result) bool {
	return res.ExitCode == 137 && !res.Cancelled && !res.TimedOut && !res.StdinEnded
}

// killedBy tells who ended a run: the OOM killer, or a signal from outside
// the bridge. Conmon flags OOM only when it saw the cgroup's event; the
// cgroup's own count is the truth when it was read after the end, and
// Podman's events tell a `podman kill`. Short of those, a SIGKILL nobody
// here sent, in a container with a memory limit, is taken for the
// kernel's, unless the memory seen stayed well below the limit.
func killedBy(res sandbox.Result, conmonOOM, memoryLimit bool, outside int) (oom, killed bool) {
	u := res.Usage
	switch {
	case conmonOOM:
		oom = true
	case u != nil && u.OOMKills > 0 && res.ExitCode != 0:
		oom = true
	case !unasked(res) || !memoryLimit:
	case u != nil && u.Complete:
		oom = u.OOMKills > 0
	case outside == outsideKill:
	case outside == outsideNone, u == nil:
		oom = true
	default:
		oom = u.MemoryLimit == 0 || u.PeakMemory >= u.MemoryLimit*9/10
	}
	return oom, unasked(res) && !oom
}

// stop asks the container to stop: SIGTERM, then SIGKILL after the grace.
func (r *Runner) stop(w watch, log *slog.Logger) {
	grace := w.grace
	if grace <= 0 {
		grace = defaultStopGrace
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace+cleanupTimeout)
	defer cancel()
	secs := uint(grace.Seconds() + 0.5)
	if secs == 0 {
		secs = 1
	}
	q := url.Values{"timeout": {strconv.FormatUint(uint64(secs), 10)}}
	if err := r.api.call(ctx, http.MethodPost, endpoint("/containers/%s/stop", w.id), q, nil, nil); err != nil {
		log.Warn("stop container; killing it", "err", err)
		q := url.Values{"signal": {"KILL"}}
		if err := r.api.call(ctx, http.MethodPost, endpoint("/containers/%s/kill", w.id), q, nil, nil); err != nil {
			log.Warn("kill container", "err", err)
		}
	}
}

// remove deletes the container (by id or name) and anything still running
// in it; one that is not there is no error.
func (r *Runner) remove(id string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	q := url.Values{"force": {"true"}, "v": {"false"}}
	if err := r.api.call(ctx, http.MethodDelete, endpoint("/containers/%s", id), q, nil, nil); err != nil && !notFound(err) {
		log.Warn("remove container", "err", err)
	}
}
