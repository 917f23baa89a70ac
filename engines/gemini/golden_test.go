package gemini_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/engines/enginetest/conformance"
	"github.com/untether-go/untether/engines/gemini"
)

// fixtures are the streams the real CLI printed (see the README in
// engines/enginetest/captures/gemini).
var fixtures = captures.Engine("gemini")

// fixtureExit is the exit code of each captured case, from the fixtures'
// README: API errors exit with the HTTP status & 255, and a run killed
// through its process group still exits 0.
var fixtureExit = map[string]int{
	"basic":               0,
	"resume":              0,
	"write_file":          0,
	"tool_error":          0,
	"error_401":           145,
	"error_500":           244,
	"sigterm_parent_only": 0,
	"sigterm":             0,
}

func TestGolden(t *testing.T) {
	conformance.Golden(t, gemini.Engine{}, fixtures, fixtureExit)
}

// TestGoldenFacts pins the facts of the captured runs that the goldens must
// show, so that -update cannot quietly accept a wrong mapping.
func TestGoldenFacts(t *testing.T) {
	conformance.FixtureFiles(t, fixtures)
	t.Run("basic", func(t *testing.T) {
		evs := decodeFixture(t, "basic")
		st := conformance.First[engines.Started](t, evs)
		if st.Engine != "gemini" || st.Resume != "aad07503-eba3-48df-aeb2-cee861fcb2b2" || st.Model != "gemini-2.5-pro" || st.Meta != nil {
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
			OK: true, Answer: "Done. Created hello.txt.", Resume: st.Resume, Model: "gemini-2.5-pro",
			Usage: engines.Usage{InputTokens: 400, OutputTokens: 60, Duration: 135 * time.Millisecond},
		}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("resume keeps the session", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "resume"))
		if !c.OK || c.Resume != "aad07503-eba3-48df-aeb2-cee861fcb2b2" || c.Answer != "Done. Appended world to hello.txt." {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("write_file", func(t *testing.T) {
		a := conformance.Actions(decodeFixture(t, "write_file"))
		if len(a) != 2 || a[1].Kind != engines.KindFileChange || a[1].Title != "/workspace/gemini/main/goodbye.txt" || !a[1].OK {
			t.Errorf("actions = %+v, want a file change of goodbye.txt", a)
		}
	})
	t.Run("tool_error", func(t *testing.T) {
		// The CLI reports the failed cat as a successful tool call.
		a := conformance.Actions(decodeFixture(t, "tool_error"))
		if len(a) != 2 || a[1].Title != "cat missing.txt" || !a[1].OK {
			t.Errorf("actions = %+v", a)
		}
	})
	t.Run("error_401", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "error_401"))
		if c.OK || c.Error != "API error 401 (UNAUTHENTICATED): mock: invalid x-api-key" || c.Resume == "" {
			t.Errorf("Completed = %+v, want not OK with the API error", c)
		}
	})
	t.Run("error_500", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "error_500"))
		if c.OK || c.Error != "API error 500 (INTERNAL): mock: internal server error" {
			t.Errorf("Completed = %+v, want not OK with the API error", c)
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		// Killed mid-answer: no result line, yet exit code 0.
		evs := decodeFixture(t, "sigterm")
		c := conformance.Last[engines.Completed](t, evs)
		if c.OK || c.Resume != "dab32d29-0223-4f5a-9a54-d45114aea0b8" || c.Error != "gemini was interrupted before it finished" {
			t.Errorf("Completed = %+v, want not OK, interrupted, with the session id", c)
		}
	})
	t.Run("sigterm_parent_only", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeFixture(t, "sigterm_parent_only"))
		if !c.OK || !strings.HasPrefix(c.Answer, "Done. Created hello.txt. (streaming slowly 1) ") || !strings.HasSuffix(c.Answer, "15)") {
			t.Errorf("Completed = %+v, want the whole streamed answer", c)
		}
	})
	t.Run("stderr without result", func(t *testing.T) {
		// The captured stderr, had the result line been lost.
		tests := []struct {
			name string
			code int
			want string
		}{
			{"error_401", 145, "gemini exited with code 145: API error 401 (UNAUTHENTICATED): mock: invalid x-api-key"},
			{"error_500", 244, "gemini exited with code 244: API error 500 (INTERNAL): mock: internal server error"},
			{"basic", 1, "gemini exited with code 1"}, // only start-up notices
		}
		for _, tt := range tests {
			evs := gemini.Engine{}.NewDecoder().Finish(engines.Exit{Code: tt.code, StderrTail: fixtureStderr(t, tt.name)})
			if c := conformance.Last[engines.Completed](t, evs); c.Error != tt.want {
				t.Errorf("%s: Error = %q, want %q", tt.name, c.Error, tt.want)
			}
		}
	})
}

func decodeFixture(t *testing.T, name string) []engines.Event {
	t.Helper()
	lines, stderr := conformance.Fixture(t, fixtures, name)
	return decodeAll(t, engines.Exit{Code: fixtureExit[name], StderrTail: stderr}, lines...)
}

func fixtureStderr(t *testing.T, name string) string {
	t.Helper()
	_, stderr := conformance.Fixture(t, fixtures, name)
	return stderr
}

func FuzzDecode(f *testing.F) {
	conformance.FuzzSeeds(f, fixtures)
	f.Fuzz(func(t *testing.T, data []byte) { conformance.CheckFuzzInput(t, gemini.Engine{}, data) })
}

// TestText: the assistant's deltas since the last tool call are the answer
// as it is written.
func TestText(t *testing.T) {
	if got, want := conformance.Texts(decodeFixture(t, "basic")), []string{"Done. Create", "Done. Created hello.txt."}; !slices.Equal(got, want) {
		t.Errorf("basic: texts = %q, want %q", got, want)
	}
	msg := func(content string) string {
		return `{"type":"message","role":"assistant","content":"` + content + `","delta":true}`
	}
	evs := decodeAll(t, engines.Exit{},
		msg("Let me"), msg(" look."), msg(" "),
		`{"type":"tool_use","tool_name":"run_shell_command","tool_id":"t1","parameters":{"command":"ls"}}`,
		`{"type":"message","role":"user","content":"not this"}`,
		msg("Done."),
	)
	if got, want := conformance.Texts(evs), []string{"Let me", "Let me look.", "Done."}; !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
}
