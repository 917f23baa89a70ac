package orchestrator

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

func TestUsageLine(t *testing.T) {
	tests := []struct {
		name string
		u    *sandbox.Usage
		wall time.Duration
		want string
	}{
		{"unknown", nil, time.Minute, ""},
		{"the issue's example", &sandbox.Usage{PeakMemory: 412 << 20, MemoryLimit: 2 << 30, CPU: 38 * time.Second}, 72 * time.Second,
			"⚙ 412 MiB / 2 GiB peak · 38 s CPU · 1m12s"},
		{"no limit, little CPU", &sandbox.Usage{PeakMemory: 3 << 19, CPU: 420 * time.Millisecond}, 3 * time.Second,
			"⚙ 1.5 MiB peak · 0.4 s CPU · 3s"},
		{"long CPU, no wall time", &sandbox.Usage{PeakMemory: 1 << 30, MemoryLimit: 1 << 30, CPU: 125 * time.Second}, 0,
			"⚙ 1 GiB / 1 GiB peak · 2m05s CPU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := usageLine(tt.u, tt.wall); got != tt.want {
				t.Errorf("usageLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStallNote(t *testing.T) {
	u := sandbox.Usage{Memory: 120 << 20, CPUPercent: 0.2}
	if got, want := stallNote(5*time.Minute+40*time.Second, u, true), "⏳ no output for 5m · CPU 0% · 120 MiB"; got != want {
		t.Errorf("stallNote = %q, want %q", got, want)
	}
	if got, want := stallNote(75*time.Minute, u, false), "⏳ no output for 1h15m"; got != want {
		t.Errorf("stallNote without figures = %q, want %q", got, want)
	}
}

// fixedUsage is a UsageReader with one answer.
type fixedUsage struct {
	mu    sync.Mutex
	asked []string
}

func (f *fixedUsage) Usage(name string) (sandbox.Usage, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, name)
	return sandbox.Usage{Memory: 7 << 20, CPUPercent: 3}, true
}

// TestStallNoticeAndFooter: a silent engine's progress message gets the
// stall notice with its container's figures, the notice goes when the
// engine speaks again, and the final answer carries the resource footer.
func TestStallNoticeAndFooter(t *testing.T) {
	chat := newFakeChat()
	stream := fixture(t, "basic.jsonl")
	box := &fakeSandbox{stream: stream, delay: 400 * time.Millisecond,
		result: sandbox.Result{Usage: &sandbox.Usage{PeakMemory: 30 << 20, MemoryLimit: 64 << 20, CPU: 2 * time.Second}, Duration: 3 * time.Second}}
	usage := &fixedUsage{}
	o := newTestOrchestrator(t, box, chat, func(o *Options) {
		o.StallAfter = 150 * time.Millisecond
		o.Usage = usage
	})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	f := chat.waitFinals(t, 1)[0]
	if !strings.Contains(f.Text.S, "⚙ 30 MiB / 64 MiB peak · 2.0 s CPU · 3s") {
		t.Errorf("final answer lacks the footer: %q", f.Text.S)
	}
	chat.mu.Lock()
	defer chat.mu.Unlock()
	stalled, resumed := false, false
	for _, edits := range chat.edits {
		for _, e := range edits {
			switch {
			case strings.Contains(e.S, "⏳ no output for 0s · CPU 3% · 7 MiB"):
				stalled = true
			case stalled:
				resumed = resumed || !strings.Contains(e.S, "⏳")
			}
		}
	}
	if !stalled || !resumed {
		t.Errorf("stall notice shown %v, cleared %v; edits %+v", stalled, resumed, chat.edits)
	}
	usage.mu.Lock()
	defer usage.mu.Unlock()
	if len(usage.asked) == 0 || !strings.HasPrefix(usage.asked[0], "untether-test-") {
		t.Errorf("usage asked of %v, want the run's container", usage.asked)
	}
}

func TestFooterHidden(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"), result: sandbox.Result{Usage: &sandbox.Usage{PeakMemory: 1 << 20}}}
	o := newTestOrchestrator(t, box, chat, func(o *Options) { o.HideUsage = true })
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	if f := chat.waitFinals(t, 1)[0]; strings.Contains(f.Text.S, "⚙") {
		t.Errorf("HideUsage, yet a footer: %q", f.Text.S)
	}
}

func TestCauseOfOutsideEnds(t *testing.T) {
	if got := cause(sandbox.Result{Killed: true, ExitCode: 137}, sandbox.Limits{}, false); !strings.Contains(got, "signal 9") {
		t.Errorf("killed: %q", got)
	}
	if got := cause(sandbox.Result{Gone: true, ExitCode: -1}, sandbox.Limits{}, false); !strings.Contains(got, "removed from outside") {
		t.Errorf("gone: %q", got)
	}
}

func TestKilledForMemory(t *testing.T) {
	tests := []struct {
		name  string
		res   sandbox.Result
		limit int64
		want  string
	}{
		{"none", sandbox.Result{Usage: &sandbox.Usage{}}, 1 << 30, ""},
		{"unknown", sandbox.Result{}, 1 << 30, ""},
		{"the run itself", sandbox.Result{OOMKilled: true, ExitCode: 137, Usage: &sandbox.Usage{OOMKills: 1}}, 1 << 30, ""},
		{"a child", sandbox.Result{Usage: &sandbox.Usage{OOMKills: 1, MemoryLimit: 2 << 30}}, 1 << 30,
			"⚠️ a process in this run was killed for memory (limit 2 GiB)"},
		{"three, the project's limit", sandbox.Result{Usage: &sandbox.Usage{OOMKills: 3}}, 256 << 20,
			"⚠️ 3 processes in this run were killed for memory (limit 256 MiB)"},
		{"no limit known", sandbox.Result{Usage: &sandbox.Usage{OOMKills: 1}}, 0,
			"⚠️ a process in this run was killed for memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := killedForMemory(tt.res, tt.limit); got != tt.want {
				t.Errorf("killedForMemory = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestChildKilledForMemoryIsTold: a run whose agent lived on after the
// OOM killer ended one of its processes is done, and its answer says so,
// also with the resource footer off.
func TestChildKilledForMemoryIsTold(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl"),
		result: sandbox.Result{Usage: &sandbox.Usage{PeakMemory: 250 << 20, MemoryLimit: 256 << 20, OOMKills: 1}}}
	o := newTestOrchestrator(t, box, chat, func(o *Options) { o.HideUsage = true })
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	f := chat.waitFinals(t, 1)[0]
	if !strings.HasPrefix(f.Text.S, "done") || !strings.Contains(f.Text.S, "⚠️ a process in this run was killed for memory (limit 256 MiB)") {
		t.Errorf("final answer = %q", f.Text.S)
	}
}
