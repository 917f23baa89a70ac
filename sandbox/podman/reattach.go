package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// Detach makes the Runner leave its runs running, for a daemon that drains
// with policy detach and will be followed by another that calls Reattach.
// From the call on, every Run and Reattach in flight returns
// sandbox.ErrDetached promptly (its calls to the service are abandoned at
// once) and leaves its container running and in place; later calls return
// ErrDetached at once and create nothing.
// A cancelled Run or Reattach whose ctx ends after Detach returns
// ErrDetached too, whatever step the cancel interrupted.
//
// Call Detach before cancelling the runs' contexts: a cancel that comes after
// Detach no longer stops containers, one that comes before still does.
// Detach cannot be undone; it is idempotent and safe for concurrent use.
func (r *Runner) Detach() {
	r.detachOnce.Do(func() { close(r.detached) })
}

// detachedErr turns the error of a call that a cancel after Detach
// interrupted (a drain detaches, then cancels) into sandbox.ErrDetached: the
// run was not carried out here, which is no failure of the run. A container
// such a call had created but not started is removed (unless kept).
func (r *Runner) detachedErr(ctx context.Context, op string, err error) error {
	if err == nil || errors.Is(err, sandbox.ErrDetached) || ctx.Err() == nil || !r.isDetached() {
		return err
	}
	return fmt.Errorf("%s: %w: %w", op, sandbox.ErrDetached, err)
}

func (r *Runner) isDetached() bool {
	select {
	case <-r.detached:
		return true
	default:
		return false
	}
}

// Reattach takes over the container called name, started by Run in this or
// an earlier process, and finishes it as Run would: it streams the
// container's stdout to onLine from its very first line (from a single
// goroutine, in order, before Reattach returns; lines split as Run splits
// them, a last line without newline included), waits for the container to
// end, and removes it unless it was created with Spec.Keep. A container that
// ended while nobody watched yields its whole stdout and its Result at once;
// a kept one does so as often as it is reattached.
//
// The run's timeout (recorded on the container by Run) still counts from the
// container's start: Reattach stops it at the same deadline and sets
// TimedOut; a container that outlived its deadline while nobody watched and
// then exited on its own is reported as it ended. Cancelling ctx stops the
// container and sets Cancelled, unless Detach was called first: then, as
// with Run, Reattach returns sandbox.ErrDetached and the container keeps
// running. Result.Duration is the container's own running time.
//
// stdin, when not nil, is copied to the live stdin of a container created
// with Spec.LiveStdin, from now on, through a new writer (see Run): its EOF
// stops the container and sets StdinEnded, a detach leaves the process's
// stdin open again. Like Spec.Stdin it is closed, when an io.Closer, once
// Reattach returns (at once when the container no longer runs). A stdin
// for a container created without a live stdin is an error, and nothing
// is followed or removed.
//
// Errors: sandbox.ErrNotFound when there is no container of that name, or
// it was created but never started (it is then removed, even if kept, so
// that a Run of the same name can start the run anew);
// sandbox.ErrUnavailable when Podman cannot be reached. Reattach is safe for
// concurrent use on different containers; two Reattach of one container
// each get the whole stream, and the second to finish fails to remove it.
func (r *Runner) Reattach(ctx context.Context, name string, stdin io.Reader, onLine func([]byte)) (sandbox.Result, error) {
	sc := &stdinCloser{r: stdin}
	defer sc.close()
	res, err := r.reattach(ctx, name, sc, onLine)
	return res, r.detachedErr(ctx, "reattach to container "+name, err)
}

func (r *Runner) reattach(ctx context.Context, name string, stdin *stdinCloser, onLine func([]byte)) (sandbox.Result, error) {
	if r.isDetached() {
		return sandbox.Result{}, fmt.Errorf("reattach to container %s: %w", name, sandbox.ErrDetached)
	}
	w, info, err := r.inspectRun(ctx, name)
	if err != nil {
		return sandbox.Result{}, err
	}
	if stdin.r != nil && !info.live {
		return sandbox.Result{}, fmt.Errorf("reattach to container %s with a stdin: it was created without a live stdin (Spec.LiveStdin)", name)
	}
	log := r.log.With("container", name)
	keep := false
	defer func() {
		if !keep {
			r.remove(w.id, log)
		}
	}()
	switch info.state {
	case "running", "paused", "stopping", "exited", "stopped":
	default: // created or configured: the daemon died before starting it
		return sandbox.Result{}, fmt.Errorf("reattach to container %s: %s, never started: %w", name, info.state, sandbox.ErrNotFound)
	}
	log.Debug("reattaching", "state", info.state)
	if info.state != "running" {
		stdin.close() // nothing will read it: no feed
		stdin = &stdinCloser{}
	}
	res, err := r.follow(ctx, w, stdin, onLine, log)
	keep = info.keep || errors.Is(err, sandbox.ErrDetached)
	return res, err
}

// runInfo is what Reattach learns of a container besides its watch.
type runInfo struct {
	state string // as podman says: running, exited, created, ...
	keep  bool   // created with Spec.Keep
	live  bool   // created with Spec.LiveStdin
}

