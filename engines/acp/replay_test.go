package acp_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/acp"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/internal/mockapi"
)

// entry is one line of an ACP transcript (see package captures).
type entry struct {
	From string          `json:"from"`
	Msg  json.RawMessage `json:"msg"`
}

// transcript reads a captured ACP session of opencode.
func transcript(t *testing.T, name string) []entry {
	t.Helper()
	data, err := fs.ReadFile(captures.Engine("opencode"), name+".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var es []entry
	for line := range bytes.Lines(data) {
		var e entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		es = append(es, e)
	}
	return es
}

// capturedConfig is the run the transcripts were captured with.
var capturedConfig = acp.Config{Engine: "opencode", Prompt: "create hello.txt containing hello"}

// resumeConfig is the run acp_resume was captured with: it loaded the
// session its session/load names.
func resumeConfig(t *testing.T, es []entry) acp.Config {
	t.Helper()
	for _, e := range es {
		var m struct {
			Method string `json:"method"`
			Params struct {
				SessionID string `json:"sessionId"`
			} `json:"params"`
		}
		if e.From == "client" && json.Unmarshal(e.Msg, &m) == nil && m.Method == "session/load" {
			return acp.Config{Engine: "opencode", Prompt: "now append world to hello.txt", Resume: m.Params.SessionID}
		}
	}
	t.Fatal("acp_resume has no session/load")
	return acp.Config{}
}

// configOf is the run a transcript was captured with.
func configOf(t *testing.T, name string, es []entry) acp.Config {
	if name == "acp_resume" {
		return resumeConfig(t, es)
	}
	return capturedConfig
}

// step is what the protocol did with one agent line.
type step struct {
	evs   []engines.Event
	write []byte
	err   error
}

// replay runs a transcript through a new protocol: Open, then Decode of
// every agent line. When reply is not nil, every Ask is answered with it,
// and each of the client's writes must be the transcript's next client
// lines. It returns Open's bytes and each agent line's step.
func replay(t *testing.T, cfg acp.Config, es []entry, reply *engines.Reply) ([]byte, []step) {
	t.Helper()
	p := acp.NewProtocol(cfg)
	open, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	expect := func(what string, b []byte) {
		t.Helper()
		for line := range bytes.Lines(b) {
			line = bytes.TrimSuffix(line, []byte("\n"))
			if i >= len(es) || es[i].From != "client" {
				t.Fatalf("%s wrote %s; the transcript has no client line there", what, line)
			}
			if !bytes.Equal(line, es[i].Msg) {
				t.Fatalf("%s wrote\n%s\nwant\n%s", what, line, es[i].Msg)
			}
			i++
		}
	}
	if reply != nil {
		expect("Open", open)
	}
	var steps []step
	for ; i < len(es); i++ {
		if es[i].From != "agent" {
			if reply == nil {
				continue
			}
			t.Fatalf("line %d: the client wrote %s, the protocol did not", i+1, es[i].Msg)
		}
		evs, w, err := p.Decode(es[i].Msg)
		steps = append(steps, step{evs, w, err})
		if reply == nil {
			continue
		}
		i++
		expect("Decode", w)
		for _, ev := range evs {
			if ask, ok := ev.(engines.Ask); ok {
				b, err := p.Answer(ask.ID, *reply)
				if err != nil {
					t.Fatal(err)
				}
				expect("Answer", b)
			}
		}
		i--
	}
	return open, steps
}

func events(steps []step) []engines.Event {
	var evs []engines.Event
	for _, s := range steps {
		evs = append(evs, s.evs...)
	}
	return evs
}

func TestReplayCaptures(t *testing.T) {
	for _, tt := range []struct {
		name    string
		reply   engines.Reply
		command string
		answer  string
		toolOK  bool
	}{
		{"acp_allow", engines.Reply{Allow: true}, "echo hello > hello.txt", mockapi.FinalCreate, true},
		{"acp_reject", engines.Reply{}, "echo hello > hello.txt", mockapi.ToolPreamble, false},
		// The history session/load replays is not this turn's: no second
		// tool call, and the answer is the new one.
		{"acp_resume", engines.Reply{Allow: true}, "echo world >> hello.txt && cat hello.txt", mockapi.FinalAppend, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			es := transcript(t, tt.name)
			cfg := configOf(t, tt.name, es)
			_, steps := replay(t, cfg, es, &tt.reply)
			for i, s := range steps {
				if s.err != nil {
					t.Errorf("step %d: %v", i, s.err)
				}
			}
			evs := events(steps)
			var started []engines.Started
			var asks []engines.Ask
			var tool []engines.Action
			for _, ev := range evs {
				switch ev := ev.(type) {
				case engines.Started:
					started = append(started, ev)
				case engines.Ask:
					asks = append(asks, ev)
				case engines.Action:
					tool = append(tool, ev)
				case engines.Withdrawn:
					t.Errorf("withdrawn %s: every ask was answered", ev.ID)
				}
			}
			if len(started) != 1 || !strings.HasPrefix(started[0].Resume, "ses_") || started[0].Model != "mock/mock-model" || started[0].Engine != "opencode" {
				t.Fatalf("started = %+v, want one in a ses_ session with mock/mock-model", started)
			}
			if cfg.Resume != "" && started[0].Resume != cfg.Resume {
				t.Errorf("started in %s, want the loaded %s", started[0].Resume, cfg.Resume)
			}
			wantAsk := engines.Ask{
				ID: "0", Kind: engines.AskPermission, Tool: "bash",
				Title: tt.command, Preview: tt.command,
				Options: []engines.AskOption{
					{ID: "once", Label: "Allow once", Description: "allow_once"},
					{ID: "always", Label: "Always allow", Description: "allow_always"},
					{ID: "reject", Label: "Reject", Description: "reject_once"},
				},
				Always: true,
			}
			if len(asks) != 1 || !reflect.DeepEqual(asks[0], wantAsk) {
				t.Errorf("asks = %+v\nwant [%+v]", asks, wantAsk)
			}
			if n := len(tool); n < 2 || tool[0].Phase != engines.PhaseStarted || tool[n-1].Phase != engines.PhaseCompleted ||
				tool[0].ID != tool[n-1].ID || tool[n-1].Kind != engines.KindCommand || tool[n-1].Title != tt.command || tool[n-1].OK != tt.toolOK {
				t.Errorf("tool actions = %+v, want started … completed (OK %v) of the command", tool, tt.toolOK)
			}
			if !tt.toolOK && !strings.Contains(tool[len(tool)-1].Detail, "rejected permission") {
				t.Errorf("rejected tool's detail = %q, want the rejection", tool[len(tool)-1].Detail)
			}
			c, ok := evs[len(evs)-1].(engines.Completed)
			if !ok || !c.OK || c.Answer != tt.answer || c.Resume != started[0].Resume ||
				c.Usage.InputTokens != 120 || c.Usage.OutputTokens != 25 {
				t.Errorf("last event = %+v, want Completed OK with %q and usage 120/25", evs[len(evs)-1], tt.answer)
			}
			completed := 0
			for _, ev := range evs {
				if _, ok := ev.(engines.Completed); ok {
					completed++
				}
			}
			if completed != 1 {
				t.Errorf("%d Completed events, want 1", completed)
			}
		})
	}
}

