package amp_test

import (
	"slices"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/amp"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

// fixtures are the streams the real CLI printed (see the README in
// engines/enginetest/captures/amp).
var fixtures = captures.Engine("amp")

// fixtureExit is the exit code of each captured case, from the fixtures'
// README: amp exits 0 even on API errors and SIGTERM.
var fixtureExit = map[string]int{
	"basic":        0,
	"resume":       0,
	"write_file":   0,
	"tool_error":   0,
	"stdin_stream": 0,
	"error_401":    0,
	"error_500":    0,
	"sigterm":      0,
}

func TestGolden(t *testing.T) {
	conformance.Golden(t, amp.Engine{}, fixtures, fixtureExit)
}

// TestGoldenFacts pins the facts of the captured runs that the goldens must
// show, so that -update cannot quietly accept a wrong mapping.
func TestGoldenFacts(t *testing.T) {
	conformance.FixtureFiles(t, fixtures)
	const basicThread = "T-01a21cac-49cb-769f-8458-b1496acdc2e7"
	t.Run("basic", func(t *testing.T) {
		evs := decodeFixture(t, "basic")
		st := conformance.First[engines.Started](t, evs)
		if st.Engine != "amp" || st.Resume != basicThread || st.Model != "" || st.Meta["cwd"] != "/workspace/amp/main" {
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
			OK: true, Answer: "Done. Created hello.txt.", Resume: basicThread,
			Usage: engines.Usage{InputTokens: 240, OutputTokens: 50, Turns: 2, Duration: 319 * time.Millisecond},
		}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("resume keeps the thread", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "resume"))
		if !c.OK || c.Resume != basicThread || c.Answer != "Done. Appended world to hello.txt." {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("write_file", func(t *testing.T) {
		a := conformance.Actions(decodeFixture(t, "write_file"))
		if len(a) != 2 || a[1].Kind != engines.KindFileChange || a[1].Title != "goodbye.txt" || !a[1].OK {
			t.Errorf("actions = %+v, want a file change of goodbye.txt", a)
		}
	})
	t.Run("tool_error", func(t *testing.T) {
		// is_error is false, but the command exited 1.
		a := conformance.Actions(decodeFixture(t, "tool_error"))
		if len(a) != 2 || a[1].OK || a[1].Title != "cat missing.txt" ||
			a[1].Detail != "Exit code 1: cat: missing.txt: No such file or directory" {
			t.Errorf("actions = %+v, want the failed cat", a)
		}
	})
	t.Run("error_401", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "error_401"))
		if c.OK || c.Error != "Unauthorized. Check your access token." || c.Resume != "T-01a21cac-64e8-7015-b98c-0fa986230bdd" {
			t.Errorf("Completed = %+v, want not OK with the CLI's message", c)
		}
	})
	t.Run("error_500", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "error_500"))
		if c.OK || c.Error != "API error 500 (api_error): mock: internal server error" {
			t.Errorf("Completed = %+v, want not OK with the API error", c)
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "sigterm"))
		if c.OK || c.Resume != "T-01a21cac-6dba-77fe-bd17-7777beba6a78" || c.Error != "amp was interrupted (SIGINT/SIGTERM)" {
			t.Errorf("Completed = %+v, want not OK, interrupted, with the thread id", c)
		}
	})
	t.Run("stdin_stream", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "stdin_stream"))
		if !c.OK || c.Answer != "Done. Created hello.txt." {
			t.Errorf("Completed = %+v", c)
		}
	})
}

func decodeFixture(t *testing.T, name string) []engines.Event {
	t.Helper()
	lines, stderr := conformance.Fixture(t, fixtures, name)
	return decodeAll(t, engines.Exit{Code: fixtureExit[name], StderrTail: stderr}, lines...)
}

func FuzzDecode(f *testing.F) {
	conformance.FuzzSeeds(f, fixtures)
	f.Fuzz(func(t *testing.T, data []byte) { conformance.CheckFuzzInput(t, amp.Engine{}, data) })
}

// TestText: each API message's text, in order, is the answer as it stands;
// a subagent's is not, nor a message that repeats the text.
func TestText(t *testing.T) {
	if got, want := conformance.Texts(decodeFixture(t, "basic")), []string{"I'll do that with a tool.", "Done. Created hello.txt."}; !slices.Equal(got, want) {
		t.Errorf("basic: texts = %q, want %q", got, want)
	}
	evs := decodeAll(t, engines.Exit{},
		assistant(`{"type":"text","text":"One"},{"type":"text","text":"Two"},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}`),
		assistant(`{"type":"text","text":"One"},{"type":"text","text":"Two"}`),
		`{"type":"assistant","message":{"content":[{"type":"text","text":"Sub"}]},"parent_tool_use_id":"t1","session_id":"T-1"}`,
	)
	if got, want := conformance.Texts(evs), []string{"One\n\nTwo"}; !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
	if _, ok := evs[1].(engines.Text); !ok {
		t.Errorf("events = %+v: want the text before the message's tool call", evs)
	}
}
