package codex_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/codex"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/engines/enginetest/conformance"
	"github.com/untether-go/untether/internal/mockapi"
)

// transcript is a captured app-server run: what the client wrote and what
// the server printed.
type transcript struct {
	stdin, stdout [][]byte
}

func loadTranscript(t *testing.T, name string) transcript {
	t.Helper()
	data, err := fs.ReadFile(captures.Engine("codex"), "appserver/"+name+".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var tr transcript
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if in, ok := m["stdin"]; ok {
			tr.stdin = append(tr.stdin, in)
		} else {
			tr.stdout = append(tr.stdout, m["stdout"])
		}
	}
	return tr
}

func session(t *testing.T, req engines.Request) engines.Protocol {
	t.Helper()
	_, p, err := codex.Engine{}.Session(req, engines.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run decodes lines as a bridge would, answering every Ask with reply, and
// returns the events and every write after Open, one message each.
func run(t *testing.T, p engines.Protocol, lines [][]byte, reply engines.Reply) (evs []engines.Event, writes []string) {
	t.Helper()
	for _, l := range lines {
		got, write, err := p.Decode(l)
		if err != nil {
			t.Errorf("decode %.120s: %v", l, err)
		}
		writes = append(writes, splitLines(write)...)
		for _, ev := range got {
			evs = append(evs, ev)
			if a, ok := ev.(engines.Ask); ok {
				b, err := p.Answer(a.ID, reply)
				if err != nil {
					t.Fatalf("answer %s: %v", a.ID, err)
				}
				writes = append(writes, splitLines(b)...)
			}
		}
	}
	return evs, writes
}

func splitLines(b []byte) []string {
	var out []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l != "" {
			out = append(out, strings.TrimSuffix(l, "\n"))
		}
	}
	return out
}

func TestAppServerReplaysCaptures(t *testing.T) {
	for _, tt := range []struct {
		name    string
		reply   engines.Reply
		answer  string
		command engines.Action
	}{
		{"approve", engines.Reply{Allow: true}, mockapi.FinalCreate,
			engines.Action{Kind: engines.KindCommand, Title: "echo hello > hello.txt", Phase: engines.PhaseCompleted, OK: true}},
		{"decline", engines.Reply{}, mockapi.FinalDeclined,
			engines.Action{Kind: engines.KindCommand, Title: "echo hello > hello.txt", Detail: "declined", Phase: engines.PhaseCompleted}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := loadTranscript(t, tt.name)
			req := engines.Request{Prompt: "create hello.txt containing hello"}
			p := session(t, req)
			open, err := p.Open()
			if err != nil {
				t.Fatal(err)
			}
			// The capture's client passed the model with -c, so its
			// thread/start has none, like a Request without Model.
			if got, want := splitLines(open), jsonLines(tr.stdin[:3]); !reflect.DeepEqual(got, want) {
				t.Fatalf("Open:\n got %q\nwant %q", got, want)
			}
			evs, writes := run(t, p, tr.stdout, tt.reply)
			if want := jsonLines(tr.stdin[3:]); !reflect.DeepEqual(writes, want) {
				t.Errorf("writes:\n got %q\nwant the client's %q", writes, want)
			}
			if fin := p.Finish(engines.Exit{}); fin != nil {
				t.Errorf("Finish after turn/completed = %+v", fin)
			}

			thread := threadOf(t, tr)
			if st, ok := evs[0].(engines.Started); !ok || !reflect.DeepEqual(st, engines.Started{Engine: "codex", Resume: thread, Model: "gpt-5.5"}) {
				t.Errorf("first event %+v, want Started of thread %s with the model", evs[0], thread)
			}
			var asks []engines.Ask
			var commands []engines.Action
			var completed []engines.Completed
			for _, ev := range evs {
				switch ev := ev.(type) {
				case engines.Ask:
					asks = append(asks, ev)
				case engines.Action:
					if ev.Kind == engines.KindCommand && ev.Phase == engines.PhaseCompleted {
						ev.ID = ""
						commands = append(commands, ev)
					}
				case engines.Completed:
					completed = append(completed, ev)
				case engines.Withdrawn:
					t.Errorf("withdrawn %+v: the answered ask was only confirmed", ev)
				}
			}
			want := engines.Ask{ID: "0", Kind: engines.AskPermission, Tool: "commandExecution", Title: "Shell",
				Preview: "echo hello > hello.txt", Always: true}
			if len(asks) != 1 || !reflect.DeepEqual(asks[0], want) {
				t.Errorf("asks %+v, want %+v", asks, want)
			}
			if len(commands) != 1 || commands[0] != tt.command {
				t.Errorf("completed commands %+v, want %+v", commands, tt.command)
			}
			wantDone := engines.Completed{OK: true, Answer: tt.answer, Resume: thread,
				Usage: engines.Usage{InputTokens: 400, CachedTokens: 100, OutputTokens: 60}}
			if len(completed) != 1 || completed[0] != wantDone || evs[len(evs)-1] != engines.Event(completed[0]) {
				t.Errorf("Completed %+v (last %T), want exactly one, last: %+v", completed, evs[len(evs)-1], wantDone)
			}

			// Replay: a second Protocol decoding the same stream reaches
			// the same events and writes.
			p2 := session(t, req)
			if open2, _ := p2.Open(); !bytes.Equal(open2, open) {
				t.Errorf("second Open differs")
			}
			evs2, writes2 := run(t, p2, tr.stdout, tt.reply)
			if !reflect.DeepEqual(evs2, evs) || !reflect.DeepEqual(writes2, writes) {
				t.Errorf("replay differs:\n%+v\n%+v", evs2, evs)
			}
			if _, err := p2.Answer("0", tt.reply); err == nil {
				t.Error("answering an ask twice succeeded")
			}
		})
	}
}

