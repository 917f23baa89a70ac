package claude_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/claude"
)

// The control/ captures are real interactive runs of claude 2.1.332
// against internal/mockapi: <case>.in.jsonl is what the client wrote,
// <case>.out.jsonl what the CLI printed (see the README).

func controlCase(t *testing.T, name string) (in, out [][]byte) {
	t.Helper()
	read := func(suffix string) [][]byte {
		b, err := fs.ReadFile(fixtures, "control/"+name+suffix)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	}
	return read(".in.jsonl"), read(".out.jsonl")
}

// replay decodes out through a new protocol, answering each Ask with
// answer, and returns the events and everything written.
func replay(t *testing.T, plan bool, out [][]byte, answer func(engines.Ask) engines.Reply) ([]engines.Event, [][]byte) {
	t.Helper()
	_, p, err := claude.Engine{}.Session(engines.Request{Prompt: "create hello.txt containing hello"}, engines.SessionOptions{Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	open, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	writes := bytes.Split(bytes.TrimSpace(open), []byte("\n"))
	var evs []engines.Event
	for _, line := range out {
		got, w, err := p.Decode(line)
		if err != nil {
			t.Fatalf("decode %s: %v", line[:min(len(line), 80)], err)
		}
		if w != nil {
			writes = append(writes, bytes.TrimSpace(w))
		}
		for _, ev := range got {
			if a, ok := ev.(engines.Ask); ok && answer != nil {
				b, err := p.Answer(a.ID, answer(a))
				if err != nil {
					t.Fatal(err)
				}
				writes = append(writes, bytes.TrimSpace(b))
			}
		}
		evs = append(evs, got...)
	}
	evs = append(evs, p.Finish(engines.Exit{})...)
	return evs, writes
}

func asks(evs []engines.Event) []engines.Ask {
	var out []engines.Ask
	for _, ev := range evs {
		if a, ok := ev.(engines.Ask); ok {
			out = append(out, a)
		}
	}
	return out
}

func completed(t *testing.T, evs []engines.Event) engines.Completed {
	t.Helper()
	var cs []engines.Completed
	for _, ev := range evs {
		if c, ok := ev.(engines.Completed); ok {
			cs = append(cs, c)
		}
	}
	if len(cs) != 1 {
		t.Fatalf("%d Completed events, want 1", len(cs))
	}
	return cs[0]
}

// sameJSON compares the meaning of two JSON lines, ignoring the ids the
// client chose.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	norm := func(b []byte) any {
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("not JSON: %s", b)
		}
		if v["type"] == "control_request" {
			delete(v, "request_id")
		}
		return v
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("wrote\n  %s\nthe real exchange had\n  %s", got, want)
	}
}

func TestProtocolAllowAndDeny(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reply  engines.Reply
		answer string
		ok     bool
	}{
		{"allow", engines.Reply{Allow: true}, "Done. Created hello.txt.", true},
		{"deny", engines.Reply{Text: "The user denied this."}, "The request was denied", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, out := controlCase(t, tc.name)
			evs, writes := replay(t, false, out, func(engines.Ask) engines.Reply { return tc.reply })
			as := asks(evs)
			if len(as) != 1 || as[0].Kind != engines.AskPermission || as[0].Tool != "Bash" ||
				as[0].Preview != "echo hello > hello.txt" || !as[0].Always {
				t.Fatalf("asks = %+v", as)
			}
			if len(writes) != len(in) {
				t.Fatalf("wrote %d lines, the real client %d", len(writes), len(in))
			}
			for i := range in {
				sameJSON(t, writes[i], in[i])
			}
			c := completed(t, evs)
			if c.OK != tc.ok || !strings.Contains(c.Answer, tc.answer) || c.Resume == "" {
				t.Errorf("completed = %+v", c)
			}
		})
	}
}

func TestProtocolQuestion(t *testing.T) {
	in, out := controlCase(t, "question")
	evs, writes := replay(t, false, out, func(a engines.Ask) engines.Reply {
		return engines.Reply{Allow: true, Text: a.Options[1].Label, Option: a.Options[1].ID}
	})
	as := asks(evs)
	if len(as) != 1 || as[0].Kind != engines.AskQuestion || as[0].Question != "Which greeting should hello.txt contain?" ||
		len(as[0].Options) != 2 || as[0].Options[1].Label != "howdy" {
		t.Fatalf("asks = %+v", as)
	}
	sameJSON(t, writes[2], in[2])
	if c := completed(t, evs); !strings.Contains(c.Answer, `="howdy"`) {
		t.Errorf("answer %q does not carry the choice", c.Answer)
	}
}

func TestProtocolPlan(t *testing.T) {
	in, out := controlCase(t, "plan")
	evs, writes := replay(t, true, out, func(engines.Ask) engines.Reply { return engines.Reply{Allow: true} })
	as := asks(evs)
	if len(as) != 2 || as[0].Kind != engines.AskPlan || !strings.Contains(as[0].Preview, "1. Create hello.txt") ||
		as[1].Tool != "Bash" {
		t.Fatalf("asks = %+v", as)
	}
	for i := range in {
		sameJSON(t, writes[i], in[i])
	}

	in, out = controlCase(t, "plan_deny")
	evs, writes = replay(t, true, out, func(engines.Ask) engines.Reply { return engines.Reply{Stop: true, Text: "The user denied this."} })
	sameJSON(t, writes[2], in[2])
	if c := completed(t, evs); c.OK {
		t.Errorf("a denied plan completed OK: %+v", c)
	}
}

func TestProtocolReplayIsDeterministic(t *testing.T) {
	_, out := controlCase(t, "plan")
	yes := func(engines.Ask) engines.Reply { return engines.Reply{Allow: true} }
	evs1, w1 := replay(t, true, out, yes)
	evs2, w2 := replay(t, true, out, yes)
	if !reflect.DeepEqual(evs1, evs2) || !reflect.DeepEqual(w1, w2) {
		t.Fatal("decoding the same stream twice gave other events or writes")
	}
}

func TestProtocolRefusesWhatItDoesNotServe(t *testing.T) {
	_, p, _ := claude.Engine{}.Session(engines.Request{Prompt: "x"}, engines.SessionOptions{})
	p.Open()
	evs, w, err := p.Decode([]byte(`{"type":"control_request","request_id":"r1","request":{"subtype":"hook_callback"}}`))
	if err != nil || evs != nil || !bytes.Contains(w, []byte(`"subtype":"error"`)) || !bytes.Contains(w, []byte(`"request_id":"r1"`)) {
		t.Errorf("hook_callback: evs %v, write %s, err %v", evs, w, err)
	}
	if _, _, err := p.Decode([]byte(`not json`)); err == nil {
		t.Error("garbage decoded without an error")
	}
	if _, err := p.Answer("nope", engines.Reply{Allow: true}); err == nil {
		t.Error("an answer to an unknown request was encoded")
	}
	evs, _, _ = p.Decode([]byte(`{"type":"control_request","request_id":"r2","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls"}}}`))
	evs, _, _ = p.Decode([]byte(`{"type":"control_cancel_request","request_id":"r2"}`))
	if len(evs) != 1 || evs[0] != (engines.Withdrawn{ID: "r2"}) {
		t.Errorf("cancel request gave %v", evs)
	}
	if _, err := p.Answer("r2", engines.Reply{Allow: true}); err == nil {
		t.Error("a withdrawn request was answered")
	}
	if !bytes.Contains(p.Interrupt(), []byte(`"subtype":"interrupt"`)) {
		t.Error("no interrupt")
	}
}
