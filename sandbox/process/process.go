// Package process runs agent sessions as plain host subprocesses, for hosts
// without Podman (sandbox = "process"). It is opt-in and unsandboxed: the
// engine runs as the bridge's user and sees the host's file system and
// network. It keeps the contract of sandbox/podman — same Spec, same event
// path, same Result — where a plain process can keep it, and refuses what it
// cannot fake.
//
// How a Spec maps onto the host:
//   - argv[0] is looked up in the process's PATH (absolute entries only);
//     a missing program is ErrEngineNotFound. Image and Labels are unused.
//   - The working directory is the host side of spec.Workdir: the Source of
//     the mount it lies in (the project), or a volume's directory.
//   - Each volume is the directory <HomeRoot>/<volume name>, created 0700 and
//     kept across runs; HOME is the one standing in for sandbox.HomeDir.
//   - The environment is spec.Env plus the bridge's PATH (spec.Env's PATH
//     wins, as a Spec's env overrides an image's); nothing else of the
//     bridge's environment is passed, so its tokens never reach an engine.
//     Env values that name a container path (sandbox.HomeDir,
//     sandbox.WorkspaceDir, or a path under them) are rewritten to the
//     host path.
//   - The process starts its own session, so it has no controlling
//     terminal and leads a process group: cancel and timeout signal the
//     whole group (SIGTERM, SIGKILL after StopGrace), and when the engine
//     exits whatever it left in the group is killed, as a container's
//     processes die with its init.
//
// What it does not enforce: memory, swap, pids and CPU limits (there is no
// cgroup of its own to put them on), read-only root, dropped capabilities,
// user namespaces. Limits.Timeout is enforced. A Spec asking for a
// read-only mount or for no network is refused with errors.ErrUnsupported.
// A process that leaves its session (setsid, daemonizing) escapes the kill.
//
// It imports only the standard library and package sandbox; it must not
// import the orchestrator, the engines or any chat transport.
package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// ErrEngineNotFound is sandbox.ErrEngineNotFound: the program a Spec's
// argv[0] names is not on the host.
var ErrEngineNotFound = sandbox.ErrEngineNotFound

const (
	// drainTimeout bounds how long the output may lag the exit; it only
	// matters when a process that escaped the group holds the pipes open.
	drainTimeout = 10 * time.Second
	// defaultStopGrace is used when a Spec sets no StopGrace.
	defaultStopGrace = 10 * time.Second
)

// Options configure a Runner.
type Options struct {
	// HomeRoot holds one directory per volume (the engines' homes). It must
	// be absolute for Specs that have volumes; it is created 0700 on first
	// use.
	HomeRoot string
	Logger   *slog.Logger
}

// Runner runs Specs as host processes. It is safe for concurrent use.
type Runner struct {
	homeRoot string
	hostPath string // the bridge's PATH, read once by New
	log      *slog.Logger
	drain    time.Duration
}

var _ interface {
	Run(context.Context, sandbox.Spec, func([]byte)) (sandbox.Result, error)
} = (*Runner)(nil)

// New returns a Runner keeping volumes under opts.HomeRoot.
func New(opts Options) *Runner {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{homeRoot: opts.HomeRoot, hostPath: os.Getenv("PATH"), log: log, drain: drainTimeout}
}

