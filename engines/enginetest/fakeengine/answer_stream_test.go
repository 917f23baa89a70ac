package main

import (
	"bufio"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/claude"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

func TestSplitPieces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want []string
	}{
		{"abcdef", 3, []string{"ab", "cd", "ef"}},
		{"abcdefg", 3, []string{"ab", "cd", "efg"}},
		{"ab", 5, []string{"a", "b"}},
		{"héllo wörld", 2, []string{"héllo", " wörld"}},
		{"", 3, []string{""}},
		{"abc", 1, []string{"abc"}},
	}
	for _, tt := range tests {
		if got := splitPieces(tt.s, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("splitPieces(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// TestStreamedAnswer: fake:stream prints the answer in pieces, the gap
// apart, as Claude Code's partial messages; the adapter reads them as the
// answer being written, and the answer stays whole at the end.
func TestStreamedAnswer(t *testing.T) {
	t.Parallel()
	const gap = 150 * time.Millisecond
	c := fakeCmd{args: argv("--include-partial-messages", "--", "hi fake:answer=Hello_streamed_world fake:stream=4 fake:stream-gap=150ms")}
	cmd := c.command(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := claude.Engine{}.NewDecoder()
	var evs []engines.Event
	var at []time.Time // when each Text came
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		got, err := dec.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("decode %q: %v", sc.Text(), err)
		}
		for _, ev := range got {
			if _, ok := ev.(engines.Text); ok {
				at = append(at, time.Now())
			}
		}
		evs = append(evs, got...)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("fake: %v", err)
	}
	// The tool call's preamble as captured, then the answer in pieces.
	want := []string{"I'll do that", "I'll do that with a tool.", "Hello", "Hello stre", "Hello streamed ", "Hello streamed world"}
	if got := conformance.Texts(evs); !slices.Equal(got, want) {
		t.Fatalf("texts = %q, want %q", got, want)
	}
	if c := conformance.Last[engines.Completed](t, append(evs, dec.Finish(engines.Exit{})...)); c.Answer != "Hello streamed world" {
		t.Errorf("answer = %q", c.Answer)
	}
	for i := 3; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < gap*8/10 {
			t.Errorf("piece %d came %v after the one before, want about %v", i, d, gap)
		}
	}
}

func TestStreamedAnswerRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, engine string
		args         []string
		stderr       string
	}{
		{"no partial messages", "claude", argv("hi fake:stream=3"), "has no partial messages"},
		{"bad count", "claude", argv("hi fake:stream=0"), "pieces \"0\" is not in 1..1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{name: tt.engine, args: tt.args}.run(t)
			if r.code != exitBadDirective || !strings.Contains(r.stderr, tt.stderr) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %.80q; want exit %d, stderr with %q", r.code, r.stderr, r.stdout, exitBadDirective, tt.stderr)
			}
		})
	}
}
