package codex_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/codex"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the fixtures")

// fixtureDir holds the real captured streams; CI checks the shared
// fixtures out next to the repository.
const fixtureDir = "../../../shared/fixtures/engines/codex"

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

// fixtureFiles returns the captured *.jsonl streams, failing the test when
// they are not where CI puts them.
func fixtureFiles(tb testing.TB) []string {
	tb.Helper()
	if _, err := os.Stat(fixtureDir); err != nil {
		tb.Fatalf("codex stream fixtures not found at %s (relative to engines/codex; CI checks out shared/ next to the repo): %v", fixtureDir, err)
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
			if _, ok := fixtureExit[name]; !ok {
				t.Fatalf("fixture %s has no exit code in fixtureExit; add it from the fixtures' README", name)
			}
			evs := decodeFixture(t, name)
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
				t.Fatalf("read golden file (run go test ./engines/codex -update to create it): %v", err)
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
		if want := (engines.Started{Engine: "codex", Resume: "01a21c9d-7e3f-7841-af02-79f24a32141d"}); st.Engine != want.Engine || st.Resume != want.Resume || st.Model != "" {
			t.Errorf("Started = %+v, want %+v", st, want)
		}
		actions := actionsOf(evs)
		if len(actions) != 2 || actions[0].Phase != engines.PhaseStarted || actions[1].Phase != engines.PhaseCompleted ||
			!actions[1].OK || actions[1].ID != actions[0].ID {
			t.Fatalf("actions = %+v, want one command started and completed OK (reasoning dropped)", actions)
		}
		if a := actions[1]; a.Kind != engines.KindCommand || a.Title != "echo hello > hello.txt" {
			t.Errorf("completed action = %+v, want the unwrapped command", a)
		}
		c := last[engines.Completed](t, evs)
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
		c := last[engines.Completed](t, evs)
		if st := first[engines.Started](t, evs); st.Resume != "01a21c9d-7e3f-7841-af02-79f24a32141d" || c.Resume != st.Resume {
			t.Errorf("Started %+v, Completed %+v; want basic's thread id", st, c)
		}
		if !c.OK || c.Answer != "Done. Appended world to hello.txt." || c.Usage.InputTokens != 800 {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("apply_patch", func(t *testing.T) {
		a := actionsOf(decodeFixture(t, "apply_patch"))
		if len(a) != 2 || a[1].Kind != engines.KindFileChange || a[1].Title != "/workspace/codex/main/goodbye.txt" ||
			a[1].Detail != "1 added" || !a[1].OK {
			t.Errorf("actions = %+v, want one file change of goodbye.txt completed OK", a)
		}
	})
	t.Run("tool_error", func(t *testing.T) {
		evs := decodeFixture(t, "tool_error")
		a := actionsOf(evs)
		if len(a) != 2 || a[1].OK || a[1].Title != "cat missing.txt" ||
			a[1].Detail != "exit code 1: cat: missing.txt: No such file or directory" {
			t.Errorf("actions = %+v, want the failed command with its exit code and error", a)
		}
		if c := last[engines.Completed](t, evs); !c.OK || c.Answer != "The command failed: missing.txt does not exist." {
			t.Errorf("Completed = %+v, want the run OK despite the failed command", c)
		}
	})
	t.Run("plain_text", func(t *testing.T) {
		evs := decodeFixture(t, "plain_text")
		if a := actionsOf(evs); len(a) != 0 {
			t.Errorf("actions = %+v, want none", a)
		}
		if c := last[engines.Completed](t, evs); !c.OK || c.Answer != "Hello from the mock model." {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("unknown_model_stdin", func(t *testing.T) {
		evs := decodeFixture(t, "unknown_model_stdin")
		a := actionsOf(evs)
		if len(a) != 3 || a[0].Kind != engines.KindWarning || a[0].Title != "Model metadata for `gpt-5` not found." ||
			!strings.HasPrefix(a[0].Detail, "Defaulting to fallback metadata") {
			t.Errorf("actions = %+v, want the non-fatal warning first", a)
		}
		if c := last[engines.Completed](t, evs); !c.OK || c.Answer != "Done. Created hello.txt." {
			t.Errorf("Completed = %+v, want OK: the warning is not fatal", c)
		}
	})
	t.Run("error_401", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "error_401"))
		want := "The model API rejected codex's credentials (401 Unauthorized: mock: invalid x-api-key)"
		if c.OK || c.Error != want || c.Resume != "01a21c9d-8775-7b92-8102-501c694f4f26" {
			t.Errorf("Completed = %+v, want not OK with %q and the thread id", c, want)
		}
		if strings.Contains(c.Error, "http") {
			t.Errorf("Error %q shows the API endpoint", c.Error)
		}
	})
	t.Run("error_500", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "error_500"))
		if c.OK || c.Error != "We’re currently experiencing high demand, which may cause temporary errors." {
			t.Errorf("Completed = %+v, want not OK with codex's message", c)
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		evs := decodeFixture(t, "sigterm")
		c := last[engines.Completed](t, evs)
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
	data, err := os.ReadFile(filepath.Join(fixtureDir, name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.ReadFile(filepath.Join(fixtureDir, name+".stderr.txt"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	exit := engines.Exit{Code: fixtureExit[name], StderrTail: string(stderr)}
	return decodeAll(t, exit, strings.Split(string(data), "\n")...)
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
	f.Add([]byte(`{"type":"item.completed","item":{"id":"i","type":"todo_list","items":[{"text":"a","completed":true}]}}`))
	f.Add([]byte(`{"type":"error","message":"unexpected status 503 Service Unavailable: {\"error\":{\"message\":\"busy\"}}, url: http://x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := codex.Engine{}.NewDecoder()
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
