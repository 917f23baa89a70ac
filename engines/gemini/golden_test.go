package gemini_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/gemini"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the fixtures")

// fixtureDir holds the real captured streams; CI checks the shared
// fixtures out next to the repository.
const fixtureDir = "../../../shared/fixtures/engines/gemini"

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

// fixtureFiles returns the captured *.jsonl streams, failing the test when
// they are not where CI puts them.
func fixtureFiles(tb testing.TB) []string {
	tb.Helper()
	if _, err := os.Stat(fixtureDir); err != nil {
		tb.Fatalf("gemini stream fixtures not found at %s (relative to engines/gemini; CI checks out shared/ next to the repo): %v", fixtureDir, err)
	}
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatalf("no *.jsonl fixtures in %s", fixtureDir)
	}
	return files
}

func TestGolden(t *testing.T) {
	for _, file := range fixtureFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".jsonl")
		t.Run(name, func(t *testing.T) {
			code, ok := fixtureExit[name]
			if !ok {
				t.Fatalf("fixture %s has no exit code in fixtureExit; add it from the fixtures' README", name)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			stderr, err := os.ReadFile(filepath.Join(fixtureDir, name+".stderr.txt"))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			d := gemini.Engine{}.NewDecoder()
			var evs []engines.Event
			for i, line := range bytes.Split(data, []byte("\n")) {
				got, err := d.Decode(line)
				if err != nil {
					t.Errorf("line %d: %v", i+1, err)
				}
				evs = append(evs, got...)
			}
			evs = append(evs, d.Finish(engines.Exit{Code: code, StderrTail: string(stderr)})...)
			checkInvariants(t, evs)

			got, err := marshalEvents(evs)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run go test ./engines/gemini -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("events differ from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestGoldenFacts pins the facts of the captured runs that the goldens must
// show, so that -update cannot quietly accept a wrong mapping.
func TestGoldenFacts(t *testing.T) {
	fixtureFiles(t)
	t.Run("basic", func(t *testing.T) {
		evs := decodeFixture(t, "basic")
		st := first[engines.Started](t, evs)
		if st.Engine != "gemini" || st.Resume != "aad07503-eba3-48df-aeb2-cee861fcb2b2" || st.Model != "gemini-2.5-pro" || st.Meta != nil {
			t.Errorf("Started = %+v", st)
		}
		actions := actionsOf(evs)
		if len(actions) != 2 || actions[0].Phase != engines.PhaseStarted || actions[1].Phase != engines.PhaseCompleted ||
			!actions[1].OK || actions[1].ID != actions[0].ID {
			t.Fatalf("actions = %+v, want one command started and completed OK", actions)
		}
		if a := actions[1]; a.Kind != engines.KindCommand || a.Title != "echo hello > hello.txt" {
			t.Errorf("completed action = %+v", a)
		}
		c := last[engines.Completed](t, evs)
		want := engines.Completed{
			OK: true, Answer: "Done. Created hello.txt.", Resume: st.Resume, Model: "gemini-2.5-pro",
			Usage: engines.Usage{InputTokens: 400, OutputTokens: 60, Duration: 135 * time.Millisecond},
		}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("resume keeps the session", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "resume"))
		if !c.OK || c.Resume != "aad07503-eba3-48df-aeb2-cee861fcb2b2" || c.Answer != "Done. Appended world to hello.txt." {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("write_file", func(t *testing.T) {
		a := actionsOf(decodeFixture(t, "write_file"))
		if len(a) != 2 || a[1].Kind != engines.KindFileChange || a[1].Title != "/workspace/gemini/main/goodbye.txt" || !a[1].OK {
			t.Errorf("actions = %+v, want a file change of goodbye.txt", a)
		}
	})
	t.Run("tool_error", func(t *testing.T) {
		// The CLI reports the failed cat as a successful tool call.
		a := actionsOf(decodeFixture(t, "tool_error"))
		if len(a) != 2 || a[1].Title != "cat missing.txt" || !a[1].OK {
			t.Errorf("actions = %+v", a)
		}
	})
	t.Run("error_401", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "error_401"))
		if c.OK || c.Error != "API error 401 (UNAUTHENTICATED): mock: invalid x-api-key" || c.Resume == "" {
			t.Errorf("Completed = %+v, want not OK with the API error", c)
		}
	})
	t.Run("error_500", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "error_500"))
		if c.OK || c.Error != "API error 500 (INTERNAL): mock: internal server error" {
			t.Errorf("Completed = %+v, want not OK with the API error", c)
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		// Killed mid-answer: no result line, yet exit code 0.
		evs := decodeFixture(t, "sigterm")
		c := last[engines.Completed](t, evs)
		if c.OK || c.Resume != "dab32d29-0223-4f5a-9a54-d45114aea0b8" || c.Error != "gemini was interrupted before it finished" {
			t.Errorf("Completed = %+v, want not OK, interrupted, with the session id", c)
		}
	})
	t.Run("sigterm_parent_only", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "sigterm_parent_only"))
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
			if c := last[engines.Completed](t, evs); c.Error != tt.want {
				t.Errorf("%s: Error = %q, want %q", tt.name, c.Error, tt.want)
			}
		}
	})
}

