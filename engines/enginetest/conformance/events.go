package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/untether-go/untether/engines"
)

// CheckEvents enforces the event contract of one run: at most one Started,
// exactly one Completed, last, and no Text that is empty or repeats the one
// before it (a preview that changes nothing is noise on the chat's pace).
func CheckEvents(tb testing.TB, evs []engines.Event) {
	tb.Helper()
	started, completed := 0, 0
	var text *engines.Text
	for i, ev := range evs {
		switch ev := ev.(type) {
		case engines.Started:
			started++
		case engines.Text:
			switch {
			case ev.Text == "":
				tb.Errorf("event %d: empty Text", i)
			case text != nil && text.Text == ev.Text:
				tb.Errorf("event %d: Text repeats the one before: %q", i, ev.Text)
			}
			text = &ev
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

// MarshalEvents renders events as the golden files hold them: an indented
// JSON array, each object led by a "type" field naming the event, with
// "<", ">" and "&" left as they are so that shell commands stay readable.
func MarshalEvents(evs []engines.Event) ([]byte, error) {
	objs := make([]json.RawMessage, 0, len(evs))
	for _, ev := range evs {
		var typ string
		switch ev.(type) {
		case engines.Started:
			typ = "started"
		case engines.Action:
			typ = "action"
		case engines.Text:
			typ = "text"
		case engines.Completed:
			typ = "completed"
		case engines.UsageUpdate:
			typ = "usage"
		default:
			return nil, fmt.Errorf("marshal events: unknown event %T", ev)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
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

// First returns the first event of type E, failing the test when there is
// none.
func First[E engines.Event](tb testing.TB, evs []engines.Event) E {
	tb.Helper()
	for _, ev := range evs {
		if e, ok := ev.(E); ok {
			return e
		}
	}
	var zero E
	tb.Fatalf("no %T in %+v", zero, evs)
	return zero
}

// Last returns the last event, failing the test unless it is of type E.
func Last[E engines.Event](tb testing.TB, evs []engines.Event) E {
	tb.Helper()
	if len(evs) > 0 {
		if e, ok := evs[len(evs)-1].(E); ok {
			return e
		}
	}
	var zero E
	tb.Fatalf("last event is not %T: %+v", zero, evs)
	return zero
}

// Actions returns the Action events of evs in their order.
func Actions(evs []engines.Event) []engines.Action {
	var actions []engines.Action
	for _, ev := range evs {
		if a, ok := ev.(engines.Action); ok {
			actions = append(actions, a)
		}
	}
	return actions
}

// DecodeAll feeds lines to a fresh decoder of eng, failing the test on the
// first line it rejects, and returns every event including Finish's.
func DecodeAll(tb testing.TB, eng engines.Engine, exit engines.Exit, lines ...string) []engines.Event {
	tb.Helper()
	d := eng.NewDecoder()
	var evs []engines.Event
	for i, line := range lines {
		got, err := d.Decode([]byte(line))
		if err != nil {
			tb.Fatalf("line %d: %v", i+1, err)
		}
		evs = append(evs, got...)
	}
	return append(evs, d.Finish(exit)...)
}

// EqualEvents fails the test unless got and want are deeply equal.
func EqualEvents(tb testing.TB, got, want []engines.Event) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Errorf("events:\n got %#v\nwant %#v", got, want)
	}
}

// Texts returns the text of the Text events of evs in their order.
func Texts(evs []engines.Event) []string {
	var texts []string
	for _, ev := range evs {
		if t, ok := ev.(engines.Text); ok {
			texts = append(texts, t.Text)
		}
	}
	return texts
}

// WithoutText returns evs without their Text events, for tests about the
// other events; Texts and the goldens check the Text events.
func WithoutText(evs []engines.Event) []engines.Event {
	out := make([]engines.Event, 0, len(evs))
	for _, ev := range evs {
		if _, ok := ev.(engines.Text); !ok {
			out = append(out, ev)
		}
	}
	return out
}

// UsageAsItGoes checks an engine that reports its usage per model request
// (UsageUpdate): at least two reports, none going down, and the last one
// equal to the Completed's usage, with a cost.
func UsageAsItGoes(t testing.TB, evs []engines.Event) {
	t.Helper()
	var updates []engines.UsageUpdate
	for _, ev := range evs {
		if u, ok := ev.(engines.UsageUpdate); ok {
			updates = append(updates, u)
		}
	}
	if len(updates) < 2 {
		t.Fatalf("usage updates = %+v, want one per model request", updates)
	}
	for i := 1; i < len(updates); i++ {
		if updates[i].Usage.InputTokens < updates[i-1].Usage.InputTokens || updates[i].Usage.CostUSD < updates[i-1].Usage.CostUSD {
			t.Errorf("update %d = %+v went down from %+v", i, updates[i], updates[i-1])
		}
	}
	c := Last[engines.Completed](t, evs)
	if last := updates[len(updates)-1].Usage; last != c.Usage || last.CostUSD <= 0 {
		t.Errorf("last update %+v, Completed's usage %+v: want them equal, with a cost", last, c.Usage)
	}
}
