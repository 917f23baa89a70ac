package opencode_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/opencode"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the fixtures")

// fixtureDir holds the real captured streams; CI checks the shared
// fixtures out next to the repository.
const fixtureDir = "../../../shared/fixtures/engines/opencode"

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

// fixtureFiles returns the captured *.jsonl streams, failing the test when
// they are not where CI puts them.
func fixtureFiles(tb testing.TB) []string {
	tb.Helper()
	if _, err := os.Stat(fixtureDir); err != nil {
		tb.Fatalf("opencode stream fixtures not found at %s (relative to engines/opencode; CI checks out shared/ next to the repo): %v", fixtureDir, err)
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
			d := opencode.Engine{}.NewDecoder()
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
				t.Fatalf("read golden file (run go test ./engines/opencode -update to create it): %v", err)
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
	// Every step of the mock reports 150 input, 30 output and 50 cached
	// tokens at 0.000915 USD.
	twoSteps := engines.Usage{InputTokens: 300, OutputTokens: 60, CachedTokens: 100, CostUSD: 0.00183, Turns: 2}
	t.Run("basic", func(t *testing.T) {
		evs := decodeFixture(t, "basic")
		st := first[engines.Started](t, evs)
		if !reflect.DeepEqual(st, engines.Started{Engine: "opencode", Resume: "ses_de361666cffeAGnfWJW8bMzObK"}) {
			t.Errorf("Started = %+v", st)
		}
		actions := actionsOf(evs)
		want := engines.Action{ID: "call_mock001100374bd3", Kind: engines.KindCommand, Title: "echo hello > hello.txt",
			Phase: engines.PhaseCompleted, OK: true}
		if len(actions) != 1 || actions[0] != want {
			t.Fatalf("actions = %+v, want one completed command %+v", actions, want)
		}
		c := last[engines.Completed](t, evs)
		if want := (engines.Completed{OK: true, Answer: "Done. Created hello.txt.", Resume: st.Resume, Usage: twoSteps}); c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("resume keeps the session", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "resume"))
		if !c.OK || c.Resume != "ses_de361666cffeAGnfWJW8bMzObK" || c.Answer != "Done. Appended world to hello.txt." {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("continue_last", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "continue_last"))
		if !c.OK || c.Answer != "Hello from the mock model." || c.Usage.Turns != 1 {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("tool_error", func(t *testing.T) {
		evs := decodeFixture(t, "tool_error")
		actions := actionsOf(evs)
		if len(actions) != 1 || actions[0].OK || actions[0].Kind != engines.KindCommand ||
			actions[0].Detail != "Exit code 1: cat: missing.txt: No such file or directory" {
			t.Errorf("actions = %+v, want one failed command with its exit code and output", actions)
		}
		if c := last[engines.Completed](t, evs); !c.OK || c.Answer != "The command failed: missing.txt does not exist." {
			t.Errorf("Completed = %+v, want the run to succeed although its command failed", c)
		}
	})
	t.Run("write_thinking", func(t *testing.T) {
		evs := decodeFixture(t, "write_thinking")
		actions := actionsOf(evs)
		if len(actions) != 1 || actions[0].Kind != engines.KindFileChange || actions[0].Title != "/workspace/opencode/main/goodbye.txt" || !actions[0].OK {
			t.Errorf("actions = %+v, want one file change of goodbye.txt", actions)
		}
		for _, ev := range evs {
			if strings.Contains(fmt.Sprintf("%+v", ev), "Planning the change") {
				t.Errorf("reasoning leaked into %+v", ev)
			}
		}
		if c := last[engines.Completed](t, evs); !c.OK || c.Answer != "Done. Wrote goodbye.txt." {
			t.Errorf("Completed = %+v", c)
		}
	})
	t.Run("error_401", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "error_401"))
		want := engines.Completed{Error: "API error 401: mock: invalid x-api-key", Resume: "ses_de36131b3ffe6dmGjUgKiipD5A"}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("error_500", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "error_500"))
		if c.OK || c.Error != "API error 500: mock: internal server error" {
			t.Errorf("Completed = %+v, want the server error", c)
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "sigterm"))
		want := engines.Completed{Error: "opencode was interrupted (signal SIGTERM)", Resume: "ses_de3603d3effe0hreRx3OjC7fRG"}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
}

func decodeFixture(t *testing.T, name string) []engines.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, engines.Exit{Code: fixtureExit[name]}, strings.Split(string(data), "\n")...)
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
	f.Add([]byte(`{"type":"done","sessionID":"ses_1"}` + "\n" + `{"type":"text","part":{"text":"late"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := opencode.Engine{}.NewDecoder()
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
