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
	"github.com/untether-go/untether/engines/gemini"
	"github.com/untether-go/untether/engines/pi"
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
// apart, the way each CLI streams an answer; the engine's adapter reads
// them as the answer being written, and the answer stays whole at the end.
func TestStreamedAnswer(t *testing.T) {
	t.Parallel()
	const gap = 150 * time.Millisecond
	const directives = "hi fake:answer=Hello_streamed_world fake:stream=4 fake:stream-gap=150ms"
	pieces := []string{"Hello", "Hello stre", "Hello streamed ", "Hello streamed world"}
	tests := []struct {
		cli    string
		args   []string
		engine engines.Engine
		// before are the texts the captured stream shows ahead of the
		// answer (a tool call's preamble).
		before []string
	}{
		{"claude", argv("--include-partial-messages", "--", directives), claude.Engine{}, []string{"I'll do that", "I'll do that with a tool."}},
		{"gemini", []string{"-p", directives, "--output-format", "stream-json", "--yolo"}, gemini.Engine{}, nil},
		{"pi", []string{"--mode", "json", directives}, pi.Engine{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.cli, func(t *testing.T) {
			t.Parallel()
			texts, at, c := streamRun(t, fakeCmd{name: tt.cli, args: tt.args}, tt.engine)
			want := append(slices.Clone(tt.before), pieces...)
			if tt.cli == "gemini" {
				want = slices.Clone(want) // gemini trims: "Hello streamed " shows as "Hello streamed"
				want[len(tt.before)+2] = "Hello streamed"
			}
			if !slices.Equal(texts, want) {
				t.Fatalf("texts = %q, want %q", texts, want)
			}
			if c.Answer != "Hello streamed world" {
				t.Errorf("answer = %q", c.Answer)
			}
			for i := len(tt.before) + 1; i < len(at); i++ {
				if d := at[i].Sub(at[i-1]); d < gap*8/10 {
					t.Errorf("piece %d came %v after the one before, want about %v", i, d, gap)
				}
			}
		})
	}
}

// streamRun runs the fake and decodes its stdout as it comes with eng's
// decoder: the Text events with when each came, and the Completed.
func streamRun(t *testing.T, c fakeCmd, eng engines.Engine) ([]string, []time.Time, engines.Completed) {
	t.Helper()
	cmd := c.command(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := eng.NewDecoder()
	var evs []engines.Event
	var at []time.Time
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		got, err := dec.Decode(sc.Bytes())
		if err != nil {
			continue // the fake's own noise, if any, is not the point here
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
	evs = append(evs, dec.Finish(engines.Exit{})...)
	return conformance.Texts(evs), at, conformance.Last[engines.Completed](t, evs)
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
		{"not streamed by the fake", "codex", codexArgv("hi fake:stream=3"), "codex's answer is not streamed by the fake"},
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