// jsonLines compacts captured messages as the Protocol writes them.
func jsonLines(msgs [][]byte) []string {
	var out []string
	for _, m := range msgs {
		var b bytes.Buffer
		if err := json.Compact(&b, m); err != nil {
			panic(err)
		}
		out = append(out, b.String())
	}
	return out
}

func threadOf(t *testing.T, tr transcript) string {
	t.Helper()
	var r struct {
		Params struct {
			ThreadID string `json:"threadId"`
		} `json:"params"`
	}
	if err := json.Unmarshal(tr.stdin[3], &r); err != nil || r.Params.ThreadID == "" {
		t.Fatalf("no thread id in %s: %v", tr.stdin[3], err)
	}
	return r.Params.ThreadID
}

// TestAppServerTruncatedStream ends the captured run while the ask waits:
// Finish withdraws it and synthesizes the one Completed.
func TestAppServerTruncatedStream(t *testing.T) {
	tr := loadTranscript(t, "approve")
	p := session(t, engines.Request{Prompt: "create hello.txt containing hello"})
	p.Open()
	var evs []engines.Event
	for _, l := range tr.stdout {
		got, _, err := p.Decode(l)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, got...)
		if bytes.Contains(l, []byte(`/requestApproval"`)) {
			break
		}
	}
	if _, ok := evs[len(evs)-1].(engines.Ask); !ok {
		t.Fatalf("stream cut before the ask: %+v", evs)
	}
	fin := p.Finish(engines.Exit{Code: 137, Cause: "out of memory"})
	if len(fin) != 2 || fin[0] != engines.Event(engines.Withdrawn{ID: "0"}) {
		t.Fatalf("Finish = %+v, want the ask withdrawn and a Completed", fin)
	}
	if c, ok := fin[1].(engines.Completed); !ok || c.OK || c.Error == "" || c.Resume != threadOf(t, tr) {
		t.Errorf("Completed %+v, want a failure with the thread id", fin[1])
	}
	if again := p.Finish(engines.Exit{}); again != nil {
		t.Errorf("second Finish = %+v", again)
	}
	if _, err := p.Answer("0", engines.Reply{Allow: true}); err == nil {
		t.Error("answering a withdrawn ask succeeded")
	}
}

