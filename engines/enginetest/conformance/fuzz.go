package conformance

import (
	"bytes"
	"io/fs"
	"testing"

	"github.com/untether-go/untether/engines"
)

// FuzzSeeds seeds f with each captured stream of fixtures, whole and line
// by line, and with a few lines of garbage.
func FuzzSeeds(f *testing.F, fixtures fs.FS) {
	f.Helper()
	for _, file := range FixtureFiles(f, fixtures) {
		data, err := fs.ReadFile(fixtures, file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			f.Add(line)
		}
	}
	f.Add([]byte("not json\n{\"type\":\n\xff\xfe"))
}

// CheckFuzzInput decodes data line by line and finishes the run with an
// exit status derived from data, checking the properties that hold for any
// input: a line that fails yields no events, the run keeps the contract of
// CheckEvents, and a second Finish returns nil.
func CheckFuzzInput(t *testing.T, eng engines.Engine, data []byte) {
	t.Helper()
	d := eng.NewDecoder()
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
	CheckEvents(t, evs)
	if again := d.Finish(exit); again != nil {
		t.Fatalf("second Finish = %+v, want nil", again)
	}
}
