package sandbox

import "bytes"

// MaxLine bounds one stdout line; longer lines are cut (the decoder then
// fails on them and counts them) instead of growing memory without bound.
const MaxLine = 32 << 20

// StderrTail is how much of a run's stderr backends keep for messages.
const StderrTail = 4 << 10

// LineWriter splits a byte stream into lines and hands each, without its
// newline, to Emit. The slice passed to Emit is only valid during the call.
// It is written to by one goroutine.
type LineWriter struct {
	buf      []byte
	dropping bool // the current line passed MaxLine: skip to its end
	Emit     func([]byte)
}

func (w *LineWriter) Write(p []byte) (int, error) {
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

func (w *LineWriter) append(p []byte) {
	if w.dropping {
		return
	}
	if len(w.buf)+len(p) > MaxLine {
		w.buf = append(w.buf, p[:MaxLine-len(w.buf)]...)
		w.dropping = true
		return
	}
	w.buf = append(w.buf, p...)
}

func (w *LineWriter) flushLine() {
	w.Emit(bytes.TrimSuffix(w.buf, []byte{'\r'}))
	w.buf = w.buf[:0]
	w.dropping = false
}

// Close emits a last line that had no newline.
func (w *LineWriter) Close() {
	if len(w.buf) > 0 {
		w.flushLine()
	}
}

// TailWriter keeps the last Max bytes written to it.
type TailWriter struct {
	Max int
	buf []byte
}

func (t *TailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.Max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *TailWriter) String() string { return string(t.buf) }
