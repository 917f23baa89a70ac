package orchestrator

import (
	"context"
	"sync"
	"sync/atomic"
)

// lifetime is the bridge's life: the context every run derives from, the
// goroutines Close waits for, and whether the bridge drains or closed.
// Every part holds the one lifetime of its Orchestrator.
type lifetime struct {
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	draining atomic.Bool

	mu sync.Mutex
	// closed is set by close: from then on no goroutine is started, so
	// that none is added while close waits for them.
	closed bool
}

func newLifetime() *lifetime {
	ctx, cancel := context.WithCancel(context.Background())
	return &lifetime{ctx: ctx, cancel: cancel}
}

// close cancels ctx and waits for every owned goroutine.
func (l *lifetime) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
}

func (l *lifetime) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// add counts n goroutines about to start, each of which calls done; false
// (and nothing counted) once close was called.
func (l *lifetime) add(n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(n)
	return true
}

// addChild counts a goroutine started by an owned one, which calls done.
// Unlike add it never refuses: close cannot return before the caller,
// which it waits for, ends.
func (l *lifetime) addChild() { l.wg.Add(1) }

func (l *lifetime) done() { l.wg.Done() }

// goOwned runs f in a goroutine close waits for; false (and f not run)
// once close was called.
func (l *lifetime) goOwned(f func()) bool {
	if !l.add(1) {
		return false
	}
	go func() {
		defer l.done()
		f()
	}()
	return true
}

// stopping reports whether the bridge takes no new runs: it drains or
// closes.
func (l *lifetime) stopping() bool { return l.draining.Load() || l.ctx.Err() != nil }

// shuttingDown reports whether close began: runs are being cancelled.
func (l *lifetime) shuttingDown() bool { return l.ctx.Err() != nil }