func decodeFixture(t *testing.T, name string) []engines.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	exit := engines.Exit{Code: fixtureExit[name], StderrTail: fixtureStderr(t, name)}
	return decodeAll(t, exit, strings.Split(string(data), "\n")...)
}

func fixtureStderr(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name+".stderr.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func actionsOf(evs []engines.Event) []engines.Action {
	var actions []engines.Action
	for _, ev := range evs {
		if a, ok := ev.(engines.Action); ok {
			actions = append(actions, a)
		}
	}
	return actions
}

func first[E engines.Event](t *testing.T, evs []engines.Event) E {
	t.Helper()
	for _, ev := range evs {
		if e, ok := ev.(E); ok {
			return e
		}
	}
	var zero E
	t.Fatalf("no %T in %+v", zero, evs)
	return zero
}

func last[E engines.Event](t *testing.T, evs []engines.Event) E {
	t.Helper()
	if len(evs) > 0 {
		if e, ok := evs[len(evs)-1].(E); ok {
			return e
		}
	}
	var zero E
	t.Fatalf("last event is not %T: %+v", zero, evs)
	return zero
}

// checkInvariants enforces the event contract: at most one Started, and
// exactly one Completed, last.
func checkInvariants(tb testing.TB, evs []engines.Event) {
	tb.Helper()
	started, completed := 0, 0
	for i, ev := range evs {
		switch ev.(type) {
		case engines.Started:
			started++
		case engines.Completed:
			completed++
			if i != len(evs)-1 {
				tb.Errorf("Completed at %d of %d events, want last", i, len(evs))
			}
		}
	}
	if started > 1 {
		tb.Errorf("%d Started events, want at most 1", started)
	}
	if completed != 1 {
		tb.Errorf("%d Completed events, want exactly 1", completed)
	}
}

// marshalEvents renders events as an indented JSON array, each object led by
// a "type" field naming the event.
func marshalEvents(evs []engines.Event) ([]byte, error) {
	objs := make([]json.RawMessage, 0, len(evs))
	for _, ev := range evs {
		var typ string
		switch ev.(type) {
		case engines.Started:
			typ = "started"
		case engines.Action:
			typ = "action"
		case engines.Completed:
			typ = "completed"
		default:
			return nil, fmt.Errorf("marshal events: unknown event %T", ev)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep "<" and ">" of shell commands readable
		if err := enc.Encode(ev); err != nil {
			return nil, fmt.Errorf("marshal %s event: %w", typ, err)
		}
		objs = append(objs, append([]byte(`{"type":"`+typ+`",`), bytes.TrimSpace(b.Bytes())[1:]...))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(objs); err != nil {
		return nil, fmt.Errorf("marshal events: %w", err)
	}
	return buf.Bytes(), nil
}

func FuzzDecode(f *testing.F) {
	for _, file := range fixtureFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			f.Add(line)
		}
	}
	f.Add([]byte("not json\n{\"type\":\n\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := gemini.Engine{}.NewDecoder()
		var evs []engines.Event
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			got, err := d.Decode(line)
			if err != nil && len(got) > 0 {
				t.Fatalf("Decode returned %d events with error %v", len(got), err)
			}
			evs = append(evs, got...)
		}
		exit := engines.Exit{Code: []int{0, 1, 143, 137, -1}[len(data)%5], StderrTail: string(data)}
		evs = append(evs, d.Finish(exit)...)
		checkInvariants(t, evs)
		if again := d.Finish(exit); again != nil {
			t.Fatalf("second Finish = %+v, want nil", again)
		}
	})
}
