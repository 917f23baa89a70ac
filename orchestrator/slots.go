package orchestrator

import (
	"context"
	"slices"
	"sync"
)

// slots caps how many runs are in their containers at once. It is a fair
// semaphore: when none is free, runs get one in the order they asked, so a
// busy chat cannot starve the others. A nil *slots has no cap.
type slots struct {
	mu      sync.Mutex
	size    int
	used    int
	waiters []chan struct{} // in arrival order; closed when handed a slot
}

// newSlots returns slots for n runs at once; n <= 0 means no cap (nil).
func newSlots(n int) *slots {
	if n <= 0 {
		return nil
	}
	return &slots{size: n}
}

// acquire takes a slot. When none is free it joins the wait list, calls
// waiting once (without holding the lock, and already in line so a slot
// freed meanwhile is not lost), then blocks. It returns ctx's error, holding
// no slot, if ctx ends first. Safe for concurrent use.
func (s *slots) acquire(ctx context.Context, waiting func()) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.used < s.size && len(s.waiters) == 0 {
		s.used++
		s.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	s.waiters = append(s.waiters, ready)
	s.mu.Unlock()

	waiting()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	if i := slices.Index(s.waiters, ready); i >= 0 {
		s.waiters = slices.Delete(s.waiters, i, i+1)
		s.mu.Unlock()
		return ctx.Err()
	}
	s.mu.Unlock()
	// A slot was handed over just as ctx ended: pass it on.
	s.release()
	return ctx.Err()
}

// take takes a slot even when none is free, for a run whose container
// already runs (one restored after a restart): the cap delays new runs
// until it is back under. Safe for concurrent use.
func (s *slots) take() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.used++
	s.mu.Unlock()
}

// release gives back a slot taken by acquire, straight to the longest
// waiter if there is one. Safe for concurrent use.
func (s *slots) release() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiters) > 0 && s.used <= s.size {
		close(s.waiters[0])
		s.waiters = s.waiters[1:]
		return
	}
	s.used--
}
