package pi_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/engines/enginetest/conformance"
	"github.com/untether-go/untether/engines/pi"
)

// fixtures are the streams the real CLI printed (see the README in
// engines/enginetest/captures/pi).
var fixtures = captures.Engine("pi")

// fixtureExit is the exit code of each captured case, from the fixtures'
// README: pi exits 0 in json mode after an API error.
var fixtureExit = map[string]int{
	"basic":         0,
	"resume":        0,
	"write_file":    0,
	"tool_error":    0,
	"continue_last": 0,
	"print_flag":    0,
	"rpc":           0,
	"error_401":     0,
	"error_500":     0,
	"sigterm":       143,
}

// fixtureUndecoded is how many lines of a case the decoder rejects: the two
// command replies of the rpc-mode capture, a mode the decoder does not
// speak (see the package doc).
var fixtureUndecoded = map[string]int{"rpc": 2}

func TestGolden(t *testing.T) {
	conformance.Golden(t, pi.Engine{}, fixtures, fixtureExit, conformance.Undecoded(fixtureUndecoded))
}

// TestGoldenFacts pins the facts of the captured runs that the goldens must
// show, so that -update cannot quietly accept a wrong mapping.
func TestGoldenFacts(t *testing.T) {
	conformance.FixtureFiles(t, fixtures)
	// Every request to the mock reports 150 input, 30 output and 50 cached
	// tokens at 0.000915 USD.
	twoTurns := engines.Usage{InputTokens: 300, OutputTokens: 60, CachedTokens: 100, CostUSD: 0.00183, Turns: 2}
	t.Run("basic", func(t *testing.T) {
		evs := decodeFixture(t, "basic")
		st := conformance.First[engines.Started](t, evs)
		want := engines.Started{Engine: "pi", Resume: "01a21ca2-37e3-7253-97a4-ea52a50951da", Meta: map[string]string{"cwd": "/workspace/pi/main"}}
		if !reflect.DeepEqual(st, want) {
			t.Errorf("Started = %+v, want %+v", st, want)
		}
		actions := conformance.Actions(evs)
		cmd := engines.Action{ID: "call_mock00064c5c148b", Kind: engines.KindCommand, Title: "echo hello > hello.txt", Phase: engines.PhaseStarted}
		done := cmd
		done.Phase, done.OK = engines.PhaseCompleted, true
		if !reflect.DeepEqual(actions, []engines.Action{cmd, done}) {
			t.Fatalf("actions = %+v, want one command started and completed OK", actions)
		}
		c := conformance.Last[engines.Completed](t, evs)
		if want := (engines.Completed{OK: true, Answer: "Done. Created hello.txt.", Resume: st.Resume, Model: "mock/mock-model", Usage: twoTurns}); c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
		if _, fromFinish := finishEvents(t, "basic"); fromFinish {
			t.Error("basic completed in Finish, want at agent_end")
		}
	})
	t.Run("resume keeps the session", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "resume"))
		if !c.OK || c.Resume != "01a21ca2-37e3-7253-97a4-ea52a50951da" || c.Answer != "Done. Appended world to hello.txt." {
			t.Errorf("Completed = %+v", c)
		}
	})
	for _, name := range []string{"continue_last", "print_flag"} {
		t.Run(name, func(t *testing.T) {
			c := conformance.Last[engines.Completed](t, decodeFixture(t, name))
			if !c.OK || c.Answer != "Hello from the mock model." || c.Usage.Turns != 1 {
				t.Errorf("Completed = %+v", c)
			}
		})
	}
	t.Run("tool_error", func(t *testing.T) {
		evs := decodeFixture(t, "tool_error")
		actions := conformance.Actions(evs)
		if len(actions) != 2 || actions[1].OK || actions[1].Phase != engines.PhaseCompleted ||
			actions[1].Detail != "Exit code 1: cat: missing.txt: No such file or directory" {
			t.Errorf("actions = %+v, want a failed command with its exit code and output", actions)
		}
		if c := conformance.Last[engines.Completed](t, evs); !c.OK || c.Answer != "The command failed: missing.txt does not exist." {
			t.Errorf("Completed = %+v, want the run to succeed although its command failed", c)
		}
	})
	t.Run("write_file", func(t *testing.T) {
		evs := decodeFixture(t, "write_file")
		actions := conformance.Actions(evs)
		if len(actions) != 2 || actions[1].Kind != engines.KindFileChange || actions[1].Title != "goodbye.txt" || !actions[1].OK {
			t.Errorf("actions = %+v, want one file change of goodbye.txt, relative to the cwd", actions)
		}
		for _, ev := range evs {
			if strings.Contains(fmt.Sprintf("%+v", ev), "Planning the change") {
				t.Errorf("thinking leaked into %+v", ev)
			}
		}
	})
	t.Run("error_401", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "error_401"))
		want := engines.Completed{Error: "API error: 401 mock: invalid x-api-key", Resume: "01a21ca2-6621-745d-9b1d-6dae10e613c3", Model: "mock/mock-model"}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("error_500", func(t *testing.T) {
		evs := decodeFixture(t, "error_500")
		var retries []engines.Action
		for _, a := range conformance.Actions(evs) {
			if a.Kind == engines.KindWarning {
				retries = append(retries, a)
			}
		}
		if len(retries) != 4 || retries[2].Title != "API error (500 mock: internal server error), retry 3/3" ||
			retries[2].Detail != "retrying in 8s" || retries[3].Phase != engines.PhaseCompleted || retries[3].OK {
			t.Errorf("retry warnings = %+v, want three retries and a failed end", retries)
		}
		c := conformance.Last[engines.Completed](t, evs)
		if c.OK || c.Error != "API error: 500 mock: internal server error" {
			t.Errorf("Completed = %+v, want the server error", c)
		}
		if _, fromFinish := finishEvents(t, "error_500"); fromFinish {
			t.Error("error_500 completed in Finish, want at auto_retry_end")
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "sigterm"))
		want := engines.Completed{Error: "pi was interrupted (signal SIGTERM)", Resume: "01a21ca2-bae6-778c-a059-64d47149e885", Model: "mock/mock-model"}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("rpc has no session id", func(t *testing.T) {
		evs, _ := finishEvents(t, "rpc")
		for _, ev := range evs {
			if _, ok := ev.(engines.Started); ok {
				t.Errorf("rpc stream gave %+v, want no Started", ev)
			}
		}
		if c := conformance.Last[engines.Completed](t, evs); !c.OK || c.Resume != "" || c.Answer != "Done. Created hello.txt." {
			t.Errorf("Completed = %+v, want the answer without a session id", c)
		}
	})
}

