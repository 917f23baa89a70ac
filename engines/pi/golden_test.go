package pi_test

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
	"github.com/untether-go/untether/engines/pi"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the fixtures")

// fixtureDir holds the real captured streams; CI checks the shared
// fixtures out next to the repository.
const fixtureDir = "../../../shared/fixtures/engines/pi"

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

// fixtureFiles returns the captured *.jsonl streams, failing the test when
// they are not where CI puts them.
func fixtureFiles(tb testing.TB) []string {
	tb.Helper()
	if _, err := os.Stat(fixtureDir); err != nil {
		tb.Fatalf("pi stream fixtures not found at %s (relative to engines/pi; CI checks out shared/ next to the repo): %v", fixtureDir, err)
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
			d := pi.Engine{}.NewDecoder()
			var evs []engines.Event
			undecoded := 0
			for i, line := range bytes.Split(data, []byte("\n")) {
				got, err := d.Decode(line)
				if err != nil {
					undecoded++
					if undecoded > fixtureUndecoded[name] {
						t.Errorf("line %d: %v", i+1, err)
					}
				}
				evs = append(evs, got...)
			}
			if undecoded != fixtureUndecoded[name] {
				t.Errorf("%d lines undecoded, want %d", undecoded, fixtureUndecoded[name])
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
				t.Fatalf("read golden file (run go test ./engines/pi -update to create it): %v", err)
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
	// Every request to the mock reports 150 input, 30 output and 50 cached
	// tokens at 0.000915 USD.
	twoTurns := engines.Usage{InputTokens: 300, OutputTokens: 60, CachedTokens: 100, CostUSD: 0.00183, Turns: 2}
	t.Run("basic", func(t *testing.T) {
		evs := decodeFixture(t, "basic")
		st := first[engines.Started](t, evs)
		want := engines.Started{Engine: "pi", Resume: "01a21ca2-37e3-7253-97a4-ea52a50951da", Meta: map[string]string{"cwd": "/workspace/pi/main"}}
		if !reflect.DeepEqual(st, want) {
			t.Errorf("Started = %+v, want %+v", st, want)
		}
		actions := actionsOf(evs)
		cmd := engines.Action{ID: "call_mock00064c5c148b", Kind: engines.KindCommand, Title: "echo hello > hello.txt", Phase: engines.PhaseStarted}
		done := cmd
		done.Phase, done.OK = engines.PhaseCompleted, true
		if !reflect.DeepEqual(actions, []engines.Action{cmd, done}) {
			t.Fatalf("actions = %+v, want one command started and completed OK", actions)
		}
		c := last[engines.Completed](t, evs)
		if want := (engines.Completed{OK: true, Answer: "Done. Created hello.txt.", Resume: st.Resume, Model: "mock/mock-model", Usage: twoTurns}); c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
		if _, fromFinish := finishEvents(t, "basic"); fromFinish {
			t.Error("basic completed in Finish, want at agent_end")
		}
	})
	t.Run("resume keeps the session", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "resume"))
		if !c.OK || c.Resume != "01a21ca2-37e3-7253-97a4-ea52a50951da" || c.Answer != "Done. Appended world to hello.txt." {
			t.Errorf("Completed = %+v", c)
		}
	})
	for _, name := range []string{"continue_last", "print_flag"} {
		t.Run(name, func(t *testing.T) {
			c := last[engines.Completed](t, decodeFixture(t, name))
			if !c.OK || c.Answer != "Hello from the mock model." || c.Usage.Turns != 1 {
				t.Errorf("Completed = %+v", c)
			}
		})
	}
	t.Run("tool_error", func(t *testing.T) {
		evs := decodeFixture(t, "tool_error")
		actions := actionsOf(evs)
		if len(actions) != 2 || actions[1].OK || actions[1].Phase != engines.PhaseCompleted ||
			actions[1].Detail != "Exit code 1: cat: missing.txt: No such file or directory" {
			t.Errorf("actions = %+v, want a failed command with its exit code and output", actions)
		}
		if c := last[engines.Completed](t, evs); !c.OK || c.Answer != "The command failed: missing.txt does not exist." {
			t.Errorf("Completed = %+v, want the run to succeed although its command failed", c)
		}
	})
	t.Run("write_file", func(t *testing.T) {
		evs := decodeFixture(t, "write_file")
		actions := actionsOf(evs)
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
		c := last[engines.Completed](t, decodeFixture(t, "error_401"))
		want := engines.Completed{Error: "API error: 401 mock: invalid x-api-key", Resume: "01a21ca2-6621-745d-9b1d-6dae10e613c3", Model: "mock/mock-model"}
		if c != want {
			t.Errorf("Completed = %+v\nwant %+v", c, want)
		}
	})
	t.Run("error_500", func(t *testing.T) {
		evs := decodeFixture(t, "error_500")
		var retries []engines.Action
		for _, a := range actionsOf(evs) {
			if a.Kind == engines.KindWarning {
				retries = append(retries, a)
			}
		}
		if len(retries) != 4 || retries[2].Title != "API error (500 mock: internal server error), retry 3/3" ||
			retries[2].Detail != "retrying in 8s" || retries[3].Phase != engines.PhaseCompleted || retries[3].OK {
			t.Errorf("retry warnings = %+v, want three retries and a failed end", retries)
		}
		c := last[engines.Completed](t, evs)
		if c.OK || c.Error != "API error: 500 mock: internal server error" {
			t.Errorf("Completed = %+v, want the server error", c)
		}
		if _, fromFinish := finishEvents(t, "error_500"); fromFinish {
			t.Error("error_500 completed in Finish, want at auto_retry_end")
		}
	})
	t.Run("sigterm", func(t *testing.T) {
		c := last[engines.Completed](t, decodeFixture(t, "sigterm"))
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
		if c := last[engines.Completed](t, evs); !c.OK || c.Resume != "" || c.Answer != "Done. Created hello.txt." {
			t.Errorf("Completed = %+v, want the answer without a session id", c)
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

// finishEvents decodes a fixture, skipping undecodable lines, and reports
// whether the Completed event came from Finish rather than from a line.
func finishEvents(t *testing.T, name string) ([]engines.Event, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	d := pi.Engine{}.NewDecoder()
	var evs []engines.Event
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		got, _ := d.Decode(line)
		evs = append(evs, got...)
	}
	fin := d.Finish(engines.Exit{Code: fixtureExit[name]})
	return append(evs, fin...), len(fin) > 0
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
	f.Add([]byte(`{"type":"auto_retry_end","success":false}` + "\n" + `{"type":"agent_end","willRetry":false}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := pi.Engine{}.NewDecoder()
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