// inspectRun reads what Run recorded on a container and its state. The
// deadline is set only while the container runs.
func (r *Runner) inspectRun(ctx context.Context, name string) (watch, runInfo, error) {
	data, err := r.inspect(ctx, name)
	if err != nil {
		if notFound(err) {
			return watch{}, runInfo{}, fmt.Errorf("reattach to container %s: %w", name, sandbox.ErrNotFound)
		}
		return watch{}, runInfo{}, r.unavailable(fmt.Errorf("inspect container %s: %w", name, err))
	}
	if data.State == nil || data.Config == nil {
		return watch{}, runInfo{}, fmt.Errorf("inspect container %s: incomplete answer", name)
	}
	w := watch{
		id:    data.ID,
		name:  name,
		grace: time.Duration(data.Config.StopTimeout) * time.Second,
	}
	if data.HostConfig != nil {
		w.memoryLimit = data.HostConfig.Memory > 0
	}
	info := runInfo{
		state: data.State.Status,
		keep:  data.Config.Labels[labelKeep] == "true",
		live:  data.Config.Labels[labelStdin] == stdinLive,
	}
	if info.state == "running" || info.state == "paused" || info.state == "stopping" {
		timeout, err := time.ParseDuration(data.Config.Labels[labelTimeout])
		if err == nil && timeout > 0 && !data.State.StartedAt.IsZero() {
			w.deadline = data.State.StartedAt.Add(timeout)
		}
	}
	return w, info, nil
}

// follow streams a started container's logs while waiting for it to end,
// and feeds stdin (unless closed) to its live stdin meanwhile.
func (r *Runner) follow(ctx context.Context, w watch, stdin *stdinCloser, onLine func([]byte), log *slog.Logger) (sandbox.Result, error) {
	m := r.newMeter(w.id, w.name, 0, log)
	lines := &sandbox.LineWriter{Emit: func(line []byte) { onLine(line); m.poke() }}
	tail := &sandbox.TailWriter{Max: sandbox.StderrTail}
	stdout, stderr := &resumeWriter{w: lines}, &resumeWriter{w: tail}

	// Like Run's attach, the stream outlives ctx: a cancelled run's last
	// output is still read.
	logCtx, cancelLogs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelLogs()
	streamed := make(chan error, 1)
	go func() {
		err := r.readLogs(logCtx, w.id, true, stdout, stderr)
		m.flush() // as in Run: the cgroup may go any moment
		streamed <- err
	}()

	m.start()
	w.meter = m
	feed := r.openFeed(ctx, w.id, stdin, log)
	w.stdinEnded = feed.endedC()
	res, waitErr := r.wait(ctx, w, log)
	feed.stop()
	if errors.Is(waitErr, sandbox.ErrDetached) {
		cancelLogs()
		<-streamed
		return res, waitErr
	}
	if err := r.finishLogs(ctx, w, streamed, cancelLogs, stdout, stderr, log); err != nil && waitErr == nil {
		waitErr = err
	}
	lines.Close()
	res.StderrTail = tail.String()
	return res, waitErr
}

// finishLogs waits for the followed log stream to end after the container
// exited. A stream that fails or lingers is abandoned and the log read once
// more from the start, passing on only what the first read had not.
func (r *Runner) finishLogs(ctx context.Context, w watch, streamed <-chan error, cancelLogs context.CancelFunc,
	stdout, stderr *resumeWriter, log *slog.Logger) error {
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case err := <-streamed:
		if err == nil {
			return nil
		}
		log.Warn("log stream failed; reading the log again", "err", err)
	case <-t.C:
		log.Warn("log stream did not end after exit; reading the log again")
		cancelLogs()
		<-streamed
	}
	stdout.restart()
	stderr.restart()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := r.readLogs(rctx, w.id, false, stdout, stderr); err != nil {
		return r.unavailable(fmt.Errorf("read logs of container %s: %w", w.name, err))
	}
	return nil
}

// readLogs copies a container's logged stdout and stderr, from the start,
// to stdout and stderr; with follow it goes on until the container exits.
// The service sends each logged chunk with its newline restored, so the
// bytes are those the process wrote.
func (r *Runner) readLogs(ctx context.Context, id string, follow bool, stdout, stderr io.Writer) error {
	q := url.Values{"follow": {fmt.Sprint(follow)}, "stdout": {"true"}, "stderr": {"true"}}
	req, err := r.api.request(ctx, http.MethodGet, endpoint("/containers/%s/logs", id), q, nil)
	if err != nil {
		return err
	}
	resp, err := r.api.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return demux(resp.Body, stdout, stderr)
}

// resumeWriter passes a stream on to w, skipping the bytes an earlier read
// of the same stream already passed on, so that the stream can be read again
// from its start without repeating anything. It counts what it is given.
type resumeWriter struct {
	w    io.Writer
	pos  int64 // bytes given in this read
	from int64 // bytes passed on by earlier reads
}

func (s *resumeWriter) Write(p []byte) (int, error) {
	n := len(p)
	if skip := s.from - s.pos; skip > 0 {
		if int64(n) <= skip {
			s.pos += int64(n)
			return n, nil
		}
		p = p[skip:]
		s.pos += skip
	}
	s.pos += int64(len(p))
	if _, err := s.w.Write(p); err != nil {
		return n, err
	}
	return n, nil
}

// restart prepares for a new read from the start of the stream.
func (s *resumeWriter) restart() {
	s.from = max(s.from, s.pos)
	s.pos = 0
}
