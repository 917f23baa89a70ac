package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/untether-go/untether/sandbox"
)

// A live stdin (Spec.LiveStdin) cannot be the container's own: conmon
// closes that as soon as the first attach ends, so a bridge that detaches
// or dies would end the conversation. The process reads a FIFO instead,
// which it holds open read-write itself and so never reads EOF from, and
// each Run or Reattach writes to the FIFO through one exec session of the
// helper's write command. The helper is installed in every image that runs
// interactive sessions (images/*/Containerfile, images/testengine):
//
//	untether-stdin run FIFO -- ARGV...  make FIFO if missing, exec ARGV with FIFO (read-write) as fd 0
//	untether-stdin write FIFO           wait until FIFO exists, copy stdin into it
const (
	stdinHelper = "untether-stdin"
	stdinFIFO   = "/tmp/.untether-stdin"
)

// labelStdin marks a container created with Spec.LiveStdin; its value is
// stdinLive.
const (
	labelStdin = "untether.stdin"
	stdinLive  = "live"
)

// liveArgv wraps argv in the helper that gives it the live stdin.
func liveArgv(argv []string) []string {
	return append([]string{stdinHelper, "run", stdinFIFO, "--"}, argv...)
}

// helperMissing turns the start error of a container whose image lacks
// the helper into one that says what to do.
func helperMissing(image string, err error) error {
	if msg := err.Error(); strings.Contains(msg, stdinHelper) && strings.Contains(msg, "not found") {
		return fmt.Errorf("image %s has no %s, which interactive runs need: rebuild it with `untether images build`: %w",
			image, stdinHelper, err)
	}
	return err
}

// stdinCloser closes a Stdin that is an io.Closer, once: Run and Reattach
// close it when they return, and earlier where a copy must end.
type stdinCloser struct {
	r    io.Reader
	once sync.Once
}

func (c *stdinCloser) close() {
	c.once.Do(func() {
		if cl, ok := c.r.(io.Closer); ok {
			cl.Close()
		}
	})
}

// liveFeed copies a run's stdin into its container's FIFO through one
// exec session, for as long as the run is followed here.
type liveFeed struct {
	stdin  *stdinCloser
	stream *attachStream // the exec session
	ended  chan struct{} // closed when stdin returned EOF
	log    *slog.Logger

	stopping atomic.Bool    // set by stop: the copies end because of it
	wg       sync.WaitGroup // the copy to the session and the read of its output
}

// execCreate is the part of podman's exec config the feed sets.
type execCreate struct {
	AttachStdin  bool     `json:"AttachStdin"`
	AttachStdout bool     `json:"AttachStdout"`
	AttachStderr bool     `json:"AttachStderr"`
	Cmd          []string `json:"Cmd"`
	// DetachKeys empty: no byte sequence of the stream ends the session.
	DetachKeys string `json:"DetachKeys"`
}

// openExec starts the helper's write command in the running container id
// and returns its session, stdin raw one way and its multiplexed output
// the other. Closing the write side ends the command.
func (c *client) openExec(ctx context.Context, id string) (*attachStream, error) {
	var created struct {
		ID string `json:"Id"`
	}
	in := execCreate{AttachStdin: true, AttachStderr: true, Cmd: []string{stdinHelper, "write", stdinFIFO}}
	if err := c.call(ctx, http.MethodPost, endpoint("/containers/%s/exec", id), nil, in, &created); err != nil {
		return nil, fmt.Errorf("create exec: %w", err)
	}
	start := struct {
		Detach bool `json:"Detach"`
		Tty    bool `json:"Tty"`
	}{}
	s, err := c.hijack(ctx, endpoint("/exec/%s/start", created.ID), nil, start)
	if err != nil {
		return nil, fmt.Errorf("start exec %s: %w", created.ID, err)
	}
	return s, nil
}

// openFeed starts copying stdin to the live stdin of the running
// container id; it returns nil when stdin is nil. A feed that cannot be
// opened closes stdin, so that its writer fails; the run goes on and ends
// as it would without a writer (cancel or timeout, or on its own).
func (r *Runner) openFeed(ctx context.Context, id string, stdin *stdinCloser, log *slog.Logger) *liveFeed {
	if stdin.r == nil {
		return nil
	}
	f := &liveFeed{stdin: stdin, ended: make(chan struct{}), log: log}
	s, err := r.api.openExec(ctx, id)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusConflict {
			log.Debug("container ended before its stdin was opened", "err", err)
		} else {
			log.Error("open live stdin; its writer fails from now on", "err", r.unavailable(err))
		}
		f.stdin.close()
		return f
	}
	f.stream = s
	f.wg.Go(f.copy)
	f.wg.Go(f.watch)
	return f
}

// copy sends stdin to the session. At EOF it ends the session's input (the
// FIFO stays open: the process holds it) and closes ended.
func (f *liveFeed) copy() {
	_, err := io.Copy(f.stream.conn, f.stdin.r)
	if err == nil {
		if cw, ok := f.stream.conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		close(f.ended)
		return
	}
	if !f.stopping.Load() {
		f.log.Warn("copy to live stdin failed; its writer fails from now on", "err", err)
	}
	f.stdin.close()
}

// watch reads the session's output until it ends. A session that ends on
// its own (the helper failed, the container ended) breaks the feed: stdin
// is closed so that its writer learns at once.
func (f *liveFeed) watch() {
	stderr := &sandbox.TailWriter{Max: 1024}
	err := demux(f.stream.r, io.Discard, stderr)
	if f.stopping.Load() {
		return
	}
	select {
	case <-f.ended:
		return // the session ends because its input did
	default:
	}
	f.log.Debug("live stdin session ended", "err", err, "stderr", stderr.String())
	f.stream.Close()
	f.stdin.close()
}

// endedC returns the channel closed when stdin returned EOF; nil (never)
// for no feed.
func (f *liveFeed) endedC() <-chan struct{} {
	if f == nil {
		return nil
	}
	return f.ended
}

// stop ends the feed without ending the process's stdin: the session is
// closed (its helper reads EOF and exits; the FIFO stays open), stdin is
// closed, and stop returns once both copies ended. Idempotent; nil-safe.
func (f *liveFeed) stop() {
	if f == nil {
		return
	}
	f.stopping.Store(true)
	if f.stream != nil {
		f.stream.Close()
	}
	f.stdin.close()
	f.wg.Wait()
}
