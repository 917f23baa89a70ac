package opencode_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/engines/enginetest/conformance"
	"github.com/untether-go/untether/engines/opencode"
)

// fixtures are the streams the real CLI printed (see the README in
// engines/enginetest/captures/opencode).
var fixtures = captures.Engine("opencode")

// fixtureExit is the exit code of each captured case, from the fixtures'
// README.
var fixtureExit = map[string]int{
	"basic":          0,
	"resume":         0,
	"write_thinking": 0,
	"tool_error":     0,
	"continue_last":  0,
	"error_401":      1,
	"error_500":      1,
	"sigterm":        143,
}

func TestGolden(t *testing.T) {
	conformance.Golden(t, opencode.Engine{}, fixtures, fixtureExit)
}

// TestGoldenFacts pins the facts of the captured runs that the goldens must
// show, so that -update cannot quietly accept a wrong mapping.
func TestGoldenFacts(t *testing.T) {
	conformance.FixtureFiles(t, fixtures)
	// Every step of the mock reports 150 input, 30 output and 50 cached
	// tokens at 0.000915 USD.
	twoSteps := engines.Usage{InputTokens: 300, OutputTokens: 60, CachedTokens: 100, CostUSD: 0.00183, Turns: 2}
	t.Run("basic", func(t *testing.T) {
		evs := decodeFixture(t, "basic")
		st := conformance.First[engines.Started](t, evs)
		if !reflect.DeepEqual(st, engines.Started{Engine: "opencode", Resume: "ses_de361666cffeAGnfWJW8bMzObK"}) {
			t.Errorf("Started = %+v", st)
		}
		actions := conformance.Actions(evs)
		want := engines.Action{ID: "call_mock001100374bd3", Kind: engines.KindCommand, Title: "echo hello > hello.txt",
			Phase: engines.PhaseCompleted, OK: true}
		if len(actions) != 1 || actions[0] != want {
			t.Fatalf("actions = %+v, want one completed command %+v", actions, want)
		}
		c := conformance.Last[engines.Completed](t, evs)
		if want := (engines.Completed{OK: true, Answer: "Done. Created hello.txt.", Resume: st.Resume, Usage: twoSteps}); c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("resume keeps the session", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "resume"))
		if !c.OK || c.Resume != "ses_de361666cffeAGnfWJW8bMzObK" || c.Answer != "Done. Appended world to hello.txt." {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("continue_last", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "continue_last"))
		if !c.OK || c.Answer != "Hello from the mock model." || c.Usage.Turns != 1 {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("tool_error", func(t *testing.T) {
		evs := decodeFixture(t, "tool_error")
		actions := conformance.Actions(evs)
		if len(actions) != 1 || actions[0].OK || actions[0].Kind != engines.KindCommand ||
			actions[0].Detail != "Exit code 1: cat: missing.txt: No such file or directory" {
			t.Errorf("actions = %+v, want one failed command with its exit code and output", actions)
		}
		if c := conformance.Last[engines.Completed](t, evs); !c.OK || c.Answer != "The command failed: missing.txt does not exist." {
			t.Errorf("Completed = %+v, want the run to succeed although its command failed", c)
		}
	})
	t.Run("write_thinking", func(t *testing.T) {
		evs := decodeFixture(t, "write_thinking")
		actions := conformance.Actions(evs)
		if len(actions) != 1 || actions[0].Kind != engines.KindFileChange || actions[0].Title != "/workspace/opencode/main/goodbye.txt" || !actions[0].OK {
			t.Errorf("actions = %+v, want one file change of goodbye.txt", actions)
		}
		for _, ev := range evs {
			if strings.Contains(fmt.Sprintf("%+v", ev), "Planning the change") {
				t.Errorf("reasoning leaked into %+v", ev)
			}
		}
		if c := conformance.Last[engines.Completed](t, evs); !c.OK || c.Answer != "Done. Wrote goodbye.txt." {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("error_401", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "error_401"))
		want := engines.Completed{Error: "API error 401: mock: invalid x-api-key", Resume: "ses_de36131b3ffe6dmGjUgKiipD5A"}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("error_500", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "error_500"))
		if c.OK || c.Error != "API error 500: mock: internal server error" {
			t.Errorf("Completed = %+v, want the server error", c)
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "sigterm"))
		want := engines.Completed{Error: "opencode was interrupted (signal SIGTERM)", Resume: "ses_de3603d3effe0hreRx3OjC7fRG"}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
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
	f.Add([]byte(`{"type":"done","sessionID":"ses_1"}` + "\n" + `{"type":"text","part":{"text":"late"}}`))
	f.Fuzz(func(t *testing.T, data []byte) { conformance.CheckFuzzInput(t, opencode.Engine{}, data) })
}

// TestText: each text part, whole, is the answer as it stands.
func TestText(t *testing.T) {
	if got, want := conformance.Texts(decodeFixture(t, "basic")), []string{"Done. Created hello.txt."}; !slices.Equal(got, want) {
		t.Errorf("basic: texts = %q, want %q", got, want)
	}
}