func decodeFixture(t *testing.T, name string) []engines.Event {
	t.Helper()
	lines, _ := conformance.Fixture(t, fixtures, name)
	return decodeAll(t, engines.Exit{Code: fixtureExit[name]}, lines...)
}

// finishEvents decodes a fixture, skipping undecodable lines, and reports
// whether the Completed event came from Finish rather than from a line.
func finishEvents(t *testing.T, name string) ([]engines.Event, bool) {
	t.Helper()
	lines, _ := conformance.Fixture(t, fixtures, name)
	d := pi.Engine{}.NewDecoder()
	var evs []engines.Event
	for _, line := range lines {
		got, _ := d.Decode([]byte(line))
		evs = append(evs, got...)
	}
	fin := d.Finish(engines.Exit{Code: fixtureExit[name]})
	return append(evs, fin...), len(fin) > 0
}

func FuzzDecode(f *testing.F) {
	conformance.FuzzSeeds(f, fixtures)
	f.Add([]byte(`{"type":"auto_retry_end","success":false}` + "\n" + `{"type":"agent_end","willRetry":false}`))
	f.Fuzz(func(t *testing.T, data []byte) { conformance.CheckFuzzInput(t, pi.Engine{}, data) })
}

// TestText: the answer as pi streams it, then whole when a message came
// without deltas; text blocks join with a newline.
func TestText(t *testing.T) {
	if got, want := conformance.Texts(decodeFixture(t, "basic")), []string{"Done. Create", "Done. Created hello.txt."}; !slices.Equal(got, want) {
		t.Errorf("basic: texts = %q, want %q", got, want)
	}
	update := func(typ, delta string) string {
		return `{"type":"message_update","assistantMessageEvent":{"type":"` + typ + `","contentIndex":0,"delta":"` + delta + `"}}`
	}
	evs := decodeAll(t, engines.Exit{},
		`{"type":"message_start","message":{"role":"assistant","content":[]}}`,
		update("text_start", ""), update("text_delta", "One"), update("text_end", ""),
		update("thinking_delta", "hmm"),
		update("text_start", ""), update("text_delta", "Two"),
		`{"type":"message_end","message":{"role":"assistant","content":[{"type":"text","text":"One"},{"type":"text","text":"Two"}],"stopReason":"toolUse"}}`,
		`{"type":"message_start","message":{"role":"assistant","content":[]}}`,
		`{"type":"message_end","message":{"role":"assistant","content":[{"type":"text","text":"Done."}],"stopReason":"stop"}}`,
	)
	if got, want := conformance.Texts(evs), []string{"One", "One\nTwo", "Done."}; !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
}