// TestReplayIsDeterministic decodes a run's output again, as a bridge that
// reattaches does, without answering again: same events and writes.
func TestReplayIsDeterministic(t *testing.T) {
	for _, name := range []string{"acp_allow", "acp_reject", "acp_resume"} {
		t.Run(name, func(t *testing.T) {
			es := transcript(t, name)
			cfg := configOf(t, name, es)
			reply := engines.Reply{Allow: name != "acp_reject"}
			open1, first := replay(t, cfg, es, &reply)
			open2, again := replay(t, cfg, es, nil)
			if !bytes.Equal(open1, open2) {
				t.Errorf("Open differs: %s vs %s", open1, open2)
			}
			if !reflect.DeepEqual(first, again) {
				t.Errorf("decoding again differs:\n%+v\n%+v", first, again)
			}
		})
	}
}

func TestFinishTruncatedStream(t *testing.T) {
	es := transcript(t, "acp_allow")
	// Cut the run while opencode waits for the answer.
	cut := 0
	for i, e := range es {
		if bytes.Contains(e.Msg, []byte(`"session/request_permission"`)) {
			cut = i + 1
		}
	}
	p := acp.NewProtocol(capturedConfig)
	if _, err := p.Open(); err != nil {
		t.Fatal(err)
	}
	for _, e := range es[:cut] {
		if e.From == "agent" {
			if _, _, err := p.Decode(e.Msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	evs := p.Finish(engines.Exit{Code: 137})
	if len(evs) != 2 {
		t.Fatalf("Finish = %+v, want Withdrawn and Completed", evs)
	}
	if w, ok := evs[0].(engines.Withdrawn); !ok || w.ID != "0" {
		t.Errorf("first = %+v, want Withdrawn 0", evs[0])
	}
	c, ok := evs[1].(engines.Completed)
	if !ok || c.OK || !strings.Contains(c.Error, "SIGKILL") || !strings.HasPrefix(c.Resume, "ses_") {
		t.Errorf("completed = %+v, want a failure naming SIGKILL in the session", evs[1])
	}
	if _, err := p.Answer("0", engines.Reply{Allow: true}); err == nil {
		t.Error("Answer after Finish withdrew the request succeeded")
	}
	if again := p.Finish(engines.Exit{}); again != nil {
		t.Errorf("second Finish = %+v, want nothing", again)
	}
}
