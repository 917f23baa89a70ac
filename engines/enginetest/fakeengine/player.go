package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// player replays one stream with the misbehaviour the directives ask for.
type player struct {
	out       *output
	stderr    io.Writer
	stream    stream
	exitCode  int // the status when the replay completes
	errorExit int // the status when stdout cannot be written
	d         directives
	// interrupted returns the status of a run a signal ended; nil means
	// 128+signal.
	interrupted func(p *player, sig int) int
	// completed is set when the whole stream was replayed.
	completed bool
}

// run plays the stream until it ends or a signal ends it, and returns the
// exit status.
func (p *player) run() int {
	ctx, stop := watchSignals(p.d.ignoreTerm)
	defer stop()
	code := p.play(ctx)
	if sig := signalled(ctx); sig != 0 {
		p.completed = false
		if p.interrupted != nil {
			return p.interrupted(p, sig)
		}
		return 128 + sig
	}
	return code
}

// play runs the phases described on directives after the captured stderr
// and returns the exit status. When ctx ends (a signal) it returns at once;
// run turns the signal into the status.
func (p *player) play(ctx context.Context) int {
	if _, err := p.stderr.Write(p.stream.stderr); err != nil {
		return p.errorExit
	}
	lines := p.stream.lines
	// The first line announces the session in every captured stream: the
	// misbehaviour comes after it, so a supervisor knows the session.
	head := min(1, len(lines))
	for i := range head {
		if err := p.emit(ctx, i); err != nil {
			return p.stopped(err)
		}
	}
	for _, name := range p.d.writes {
		os.MkdirAll(filepath.Dir(name), 0o755)
		if err := os.WriteFile(name, []byte("hello\n"), 0o644); err != nil {
			fmt.Fprintf(p.stderr, "fakeengine: write %s: %v\n", name, err)
		}
	}
	if p.d.probe {
		if err := writeProbe(probeFile); err != nil {
			fmt.Fprintf(p.stderr, "fakeengine: probe: %v\n", err)
		}
	}
	if err := p.streamUsage(ctx); err != nil {
		return p.stopped(err)
	}
	// Spin first: at a pids limit the runtime could not start its threads.
	if p.d.spin {
		stopSpin := spin()
		defer stopSpin()
	}
	if p.d.forkbomb > 0 {
		forkbomb(ctx, p.d.forkbomb, p.stderr)
	}
	if p.d.sleep > 0 && !wait(ctx, p.d.sleep) {
		return 0
	}
	if p.d.hog > 0 && !hog(ctx, p.d.hog, p.stderr) {
		return 0
	}
	if p.d.childOOM {
		oomChild(ctx, p.stderr)
	}
	switch {
	case p.d.oom:
		allocateUntilKilled(ctx, p.stderr)
		return 0
	case p.d.exit:
		crash(p.stderr, p.d.exitCode)
		return p.d.exitCode
	}
	for i := head; i < len(lines); i++ {
		if p.d.cut && i == len(lines)-1 {
			// A crash in the middle of writing the final event.
			l := lines[i]
			p.out.w.Write(l[:len(l)/2])
			fmt.Fprintln(p.stderr, "fakeengine: cut the stream on request")
			return 1
		}
		if err := p.emit(ctx, i); err != nil {
			return p.stopped(err)
		}
	}
	if err := p.out.finish(); err != nil {
		fmt.Fprintf(p.stderr, "fakeengine: write stdout: %v\n", err)
		return p.errorExit
	}
	p.completed = true
	return p.exitCode
}

// emit prints line i, after the delay (or, for a piece of a streamed
// answer, the gap between pieces) and the garbage that go before it. It
// returns ctx's error when a signal ends the run, else a write error.
func (p *player) emit(ctx context.Context, i int) error {
	gap := p.d.delay
	if p.stream.paced[i] {
		gap = p.d.gap() // a piece of a streamed answer
	}
	if i > 0 && gap > 0 {
		if !wait(ctx, gap) {
			return ctx.Err()
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	if i > 0 && p.d.garbage {
		if err := p.out.garbage(garbageLine(i - 1)); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
	}
	if err := p.out.line(p.stream.lines[i]); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

// stopped returns the exit status of a replay that emit stopped: run
// replaces it with the signal's status when a signal ended the run.
func (p *player) stopped(err error) int {
	if errors.Is(err, context.Canceled) {
		return 0
	}
	fmt.Fprintf(p.stderr, "fakeengine: %v\n", err)
	return p.errorExit
}

// wait sleeps for d and reports whether the run may go on.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// output writes what the run prints in the requested format: stream-json
// (what every fake prints) prints every line as it comes; claude's json
// prints the result event at the end, its text the result string.
type output struct {
	w      io.Writer
	format string
	result []byte
}

// line prints one event. Each line goes out in one write, unbuffered, so a
// signal that ends the run never leaves a line half printed or unflushed.
func (o *output) line(l []byte) error {
	if o.format == "stream-json" {
		_, err := o.w.Write(append(l[:len(l):len(l)], '\n'))
		return err
	}
	if lineType(l) == "result" {
		o.result = l
	}
	return nil
}

// garbage prints a line that is not an event; only streams carry them.
func (o *output) garbage(l []byte) error {
	if o.format != "stream-json" {
		return nil
	}
	_, err := o.w.Write(append(l[:len(l):len(l)], '\n'))
	return err
}

// finish prints what json and text formats print at the end.
func (o *output) finish() error {
	if o.result == nil {
		return nil
	}
	switch o.format {
	case "json":
		_, err := o.w.Write(append(o.result[:len(o.result):len(o.result)], '\n'))
		return err
	case "text":
		var ev struct {
			Result string `json:"result"`
		}
		_ = json.Unmarshal(o.result, &ev)
		_, err := io.WriteString(o.w, ev.Result+"\n")
		return err
	}
	return nil
}
