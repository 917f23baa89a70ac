package claude_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/claude"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

// fixtures are the streams the real CLI printed (see the README in
// engines/enginetest/captures/claude).
var fixtures = captures.Engine("claude")

// fixtureExit is the exit code of each captured case, from the fixtures'
// README.
var fixtureExit = map[string]int{
	"basic":        0,
	"resume":       0,
	"tool_error":   0,
	"partial":      0,
	"stdin_stream": 0,
	"error_401":    1,
	"error_500":    1,
	"sigterm":      143,
}

func TestGolden(t *testing.T) {
	conformance.Golden(t, claude.Engine{}, fixtures, fixtureExit)
}

// TestGoldenFacts pins the facts of the captured runs that the goldens must
// show, so that -update cannot quietly accept a wrong mapping.
func TestGoldenFacts(t *testing.T) {
	conformance.FixtureFiles(t, fixtures)
	t.Run("basic", func(t *testing.T) {
		evs := decodeFixture(t, "basic")
		st := conformance.First[engines.Started](t, evs)
		if st.Resume != "ca28b1b9-709d-454a-8bc1-33169420ef03" || st.Model != "claude-sonnet-4-5" || st.Meta["version"] != "2.1.332" {
			t.Errorf("Started = %+v", st)
		}
		actions := conformance.Actions(evs)
		if len(actions) != 2 || actions[0].Phase != engines.PhaseStarted || actions[1].Phase != engines.PhaseCompleted ||
			!actions[1].OK || actions[1].ID != actions[0].ID {
			t.Fatalf("actions = %+v, want one command started and completed OK", actions)
		}
		if a := actions[1]; a.Kind != engines.KindCommand || a.Title != "echo hello > hello.txt" {
			t.Errorf("completed action = %+v", a)
		}
		c := conformance.Last[engines.Completed](t, evs)
		want := engines.Completed{
			OK: true, Answer: "Done. Created hello.txt.", Resume: st.Resume, Model: "claude-sonnet-4-5",
			Usage: engines.Usage{InputTokens: 240, OutputTokens: 50, CostUSD: 0.00147, Turns: 2, Duration: c.Usage.Duration},
		}
		if c != want || c.Usage.Duration <= 0 {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("usage as it goes", func(t *testing.T) {
		// Two messages of 120 tokens in and 1 out each (the usage the
		// assistant lines carry, repeated on every line of a message).
		var got []engines.UsageUpdate
		for _, ev := range decodeFixture(t, "basic") {
			if u, ok := ev.(engines.UsageUpdate); ok {
				got = append(got, u)
			}
		}
		want := []engines.UsageUpdate{
			{Model: "claude-sonnet-4-5", Usage: engines.Usage{InputTokens: 120, OutputTokens: 1}},
			{Model: "claude-sonnet-4-5", Usage: engines.Usage{InputTokens: 240, OutputTokens: 2}},
		}
		if !slices.Equal(got, want) {
			t.Errorf("usage updates = %+v, want %+v", got, want)
		}
	})
	t.Run("tool_error", func(t *testing.T) {
		evs := decodeFixture(t, "tool_error")
		actions := conformance.Actions(evs)
		a := actions[len(actions)-1]
		if a.OK || a.Detail != "Exit code 1: cat: missing.txt: No such file or directory" {
			t.Errorf("failed action = %+v", a)
		}
	})
	// The answer as it is written: whole blocks without partial messages,
	// the deltas with them; the tool call's preamble, then the answer.
	for name, want := range map[string][]string{
		"basic":   {"I'll do that with a tool.", "Done. Created hello.txt."},
		"partial": {"I'll do that", "I'll do that with a tool.", "Done. Create", "Done. Created hello.txt."},
	} {
		t.Run(name+" text", func(t *testing.T) {
			if got := conformance.Texts(decodeFixture(t, name)); !slices.Equal(got, want) {
				t.Errorf("texts = %q, want %q", got, want)
			}
		})
	}
	t.Run("error_401", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "error_401"))
		if c.OK || !strings.Contains(c.Error, "Invalid API key") || c.Resume == "" {
			t.Errorf("Completed = %+v, want not OK mentioning the invalid API key", c)
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "sigterm"))
		if c.OK || c.Resume != "b1627f98-262b-4f32-b4cf-11c26d5bbef0" || !strings.Contains(c.Error, "interrupted") {
			t.Errorf("Completed = %+v, want not OK, interrupted, with the session id", c)
		}
	})
}

func decodeFixture(t *testing.T, name string) []engines.Event {
	t.Helper()
	lines, _ := conformance.Fixture(t, fixtures, name)
	return decodeAll(t, engines.Exit{Code: fixtureExit[name]}, lines...)
}

func FuzzDecode(f *testing.F) {
	conformance.FuzzSeeds(f, fixtures)
	f.Fuzz(func(t *testing.T, data []byte) { conformance.CheckFuzzInput(t, claude.Engine{}, data) })
}