// runningTurn returns a Protocol whose thread and turn are running.
func runningTurn(t *testing.T) engines.Protocol {
	t.Helper()
	p := session(t, engines.Request{Prompt: "hi"})
	p.Open()
	for _, l := range []string{
		`{"id":0,"result":{}}`,
		`{"id":1,"result":{"thread":{"id":"th-1"},"model":"gpt-5.5"}}`,
		`{"id":2,"result":{"turn":{"id":"turn-1","status":"inProgress"}}}`,
	} {
		if _, _, err := p.Decode([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestAppServerAnswerDecisions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply engines.Reply
		want  string
	}{
		{"allow", engines.Reply{Allow: true}, `{"id":5,"result":{"decision":"accept"}}`},
		{"always", engines.Reply{Allow: true, Always: true}, `{"id":5,"result":{"decision":"acceptForSession"}}`},
		{"deny", engines.Reply{Text: "not now"}, `{"id":5,"result":{"decision":"decline"}}`},
		{"deny and stop", engines.Reply{Stop: true}, `{"id":5,"result":{"decision":"cancel"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := runningTurn(t)
			evs, _, err := p.Decode([]byte(`{"method":"item/commandExecution/requestApproval","id":5,"params":{"itemId":"c1","command":"/bin/bash -lc 'rm -rf build'","reason":"clean up"}}`))
			if err != nil || len(evs) != 1 {
				t.Fatalf("decode: %+v, %v", evs, err)
			}
			if a := evs[0].(engines.Ask); a.ID != "5" || a.Preview != "rm -rf build\n\nclean up" {
				t.Errorf("ask %+v", a)
			}
			b, err := p.Answer("5", tt.reply)
			if err != nil || string(b) != tt.want+"\n" {
				t.Errorf("Answer = %q, %v; want %s", b, err, tt.want)
			}
		})
	}
}

func TestAppServerFileChangeAsk(t *testing.T) {
	p := runningTurn(t)
	p.Decode([]byte(`{"method":"item/started","params":{"item":{"type":"fileChange","id":"call_1","changes":[{"path":"/workspace/goodbye.txt","kind":{"type":"add"},"diff":"goodbye\n"},{"path":"/workspace/main.go","kind":{"type":"update","move_path":null},"diff":"--- a/main.go\n+++ b/main.go\n@@ -1 +1 @@\n-package old\n+package main\n"}],"status":"inProgress"}}}`))
	evs, write, err := p.Decode([]byte(`{"method":"item/fileChange/requestApproval","id":"req-a","params":{"itemId":"call_1","reason":null,"grantRoot":null}}`))
	if err != nil || write != nil || len(evs) != 1 {
		t.Fatalf("decode: %+v, %q, %v", evs, write, err)
	}
	want := engines.Ask{ID: "req-a", Kind: engines.AskPermission, Tool: "fileChange", Title: "Edit goodbye.txt, main.go",
		Preview: "goodbye.txt (add)\n+goodbye\nmain.go\n-package old\n+package main", Always: true}
	if !reflect.DeepEqual(evs[0], want) {
		t.Errorf("ask\n%+v\nwant\n%+v", evs[0], want)
	}
	if b, _ := p.Answer("req-a", engines.Reply{Allow: true}); string(b) != `{"id":"req-a","result":{"decision":"accept"}}`+"\n" {
		t.Errorf("Answer = %s: the string id must be echoed", b)
	}
}

func TestAppServerWithdrawnAndInterrupt(t *testing.T) {
	p := runningTurn(t)
	p.Decode([]byte(`{"method":"item/commandExecution/requestApproval","id":0,"params":{"command":"ls"}}`))
	if p.Interrupt() == nil {
		t.Fatal("no interrupt while the turn runs")
	}
	evs, _, err := p.Decode([]byte(`{"method":"serverRequest/resolved","params":{"threadId":"th-1","requestId":0}}`))
	if err != nil || !reflect.DeepEqual(evs, []engines.Event{engines.Withdrawn{ID: "0"}}) {
		t.Errorf("resolved without an answer: %+v, %v; want Withdrawn", evs, err)
	}
	if _, err := p.Answer("0", engines.Reply{Allow: true}); err == nil {
		t.Error("answering a withdrawn ask succeeded")
	}
	if got := string(p.Interrupt()); got != `{"id":4,"method":"turn/interrupt","params":{"threadId":"th-1","turnId":"turn-1"}}`+"\n" {
		t.Errorf("second Interrupt = %s", got)
	}
	evs, _, _ = p.Decode([]byte(`{"method":"turn/completed","params":{"threadId":"th-1","turn":{"id":"turn-1","status":"interrupted","error":null}}}`))
	if len(evs) != 1 || evs[0].(engines.Completed).OK || evs[0].(engines.Completed).Resume != "th-1" {
		t.Errorf("interrupted turn: %+v, want a failed Completed", evs)
	}
	if p.Interrupt() != nil {
		t.Error("Interrupt after the turn ended")
	}
	if fin := p.Finish(engines.Exit{}); fin != nil {
		t.Errorf("Finish = %+v", fin)
	}
}

func TestAppServerErrors(t *testing.T) {
	for _, tt := range []struct {
		name, line, write string
		wantErr           bool
	}{
		{"garbage", `not json`, "", true},
		{"no method, no id", `{"params":{}}`, "", true},
		{"response to an id never used", `{"id":"x","result":{}}`, "", true},
		{"unknown item type", `{"method":"item/started","params":{"item":{"type":"teleport","id":"i"}}}`, "", true},
		{"unknown notification", `{"method":"thread/name/updated","params":{}}`, "", false},
		{"unserved request", `{"method":"item/tool/requestUserInput","id":7,"params":{"questions":[]}}`,
			`{"id":7,"error":{"code":-32601,"message":"untether does not serve item/tool/requestUserInput"}}` + "\n", false},
		{"blank", ``, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := runningTurn(t)
			evs, write, err := p.Decode([]byte(tt.line))
			if (err != nil) != tt.wantErr || string(write) != tt.write || len(evs) != 0 {
				t.Errorf("Decode = %+v, %q, %v; want write %q, error %v", evs, write, err, tt.write, tt.wantErr)
			}
		})
	}
	p := runningTurn(t)
	if _, err := p.Answer("9", engines.Reply{}); err == nil {
		t.Error("answering an ask never made succeeded")
	}
	evs, _, _ := p.Decode([]byte(`{"id":2,"error":{"code":-32600,"message":"thread not found"}}`))
	if len(evs) != 1 || evs[0].(engines.Completed).Error == "" {
		t.Errorf("failed turn/start: %+v, want a failed Completed", evs)
	}
}

func TestAppServerSession(t *testing.T) {
	extra := []string{"-c", `model_provider="mock"`}
	inv, p, err := codex.Engine{}.Session(engines.Request{Prompt: "go on", Resume: "01a2-th", Model: "gpt-5.5", ExtraArgs: extra}, engines.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"codex", "app-server", "-c", `model_provider="mock"`}; !reflect.DeepEqual(inv.Argv, want) || inv.Stdin != nil || len(inv.Env) != 0 {
		t.Errorf("invocation %+v, want argv %q and nothing else", inv, want)
	}
	open, _ := p.Open()
	if want := `{"id":1,"method":"thread/resume","params":{"threadId":"01a2-th","model":"gpt-5.5","cwd":"/workspace","approvalPolicy":"untrusted","sandbox":"danger-full-access","excludeTurns":true}}`; splitLines(open)[2] != want {
		t.Errorf("thread request %s, want %s", splitLines(open)[2], want)
	}
	if p.Interrupt() != nil {
		t.Error("Interrupt before the turn started")
	}
	if _, _, err := (codex.Engine{}).Session(engines.Request{Prompt: "go on", Continue: true}, engines.SessionOptions{}); err == nil {
		t.Error("Continue without a thread id was accepted")
	}
	if _, _, err := (codex.Engine{}).Session(engines.Request{}, engines.SessionOptions{}); err == nil {
		t.Error("an empty prompt was accepted")
	}
	if got := (codex.Engine{}).Asks(); got != (engines.AskSupport{Permission: true, Always: true}) {
		t.Errorf("Asks = %+v", got)
	}
}

func TestAppServerTurnCarriesPictures(t *testing.T) {
	req := engines.Request{Prompt: "what is this?", Images: []string{"/workspace/incoming/a.jpg"}}
	_, p, err := codex.Engine{}.Session(req, engines.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Open()
	_, write, err := p.Decode([]byte(`{"id":1,"result":{"thread":{"id":"th-1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":2,"method":"turn/start","params":{"threadId":"th-1","input":[{"type":"text","text":"what is this?","text_elements":[]},{"type":"localImage","path":"/workspace/incoming/a.jpg"}]}}` + "\n"
	if string(write) != want {
		t.Errorf("turn/start = %s, want %s", write, want)
	}
}

// TestAppServerStreamsText: an agent message's deltas build its text, a new
// message starts afresh, its completion repeats nothing.
func TestAppServerStreamsText(t *testing.T) {
	p := runningTurn(t)
	var texts []string
	for _, l := range []string{
		`{"method":"item/started","params":{"item":{"type":"agentMessage","id":"msg_1","text":""}}}`,
		`{"method":"item/agentMessage/delta","params":{"threadId":"th-1","turnId":"turn-1","itemId":"msg_1","delta":"I'll "}}`,
		`{"method":"item/agentMessage/delta","params":{"threadId":"th-1","turnId":"turn-1","itemId":"msg_1","delta":"look."}}`,
		`{"method":"item/completed","params":{"item":{"type":"agentMessage","id":"msg_1","text":"I'll look."}}}`,
		`{"method":"item/agentMessage/delta","params":{"itemId":"msg_2","delta":"Done"}}`,
		`{"method":"item/agentMessage/delta","params":{"itemId":"msg_2","delta":""}}`,
		`{"method":"item/completed","params":{"item":{"type":"agentMessage","id":"msg_2","text":"Done."}}}`,
	} {
		evs, _, err := p.Decode([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		texts = append(texts, conformance.Texts(evs)...)
	}
	if want := []string{"I'll ", "I'll look.", "Done", "Done."}; !slices.Equal(texts, want) {
		t.Errorf("texts = %q, want %q", texts, want)
	}
}
