package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The process `run` starts reads the FIFO; each `write` delivers its input
// and ends, and the process reads no EOF in between: it answers the next
// writer's line too.
func TestStdinHelperKeepsTheConversationOpen(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "stdin")
	writer := fakeCmd{name: stdinHelperName, args: []string{"write", fifo}, dir: dir}
	// The writer comes first: it waits for the FIFO.
	first := writer
	first.stdin = `{"id":"1","type":"echo"}` + "\n"
	wrote := make(chan fakeResult, 1)
	go func() { wrote <- first.run(t) }()
	time.Sleep(100 * time.Millisecond)

	pi := fakeCmd{name: stdinHelperName, dir: dir,
		args: []string{"run", fifo, "--", "pi", "--mode", "rpc", "--provider", "mock", "--model", "mock-model"}}.start(t)
	if r := <-wrote; r.code != 0 {
		t.Fatalf("first write: exit %d: %s", r.code, r.stderr)
	}
	for i, id := range []string{"1", "2"} {
		if i > 0 {
			next := writer
			next.stdin = `{"id":"` + id + `","type":"echo"}` + "\n"
			if r := next.run(t); r.code != 0 {
				t.Fatalf("write %s: exit %d: %s", id, r.code, r.stderr)
			}
		}
		line := pi.readLine(t)
		if !strings.HasPrefix(line, `{"id":"`+id+`","type":"response","command":"echo"`) {
			t.Fatalf("answer %d = %q", i, line)
		}
	}
	if pi.cmd.ProcessState != nil {
		t.Fatalf("the process ended: %v", pi.cmd.ProcessState)
	}
}

func TestStdinHelperUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"run", "/tmp/x"}, {"run", "/tmp/x", "pi"}, {"write"}, {"write", "/tmp/x", "extra"}, {"read", "/tmp/x"}} {
		r := fakeCmd{name: stdinHelperName, args: args}.run(t)
		if r.code != exitBadDirective || !strings.Contains(r.stderr, "usage: untether-stdin") {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}