// Run starts the process described by spec, streams its stdout line by line
// to onLine (from a single goroutine, in order, before Run returns), waits
// for it to end and kills what it left behind in its process group.
//
// Cancelling ctx stops the process group: SIGTERM, then SIGKILL after
// spec.StopGrace; the Result then has Cancelled set. spec.Limits.Timeout
// does the same and sets TimedOut. A process killed by a signal has exit
// code 128+signal, as a shell reports it. An error is returned only when
// the run could not be carried out (program missing: ErrEngineNotFound;
// isolation this backend cannot give: errors.ErrUnsupported; ctx already
// done); an engine that fails is a Result.
//
// spec.Stdin is copied to the process's standard input until it returns
// EOF, which the process then reads; it is closed, when an io.Closer, once
// the process exited (or Run failed to start it). A live stdin
// (spec.LiveStdin) is the same here: a process cannot outlive Run, so
// there is nothing to detach, and Result.StdinEnded stays false (the
// process ends on its own when it reads EOF).
func (r *Runner) Run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error) {
	closeStdin := sync.OnceFunc(func() {
		if c, ok := spec.Stdin.(io.Closer); ok {
			c.Close()
		}
	})
	defer closeStdin()
	if err := ctx.Err(); err != nil {
		return sandbox.Result{}, fmt.Errorf("run %s: %w", spec.Name, err)
	}
	pl, err := makePlan(spec, r.homeRoot, r.hostPath)
	if err != nil {
		return sandbox.Result{}, err
	}
	if err := makeVolumes(r.homeRoot, pl.volumes); err != nil {
		return sandbox.Result{}, fmt.Errorf("run %s: %w", spec.Name, err)
	}
	bin, err := lookPath(spec.Argv[0], pl.path, pl.dir)
	if err != nil {
		return sandbox.Result{}, fmt.Errorf("run %s: %w", spec.Name, err)
	}
	cmd := &exec.Cmd{
		Path: bin,
		Args: spec.Argv,
		Env:  pl.env,
		Dir:  pl.dir,
		// A session of its own: a process group to signal as a whole, and
		// no controlling terminal for an engine to block on.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	p, err := startWithPipes(cmd, spec.Stdin != nil)
	if err != nil {
		return sandbox.Result{}, fmt.Errorf("start %s for %s: %w", bin, spec.Name, err)
	}
	defer p.close()
	log := r.log.With("container", spec.Name, "pid", cmd.Process.Pid)
	log.Debug("process started", "path", bin, "dir", pl.dir)
	return r.supervise(ctx, cmd, p, spec, closeStdin, onLine, log), nil
}

// makeVolumes creates the volume directories (and their root), private to
// the bridge's user.
func makeVolumes(root string, dirs []string) error {
	if len(dirs) == 0 {
		return nil
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("create home root: %w", err)
	}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create volume directory: %w", err)
		}
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return fmt.Errorf("volume directory %s is not a directory", d)
		}
	}
	return nil
}

// pipes are the parent's ends of the process's standard streams.
type pipes struct {
	stdout, stderr *os.File
	stdin          *os.File // nil: the process reads /dev/null
}

// close closes every end; closing an end a reader or writer is blocked on
// releases it. Closing twice is harmless.
func (p *pipes) close() {
	for _, f := range []*os.File{p.stdout, p.stderr, p.stdin} {
		if f != nil {
			f.Close()
		}
	}
}

