// Package conformance is the suite every engine adapter must pass, in the
// manner of restic's internal/backend/test: golden files of the captured
// streams (regenerated with -update), robustness against broken and huge
// input, the fuzz properties of the event contract, how Finish ends a run,
// the invocation's owned flags and refused requests, resume lines, and the
// purity of the adapter's imports. It also holds the helpers adapter tests
// share (DecodeAll, First, Last, Actions, EqualEvents). An adapter's tests
// call it with their engine and keep only what is specific to that engine.
//
// Only tests import it. It imports the standard library and engines only,
// so a test that uses it builds no more than the adapter itself.
package conformance

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
)

// update is the -update flag of every test binary that imports the kit.
var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the captures")

// A GoldenOption adjusts Golden to an engine's captures.
type GoldenOption func(*goldenConfig)

type goldenConfig struct {
	undecoded map[string]int
}

// Undecoded declares how many lines of a fixture the decoder rejects, such
// as the replies of a mode it does not speak. Golden fails when a fixture
// has more or fewer; fixtures not named must decode entirely.
func Undecoded(lines map[string]int) GoldenOption {
	return func(c *goldenConfig) { c.undecoded = lines }
}

// Golden decodes each captured stream <case>.jsonl of fixtures (an
// engine's folder of package captures, see captures.Engine) and compares its
// events, as MarshalEvents renders them, with the calling package's
// testdata/<case>.golden.json; with -update it writes that file instead.
// Each case finishes with its exit code from exitCodes and the captured
// <case>.stderr.txt, when there is one. Every line must decode (but see
// Undecoded) and the events must keep the contract of CheckEvents.
func Golden(t *testing.T, eng engines.Engine, fixtures fs.FS, exitCodes map[string]int, opts ...GoldenOption) {
	t.Helper()
	var cfg goldenConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	for _, file := range FixtureFiles(t, fixtures) {
		name := strings.TrimSuffix(file, ".jsonl")
		t.Run(name, func(t *testing.T) {
			code, ok := exitCodes[name]
			if !ok {
				t.Fatalf("fixture %s has no exit code in the exit-code table; add it from the captures' README", name)
			}
			lines, stderr := Fixture(t, fixtures, name)
			evs := decodeLines(t, eng, lines, engines.Exit{Code: code, StderrTail: stderr}, cfg.undecoded[name])
			CheckEvents(t, evs)
			got, err := MarshalEvents(evs)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, eng.Name(), filepath.Join("testdata", name+".golden.json"), got)
		})
	}
}

// FixtureFiles returns the names of the captured *.jsonl streams in
// fixtures, sorted, failing the test when there are none: an engine name
// that has no captures must not pass as an empty suite. ACP transcripts
// (acp_*.jsonl, see captures.TranscriptPrefix) are not streams and are left
// out.
func FixtureFiles(tb testing.TB, fixtures fs.FS) []string {
	tb.Helper()
	all, err := fs.Glob(fixtures, "*.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	var files []string
	for _, f := range all {
		if !strings.HasPrefix(f, "acp_") {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		tb.Fatal("no captured *.jsonl streams: is the engine named as its folder in package captures?")
	}
	return files
}

// Fixture returns the lines of the captured stream <name>.jsonl of fixtures
// and the stderr captured with it, empty when the case has none.
func Fixture(tb testing.TB, fixtures fs.FS, name string) (lines []string, stderr string) {
	tb.Helper()
	data, err := fs.ReadFile(fixtures, name+".jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	errData, err := fs.ReadFile(fixtures, name+".stderr.txt")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatal(err)
	}
	return strings.Split(string(data), "\n"), string(errData)
}

// decodeLines feeds lines to a fresh decoder and finishes it with exit,
// failing the test unless exactly undecoded lines are rejected.
func decodeLines(t *testing.T, eng engines.Engine, lines []string, exit engines.Exit, undecoded int) []engines.Event {
	t.Helper()
	d := eng.NewDecoder()
	var evs []engines.Event
	rejected := 0
	for i, line := range lines {
		got, err := d.Decode([]byte(line))
		if err != nil {
			rejected++
			if rejected > undecoded {
				t.Errorf("line %d: %v", i+1, err)
			}
		}
		evs = append(evs, got...)
	}
	if rejected != undecoded {
		t.Errorf("%d lines undecoded, want %d", rejected, undecoded)
	}
	return append(evs, d.Finish(exit)...)
}

// compareGolden compares got with the golden file, or rewrites the file
// under -update.
func compareGolden(t *testing.T, engine, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (run go test ./engines/%s -update to create it): %v", engine, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("events differ from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}
