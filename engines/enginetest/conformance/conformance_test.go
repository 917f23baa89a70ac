package conformance

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
)

// refEngine is the smallest engine that passes the suite: it documents
// what the suite asks of an adapter and keeps the suite itself honest.
type refEngine struct{}

var _ engines.Engine = refEngine{}

var refOwned = []string{"--json", "--resume"}

func (refEngine) Name() string { return "ref" }

func (refEngine) Invocation(req engines.Request) (engines.Invocation, error) {
	if err := engines.CheckRequest("ref", req); err != nil {
		return engines.Invocation{}, err
	}
	argv := []string{"ref", "--json"}
	if req.Resume != "" {
		argv = append(argv, "--resume", req.Resume)
	}
	argv = append(argv, req.ExtraArgs...)
	return engines.Invocation{Argv: append(argv, "--", req.Prompt)}, nil
}

func (refEngine) CheckExtraArgs(args []string) error {
	return engines.CheckExtraArgs("ref", args, refOwned)
}

func (refEngine) NewDecoder() engines.Decoder { return &refDecoder{} }

func (refEngine) ResumeLine(id string) string { return "ref --resume " + id }

func (refEngine) ParseResume(text string) (string, bool) {
	return engines.FindResume(text, "ref --resume")
}

// refDecoder reads {"type":"start"|"note"|"answer","session","text"} lines.
type refDecoder struct {
	session string
	notes   int
	done    bool
}

func (d *refDecoder) Decode(line []byte) ([]engines.Event, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, nil
	}
	var l struct{ Type, Session, Text string }
	if err := engines.UnmarshalLenient(line, &l); err != nil {
		return nil, fmt.Errorf("decode ref line: %w", err)
	}
	if l.Type != "start" && l.Type != "note" && l.Type != "answer" {
		return nil, fmt.Errorf("decode ref line: unknown type %q", engines.Clip(l.Type, 40))
	}
	if d.done {
		return nil, nil
	}
	switch l.Type {
	case "start":
		if d.session != "" || l.Session == "" {
			return nil, nil
		}
		d.session = l.Session
		return []engines.Event{engines.Started{Engine: "ref", Resume: d.session}}, nil
	case "note":
		d.notes++
		return []engines.Event{engines.Action{ID: fmt.Sprint("note-", d.notes), Kind: engines.KindNote,
			Title: engines.OneLine(l.Text, 200), Phase: engines.PhaseCompleted, OK: true}}, nil
	}
	d.done = true
	return []engines.Event{engines.Completed{OK: true, Answer: l.Text, Resume: d.session}}, nil
}

func (d *refDecoder) Finish(exit engines.Exit) []engines.Event {
	if d.done {
		return nil
	}
	d.done = true
	tail := engines.StderrTail(exit.StderrTail, 3, 500, nil)
	msg := engines.ExitError("ref", exit, "", tail)
	return []engines.Event{engines.Completed{Resume: d.session, Error: engines.Clip(msg, maxErrorRunes)}}
}

var refFixtures = os.DirFS("testdata/fixtures")

func TestReferenceEngine(t *testing.T) {
	eng := refEngine{}
	t.Run("golden", func(t *testing.T) {
		Golden(t, eng, refFixtures, map[string]int{"basic": 0, "cut": 1}, Undecoded(map[string]int{"cut": 1}))
	})
	t.Run("robustness", func(t *testing.T) {
		Robustness(t, eng, Line{Name: "unknown type", Line: `{"type":"mystery"}`, WantErr: true})
	})
	t.Run("finish once", func(t *testing.T) {
		FinishOnce(t, eng, []string{`{"type":"answer","text":"x"}`}, `{"type":"start","session":"s"}`)
	})
	t.Run("finish without stream", func(t *testing.T) { FinishWithoutStream(t, eng) })
	t.Run("owned flags", func(t *testing.T) {
		OwnedFlagsRefused(t, eng, engines.Request{Prompt: "hi", Resume: "abc"})
	})
	t.Run("extra args", func(t *testing.T) {
		ExtraArgs(t, eng,
			ArgsCase{Name: "harmless", Args: []string{"--verbose"}},
			ArgsCase{Name: "owned", Args: []string{"--json=no", "--resume"}, WantErr: []string{"--json", "--resume"}})
	})
	t.Run("invalid requests", func(t *testing.T) { InvalidRequests(t, eng) })
	t.Run("invocations", func(t *testing.T) {
		Invocations(t, eng, EnvOnly(nil),
			InvocationCase{Name: "new", Req: engines.Request{Prompt: "-x"}, Want: []string{"ref", "--json", "--", "-x"}},
			InvocationCase{Name: "bad model", Req: engines.Request{Prompt: "hi", Model: "a b"}, WantErr: "model"})
	})
	t.Run("resume", func(t *testing.T) {
		Resume(t, eng, "ref --resume", []string{"s-1", "abc"}, ResumeCase{Name: "other engine", Text: "claude --resume abc"})
	})
	t.Run("fuzz properties", func(t *testing.T) {
		for _, in := range []string{"", "not json\n{\"type\":\n\xff\xfe", `{"type":"answer"}` + "\n" + `{"type":"answer"}`} {
			CheckFuzzInput(t, eng, []byte(in))
		}
	})
}

func FuzzReferenceEngine(f *testing.F) {
	FuzzSeeds(f, refFixtures)
	f.Fuzz(func(t *testing.T, data []byte) { CheckFuzzInput(t, refEngine{}, data) })
}

// recorder keeps the errors a check reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheckEvents(t *testing.T) {
	started := engines.Started{Engine: "ref"}
	action := engines.Action{ID: "a"}
	done := engines.Completed{OK: true}
	tests := []struct {
		name string
		evs  []engines.Event
		want string // part of the error; empty means none
	}{
		{name: "completed only", evs: []engines.Event{done}},
		{name: "whole run", evs: []engines.Event{started, action, done}},
		{name: "no Completed", evs: []engines.Event{started, action}, want: "0 Completed events"},
		{name: "two Completed", evs: []engines.Event{done, done}, want: "2 Completed events"},
		{name: "Completed not last", evs: []engines.Event{done, action}, want: "want last"},
		{name: "two Started", evs: []engines.Event{started, started, done}, want: "2 Started events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			CheckEvents(r, tt.evs)
			got := strings.Join(r.errs, "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("CheckEvents() reported %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMarshalEvents(t *testing.T) {
	got, err := MarshalEvents([]engines.Event{
		engines.Started{Engine: "ref", Resume: "s"},
		engines.Completed{OK: true, Answer: "a > b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "type": "started",
    "Engine": "ref",
    "Resume": "s",
    "Model": "",
    "Meta": null
  },
  {
    "type": "completed",
    "OK": true,
    "Answer": "a > b",
    "Error": "",
    "Resume": "",
    "Model": "",
    "Usage": {
      "InputTokens": 0,
      "OutputTokens": 0,
      "CachedTokens": 0,
      "CostUSD": 0,
      "Turns": 0,
      "Duration": 0
    }
  }
]
`
	if string(got) != want {
		t.Errorf("MarshalEvents() =\n%s\nwant\n%s", got, want)
	}
}

// TestKitImports keeps the kit cheap to import: the standard library and
// engines only.
func TestKitImports(t *testing.T) {
	checkImports(t, []string{"github.com/untether-go/untether/engines"}, nil)
}
