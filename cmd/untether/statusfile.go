package main

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/untether-go/untether/orchestrator/state"
)

// statusWriteInterval is how often the daemon rewrites its status file, and
// so how stale the file's last poll and run counts may be.
const statusWriteInterval = 5 * time.Second

type statusWriterOptions struct {
	Path        string // state.StatusPath(cfg.Dir)
	Version     string
	Instance    string
	ConfigPath  string
	PollTimeout time.Duration
	Logger      *slog.Logger
	// Interval overrides statusWriteInterval (tests).
	Interval time.Duration
}

// statusWriter keeps the instance's status.json current while the daemon
// lives: at Start, on a timer, at once when something a reader branches on
// changes (first poll, drain), and one last time, as stopped, at Close.
type statusWriter struct {
	opts statusWriterOptions
	kick chan struct{}

	mu     sync.Mutex
	status state.Status
	stats  func() (running, queued int)

	lastErr string // owned by the writing goroutine

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// newStatusWriter returns a writer that has written nothing yet; Polled may
// be called before Start.
func newStatusWriter(o statusWriterOptions) *statusWriter {
	if o.Interval <= 0 {
		o.Interval = statusWriteInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &statusWriter{
		opts: o,
		kick: make(chan struct{}, 1),
		status: state.Status{
			PID: os.Getpid(), Version: o.Version, Instance: o.Instance, ConfigPath: o.ConfigPath,
			Started: time.Now(), PollTimeout: o.PollTimeout, State: state.StateRunning,
		},
	}
}

// Start writes the file and keeps it current until Close, also after ctx
// ends: the drain that follows a SIGTERM is reported too. stats counts the
// runs in flight and queued; it must be safe for concurrent use.
func (w *statusWriter) Start(ctx context.Context, stats func() (running, queued int)) {
	w.mu.Lock()
	w.stats = stats
	w.mu.Unlock()
	ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	w.write()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.loop(ctx)
	}()
}

func (w *statusWriter) loop(ctx context.Context) {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
		w.write()
	}
}

// Polled records a successful getUpdates. The first one makes the daemon
// ready and is written at once. Safe for concurrent use; cheap.
func (w *statusWriter) Polled() {
	w.mu.Lock()
	first := !w.status.Ready
	w.status.Ready = true
	w.status.LastPoll = time.Now()
	w.mu.Unlock()
	if first {
		w.poke()
	}
}

// Draining records that the drain has begun.
func (w *statusWriter) Draining() {
	w.mu.Lock()
	w.status.State = state.StateDraining
	w.mu.Unlock()
	w.poke()
}

func (w *statusWriter) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Close stops the writer, waits for it, and writes the final report with
// state "stopped". Call it after the drain. Idempotent.
func (w *statusWriter) Close() {
	w.closeOnce.Do(func() {
		if w.cancel == nil {
			return
		}
		w.cancel()
		w.wg.Wait()
		w.mu.Lock()
		w.status.State = state.StateStopped
		w.mu.Unlock()
		w.write()
	})
}

// write saves the current report. Only one goroutine writes at a time: the
// loop, or Start and Close around it. A failure is logged once per distinct
// error: the daemon keeps serving chats without its status file.
func (w *statusWriter) write() {
	w.mu.Lock()
	stats := w.stats
	w.mu.Unlock()
	running, queued := 0, 0
	if stats != nil {
		running, queued = stats()
	}
	w.mu.Lock()
	w.status.Running, w.status.Queued = running, queued
	w.status.Updated = time.Now()
	snapshot := w.status
	w.mu.Unlock()
	// Outside the lock: Polled, on the poll loop, never waits for an fsync.
	err := state.WriteStatus(w.opts.Path, snapshot)
	switch {
	case err != nil && err.Error() != w.lastErr:
		w.opts.Logger.Warn("write status file", "path", w.opts.Path, "err", err)
		w.lastErr = err.Error()
	case err == nil:
		w.lastErr = ""
	}
}
