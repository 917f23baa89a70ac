package process

// This file is a copy of sandbox/podman/lines.go: both backends split the
// engine's stdout the same way. It belongs in one shared place once a third
// user appears or the two drift.

import "bytes"

// maxLine bounds one stdout line; longer lines are cut (the decoder then
// fails on them and counts them) instead of growing memory without bound.
const maxLine = 32 << 20

// lineWriter splits a byte stream into lines and hands each, without its
// newline, to emit. The slice passed to emit is only valid during the call.
// It is written to by one goroutine.
type lineWriter struct {
	buf      []byte
	dropping bool // the current line passed maxLine: skip to its end
	emit     func([]byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.append(p)
			break
		}
		w.append(p[:i])
		w.flushLine()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) append(p []byte) {
	if w.dropping {
		return
	}
	if len(w.buf)+len(p) > maxLine {
		w.buf = append(w.buf, p[:maxLine-len(w.buf)]...)
		w.dropping = true
		return
	}
	w.buf = append(w.buf, p...)
}

func (w *lineWriter) flushLine() {
	w.emit(bytes.TrimSuffix(w.buf, []byte{'\r'}))
	w.buf = w.buf[:0]
	w.dropping = false
}

// Close emits a last line that had no newline.
func (w *lineWriter) Close() {
	if len(w.buf) > 0 {
		w.flushLine()
	}
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string { return string(t.buf) }
