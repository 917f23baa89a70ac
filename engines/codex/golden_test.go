package codex_test

import (
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/codex"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

// fixtures are the streams the real CLI printed (see the README in
// engines/enginetest/captures/codex).
var fixtures = captures.Engine("codex")

// fixtureExit is the exit code of each captured case, from the fixtures'
// README.
var fixtureExit = map[string]int{
	"basic":               0,
	"resume":              0,
	"apply_patch":         0,
	"tool_error":          0,
	"plain_text":          0,
	"unknown_model_stdin": 0,
	"error_401":           1,
	"error_500":           1,
	"sigterm":             143,
}

func TestGolden(t *testing.T) {
	conformance.Golden(t, codex.Engine{}, fixtures, fixtureExit)
}

// TestGoldenFacts pins the facts of the captured runs that the goldens must
// show, so that -update cannot quietly accept a wrong mapping.
func TestGoldenFacts(t *testing.T) {
	conformance.FixtureFiles(t, fixtures)
	t.Run("basic", func(t *testing.T) {
		evs := decodeFixture(t, "basic")
		st := conformance.First[engines.Started](t, evs)
		if want := (engines.Started{Engine: "codex", Resume: "01a21c9d-7e3f-7841-af02-79f24a32141d"}); st.Engine != want.Engine || st.Resume != want.Resume || st.Model != "" {
			t.Errorf("Started = %+v, want %+v", st, want)
		}
		actions := conformance.Actions(evs)
		if len(actions) != 2 || actions[0].Phase != engines.PhaseStarted || actions[1].Phase != engines.PhaseCompleted ||
			!actions[1].OK || actions[1].ID != actions[0].ID {
			t.Fatalf("actions = %+v, want one command started and completed OK (reasoning dropped)", actions)
		}
		if a := actions[1]; a.Kind != engines.KindCommand || a.Title != "echo hello > hello.txt" {
			t.Errorf("completed action = %+v, want the unwrapped command", a)
		}
		c := conformance.Last[engines.Completed](t, evs)
		want := engines.Completed{
			OK: true, Answer: "Done. Created hello.txt.", Resume: st.Resume,
			Usage: engines.Usage{InputTokens: 400, OutputTokens: 60, CachedTokens: 100},
		}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("resume keeps the thread", func(t *testing.T) {
		evs := decodeFixture(t, "resume")
		c := conformance.Last[engines.Completed](t, evs)
		if st := conformance.First[engines.Started](t, evs); st.Resume != "01a21c9d-7e3f-7841-af02-79f24a32141d" || c.Resume != st.Resume {
			t.Errorf("Started %+v, Completed %+v; want basic's thread id", st, c)
		}
		if !c.OK || c.Answer != "Done. Appended world to hello.txt." || c.Usage.InputTokens != 800 {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("apply_patch", func(t *testing.T) {
		a := conformance.Actions(decodeFixture(t, "apply_patch"))
		if len(a) != 2 || a[1].Kind != engines.KindFileChange || a[1].Title != "/workspace/codex/main/goodbye.txt" ||
			a[1].Detail != "1 added" || !a[1].OK {
			t.Errorf("actions = %+v, want one file change of goodbye.txt completed OK", a)
		}
	})
	t.Run("tool_error", func(t *testing.T) {
		evs := decodeFixture(t, "tool_error")
		a := conformance.Actions(evs)
		if len(a) != 2 || a[1].OK || a[1].Title != "cat missing.txt" ||
			a[1].Detail != "exit code 1: cat: missing.txt: No such file or directory" {
			t.Errorf("actions = %+v, want the failed command with its exit code and error", a)
		}
		if c := conformance.Last[engines.Completed](t, evs); !c.OK || c.Answer != "The command failed: missing.txt does not exist." {
			t.Errorf("Completed = %+v, want the run OK despite the failed command", c)
		}
	})
	t.Run("plain_text", func(t *testing.T) {
		evs := decodeFixture(t, "plain_text")
		if a := conformance.Actions(evs); len(a) != 0 {
			t.Errorf("actions = %+v, want none", a)
		}
		if c := conformance.Last[engines.Completed](t, evs); !c.OK || c.Answer != "Hello from the mock model." {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("unknown_model_stdin", func(t *testing.T) {
		evs := decodeFixture(t, "unknown_model_stdin")
		a := conformance.Actions(evs)
		if len(a) != 3 || a[0].Kind != engines.KindWarning || a[0].Title != "Model metadata for `gpt-5` not found." ||
			!strings.HasPrefix(a[0].Detail, "Defaulting to fallback metadata") {
			t.Errorf("actions = %+v, want the non-fatal warning first", a)
		}
		if c := conformance.Last[engines.Completed](t, evs); !c.OK || c.Answer != "Done. Created hello.txt." {
			t.Errorf("Completed = %+v, want OK: the warning is not fatal", c)
		}
	})
	t.Run("error_401", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "error_401"))
		want := "The model API rejected codex's credentials (401 Unauthorized: mock: invalid x-api-key)"
		if c.OK || c.Error != want || c.Resume != "01a21c9d-8775-7b92-8102-501c694f4f26" {
			t.Errorf("Completed = %+v, want not OK with %q and the thread id", c, want)
		}
		if strings.Contains(c.Error, "http") {
			t.Errorf("Error %q shows the API endpoint", c.Error)
		}
	})
	t.Run("error_500", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "error_500"))
		if c.OK || c.Error != "We’re currently experiencing high demand, which may cause temporary errors." {
			t.Errorf("Completed = %+v, want not OK with codex's message", c)
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		evs := decodeFixture(t, "sigterm")
		c := conformance.Last[engines.Completed](t, evs)
		want := engines.Completed{Error: "codex was interrupted (signal SIGTERM)", Resume: "01a21c9d-8a85-7eb1-9efb-96261b4f7abc"}
		if c != want || len(evs) != 2 {
			t.Errorf("events = %+v, want Started and %+v", evs, want)
		}
	})
}

// decodeFixture decodes a captured stream, failing on undecodable lines, and
// finishes it with the case's exit code and real stderr.
func decodeFixture(t *testing.T, name string) []engines.Event {
	t.Helper()
	lines, stderr := conformance.Fixture(t, fixtures, name)
	return decodeAll(t, engines.Exit{Code: fixtureExit[name], StderrTail: stderr}, lines...)
}

func FuzzDecode(f *testing.F) {
	conformance.FuzzSeeds(f, fixtures)
	f.Add([]byte(`{"type":"item.completed","item":{"id":"i","type":"todo_list","items":[{"text":"a","completed":true}]}}`))
	f.Add([]byte(`{"type":"error","message":"unexpected status 503 Service Unavailable: {\"error\":{\"message\":\"busy\"}}, url: http://x"}`))
	f.Fuzz(func(t *testing.T, data []byte) { conformance.CheckFuzzInput(t, codex.Engine{}, data) })
}