// startWithPipes starts cmd with pipes for stdout, stderr and, with stdin,
// standard input. The child's ends are closed in the parent, so each pipe
// ends when the last process holding it does.
func startWithPipes(cmd *exec.Cmd, stdin bool) (*pipes, error) {
	var p pipes
	var child []*os.File
	defer func() {
		for _, f := range child {
			f.Close()
		}
	}()
	fail := func(err error) (*pipes, error) {
		p.close()
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fail(fmt.Errorf("create stdout pipe: %w", err))
	}
	p.stdout, cmd.Stdout, child = r, w, append(child, w)
	if r, w, err = os.Pipe(); err != nil {
		return fail(fmt.Errorf("create stderr pipe: %w", err))
	}
	p.stderr, cmd.Stderr, child = r, w, append(child, w)
	if stdin {
		if r, w, err = os.Pipe(); err != nil {
			return fail(fmt.Errorf("create stdin pipe: %w", err))
		}
		p.stdin, cmd.Stdin, child = w, r, append(child, r)
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	return &p, nil
}

// supervise streams the output of a started process, stops it on cancel or
// timeout, and reads how it ended. Every goroutine it starts has ended when
// it returns.
// closeStdin closes spec.Stdin when it is an io.Closer.
func (r *Runner) supervise(ctx context.Context, cmd *exec.Cmd, p *pipes, spec sandbox.Spec, closeStdin func(), onLine func([]byte), log *slog.Logger) sandbox.Result {
	started := time.Now()
	pgid := cmd.Process.Pid

	stdout := &sandbox.LineWriter{Emit: onLine}
	stderr := &sandbox.TailWriter{Max: sandbox.StderrTail}
	var streams sync.WaitGroup
	streams.Go(func() {
		if _, err := io.Copy(stdout, p.stdout); err != nil && !errors.Is(err, os.ErrClosed) {
			log.Warn("read stdout", "err", err)
		}
		stdout.Close()
	})
	streams.Go(func() {
		if _, err := io.Copy(stderr, p.stderr); err != nil && !errors.Is(err, os.ErrClosed) {
			log.Warn("read stderr", "err", err)
		}
	})
	// The copy of stdin is not one of the streams: it may block in Read
	// until the Stdin is closed, which happens once the process exited.
	var feed sync.WaitGroup
	if p.stdin != nil {
		feed.Go(func() {
			// A process that exits without reading all of it is not an
			// error: the write fails with EPIPE. The process reads EOF
			// when Stdin does.
			if _, err := io.Copy(p.stdin, spec.Stdin); err != nil {
				log.Debug("copy stdin", "err", err)
			}
			p.stdin.Close()
		})
	}

	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	var res sandbox.Result
	var timeout <-chan time.Time
	if spec.Limits.Timeout > 0 {
		t := time.NewTimer(spec.Limits.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-exited:
	case <-ctx.Done():
		res.Cancelled = true
		stop(pgid, spec.StopGrace, exited, log)
	case <-timeout:
		res.TimedOut = true
		stop(pgid, spec.StopGrace, exited, log)
	}
	<-exited
	closeStdin() // ends a copy blocked in Read
	feed.Wait()
	// Whatever the engine left in its group (tool servers, shells) dies with
	// it. The group id cannot name a stranger yet: Linux keeps a pid
	// allocated while it is any live process's group id, and hands out pids
	// in a cycle, so reuse needs the group gone and the counter wrapped.
	signalGroup(pgid, syscall.SIGKILL, log)

	r.drainStreams(&streams, p, log)
	res.StderrTail = stderr.String()
	res.ExitCode = exitCode(cmd.ProcessState, waitErr, log)
	res.Duration = time.Since(started)
	res.Usage = usageOf(cmd.ProcessState)
	log.Debug("process ended", "exit", res.ExitCode, "cancelled", res.Cancelled, "timed_out", res.TimedOut)
	return res
}

// drainStreams waits for the output to end. Everything in the group is dead
// by now, so only a process that left the group can hold a pipe open; after
// r.drain the pipes are closed under it.
func (r *Runner) drainStreams(streams *sync.WaitGroup, p *pipes, log *slog.Logger) {
	drained := make(chan struct{})
	go func() {
		streams.Wait()
		close(drained)
	}()
	t := time.NewTimer(r.drain)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
		log.Warn("output did not end after exit: a process left the group; abandoning it")
		p.close()
		<-drained
	}
}

// stop sends SIGTERM to the group and SIGKILL after grace, returning when
// the group's leader has exited.
func stop(pgid int, grace time.Duration, exited <-chan struct{}, log *slog.Logger) {
	if grace <= 0 {
		grace = defaultStopGrace
	}
	signalGroup(pgid, syscall.SIGTERM, log)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		log.Debug("process ignored SIGTERM; killing it", "grace", grace)
		signalGroup(pgid, syscall.SIGKILL, log)
		<-exited
	}
}

func signalGroup(pgid int, sig syscall.Signal, log *slog.Logger) {
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		log.Warn("signal process group", "signal", sig.String(), "err", err)
	}
}

// exitCode is the process's exit status, or 128+signal for a process a
// signal killed.
func exitCode(ps *os.ProcessState, waitErr error, log *slog.Logger) int {
	if ps == nil {
		log.Warn("wait for process", "err", waitErr)
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// usageOf is what the engine's process used, as the kernel accounted it
// when it was reaped: its CPU time and its children's that it waited for,
// and the largest resident set among them (there is no cgroup: not the
// sum of the group, and no limit). Nil when unknown.
func usageOf(ps *os.ProcessState) *sandbox.Usage {
	if ps == nil {
		return nil
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return nil
	}
	return &sandbox.Usage{
		PeakMemory: ru.Maxrss << 10, // KiB on Linux
		CPU:        ps.UserTime() + ps.SystemTime(),
		Complete:   true,
	}
}
