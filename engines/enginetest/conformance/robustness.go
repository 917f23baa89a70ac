package conformance

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
)

// maxErrorRunes bounds Completed.Error: a chat shows a sentence, not a
// report.
const maxErrorRunes = 1000

// A Line is one line of input for Robustness, with whether the decoder
// must reject it.
type Line struct {
	Name    string
	Line    string
	WantErr bool
}

// Robustness checks that eng's decoder survives input no CLI should print:
// lines that are not JSON, broken JSON, JSON that is no line of any stream,
// and 10 MiB of it, each rejected with an error that starts
// "decode <engine> line: "; blank lines are no error. It checks the
// engine's own lines too, such as ones of an unknown type or ones that
// carry nothing to show. None of these lines yields an event. A 10 MiB
// stderr still makes an error a chat can show.
func Robustness(t *testing.T, eng engines.Engine, lines ...Line) {
	t.Run("bad lines", func(t *testing.T) { badLines(t, eng, lines) })
	t.Run("huge lines", func(t *testing.T) { hugeLines(t, eng) })
}

func badLines(t *testing.T, eng engines.Engine, own []Line) {
	tests := []Line{
		{Name: "garbage", Line: "not json at all", WantErr: true},
		{Name: "truncated", Line: `{"type":"result","session_id":"5adc1522-c540-43a4-b993`, WantErr: true},
		{Name: "invalid UTF-8 outside strings", Line: "\xff\xfe{}", WantErr: true},
		{Name: "type not a string", Line: `{"type":5}`, WantErr: true},
		{Name: "array", Line: `[1,2]`, WantErr: true},
		{Name: "null", Line: `null`, WantErr: true},
		{Name: "string", Line: `"result"`, WantErr: true},
		{Name: "deep nesting", Line: strings.Repeat("[", 100000), WantErr: true},
		{Name: "deep object nesting", Line: strings.Repeat(`{"a":`, 100000), WantErr: true},
		{Name: "blank", Line: " \r"},
	}
	for _, tt := range append(tests, own...) {
		t.Run(tt.Name, func(t *testing.T) {
			// Started comes from a line's session id; these lines have none.
			// A line of the agent's text may be a preview of the answer
			// (Text) even alone.
			evs, err := eng.NewDecoder().Decode([]byte(tt.Line))
			evs = WithoutText(evs)
			if (err != nil) != tt.WantErr {
				t.Fatalf("Decode() error = %v, want error %v", err, tt.WantErr)
			}
			if prefix := "decode " + eng.Name() + " line: "; err != nil && !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q lacks the operation phrase", err)
			}
			if len(evs) != 0 {
				t.Errorf("Decode() = %+v, want no events", evs)
			}
		})
	}
}

func hugeLines(t *testing.T, eng engines.Engine) {
	big := strings.Repeat("word ", 2<<20) // 10 MiB
	for _, tt := range []struct{ name, line string }{
		{"truncated JSON", "{" + big},
		{"not JSON", "Error: " + big},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			if _, err := eng.NewDecoder().Decode([]byte(tt.line)); err == nil {
				t.Errorf("Decode() of a %s 10 MiB line succeeded", tt.name)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("rejecting a 10 MiB line took %v", took)
			}
		})
	}
	t.Run("stderr", func(t *testing.T) {
		evs := eng.NewDecoder().Finish(engines.Exit{Code: 1, StderrTail: big})
		c := Last[engines.Completed](t, evs)
		if n := utf8.RuneCountInString(c.Error); n > maxErrorRunes || c.OK {
			t.Errorf("Completed OK=%v with an error of %d runes, want a failure of at most %d", c.OK, n, maxErrorRunes)
		}
	})
}

// FinishOnce checks that Finish completes a run once: the first Finish of
// a decoder that saw no lines returns the Completed event, the first after
// run (lines that complete the run themselves) returns nothing, a second
// Finish returns nil, and the later line decoded after Finish yields
// nothing.
func FinishOnce(t *testing.T, eng engines.Engine, run []string, later string) {
	t.Helper()
	for _, lines := range [][]string{nil, run} {
		d := eng.NewDecoder()
		for _, l := range lines {
			if _, err := d.Decode([]byte(l)); err != nil {
				t.Fatal(err)
			}
		}
		firstFinish := d.Finish(engines.Exit{Code: 1})
		if wantN := map[bool]int{true: 1, false: 0}[lines == nil]; len(firstFinish) != wantN {
			t.Errorf("first Finish after %d lines = %+v, want %d events", len(lines), firstFinish, wantN)
		}
		if again := d.Finish(engines.Exit{Code: 1}); again != nil {
			t.Errorf("second Finish = %+v, want nil", again)
		}
		if evs, err := d.Decode([]byte(later)); err != nil || evs != nil {
			t.Errorf("Decode after Finish = %+v, %v; want nothing", evs, err)
		}
	}
}

// FinishWithoutStream checks the sentence Finish makes of each way a
// process can end when it printed no line: its exit code, with what stderr
// says (one line, clipped to 500 runes, invalid UTF-8 replaced), or the
// signal that stopped it.
func FinishWithoutStream(t *testing.T, eng engines.Engine) {
	name := eng.Name()
	tests := []struct {
		name string
		exit engines.Exit
		want string
	}{
		{"nothing", engines.Exit{Code: 1}, name + " exited with code 1"},
		{"long stderr line", engines.Exit{Code: 2, StderrTail: strings.Repeat("x", 2000)}, name + " exited with code 2: " + strings.Repeat("x", 499) + "…"},
		{"invalid UTF-8 stderr", engines.Exit{Code: 1, StderrTail: "bad \xff byte"}, name + " exited with code 1: bad \uFFFD byte"},
		{"sigint", engines.Exit{Code: 130}, name + " was interrupted (signal SIGINT)"},
		{"sigkill", engines.Exit{Code: 137}, name + " was interrupted (signal SIGKILL)"},
		{"killed without code", engines.Exit{Code: -1}, name + " was interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := eng.NewDecoder().Finish(tt.exit)
			EqualEvents(t, evs, []engines.Event{engines.Completed{Error: tt.want}})
		})
	}
}
