package orchestrator

import (
	"errors"
	"io"
	"sync"
)

// liveInput is a run's stdin: writes never block (they queue), reads wait
// for them. End makes the reader see EOF once the queue is read; Close
// (the sandbox's, once the run ended or detached) makes reads and writes
// fail at once.
type liveInput struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	ended  bool
	closed bool
}

func newLiveInput() *liveInput {
	l := &liveInput{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

var errInputClosed = errors.New("stdin closed")

func (l *liveInput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.ended {
		return 0, errInputClosed
	}
	l.buf = append(l.buf, p...)
	l.cond.Broadcast()
	return len(p), nil
}

func (l *liveInput) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.buf) == 0 && !l.ended && !l.closed {
		l.cond.Wait()
	}
	switch {
	case l.closed:
		return 0, errInputClosed
	case len(l.buf) == 0:
		return 0, io.EOF
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}

// End ends the input once what is queued was read.
func (l *liveInput) End() {
	l.mu.Lock()
	l.ended = true
	l.cond.Broadcast()
	l.mu.Unlock()
}

// Close stops the input at once.
func (l *liveInput) Close() error {
	l.mu.Lock()
	l.closed = true
	l.cond.Broadcast()
	l.mu.Unlock()
	return nil
}
