package acp_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/acp"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

// Agent lines shaped as opencode 1.18.33 sends them (see the captures).
const (
	initLoadable  = `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":1,"agentCapabilities":{"loadSession":true}}}`
	initNoLoad    = `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":1,"agentCapabilities":{}}}`
	newSession    = `{"jsonrpc":"2.0","id":1,"result":{"sessionId":"ses_1","configOptions":[{"id":"model","category":"model","currentValue":"mock/mock-model"}]}}`
	permission    = `{"jsonrpc":"2.0","id":0,"method":"session/request_permission","params":{"sessionId":"ses_1","toolCall":{"toolCallId":"call_1","title":"echo hi","kind":"execute","rawInput":{"command":"echo hi"}},"options":[{"optionId":"once","kind":"allow_once","name":"Allow once"},{"optionId":"always","kind":"allow_always","name":"Always allow"},{"optionId":"reject","kind":"reject_once","name":"Reject"}]}}`
	promptDone    = `{"jsonrpc":"2.0","id":2,"result":{"stopReason":"end_turn"}}`
	promptCancel  = `{"jsonrpc":"2.0","id":2,"result":{"stopReason":"cancelled"}}`
	messageChunk  = `{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"ses_1","update":{"sessionUpdate":"agent_message_chunk","messageId":"m1","content":{"type":"text","text":"hi there"}}}}`
	toolCompleted = `{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"ses_1","update":{"sessionUpdate":"tool_call_update","toolCallId":"call_1","status":"completed"}}}`
)

// started returns a protocol whose session ses_1 is prompted, with the
// writes of Open and the handshake.
func started(t *testing.T, cfg acp.Config) (engines.Protocol, string) {
	t.Helper()
	p := acp.NewProtocol(cfg)
	open, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	writes := string(open)
	for _, line := range []string{initLoadable, newSession} {
		_, w, err := p.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		writes += string(w)
	}
	return p, writes
}

func decode(t *testing.T, p engines.Protocol, line string) ([]engines.Event, string) {
	t.Helper()
	evs, w, err := p.Decode([]byte(line))
	if err != nil {
		t.Fatalf("decode %s: %v", line, err)
	}
	return evs, string(w)
}

func TestOpenWritesInitializeWithoutClientCapabilities(t *testing.T) {
	p := acp.NewProtocol(acp.Config{Engine: "opencode", Prompt: "hi"})
	b, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":1,"clientCapabilities":{"fs":{"readTextFile":false,"writeTextFile":false},"terminal":false}}}` + "\n"
	if string(b) != want {
		t.Errorf("Open = %s, want %s", b, want)
	}
	if _, err := p.Open(); err == nil {
		t.Error("second Open succeeded")
	}
}

func TestHandshake(t *testing.T) {
	_, writes := started(t, acp.Config{Engine: "opencode", Prompt: "say <hi> & go"})
	lines := strings.Split(strings.TrimSuffix(writes, "\n"), "\n")
	want := []string{
		`{"jsonrpc":"2.0","id":1,"method":"session/new","params":{"cwd":"/workspace","mcpServers":[]}}`,
		`{"jsonrpc":"2.0","id":2,"method":"session/prompt","params":{"sessionId":"ses_1","prompt":[{"type":"text","text":"say <hi> & go"}]}}`,
	}
	if !reflect.DeepEqual(lines[1:], want) {
		t.Errorf("handshake writes =\n%s\nwant\n%s", strings.Join(lines[1:], "\n"), strings.Join(want, "\n"))
	}
}

func TestAnswerPicksTheOption(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply engines.Reply
		want  string // the option id; "" for an error
	}{
		{"allow once", engines.Reply{Allow: true}, "once"},
		{"allow always", engines.Reply{Allow: true, Always: true}, "always"},
		{"deny", engines.Reply{Text: "not now"}, "reject"},
		{"picked option", engines.Reply{Option: "always"}, "always"},
		{"option not offered", engines.Reply{Option: "sometimes"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := started(t, acp.Config{Engine: "opencode", Prompt: "hi"})
			evs, _ := decode(t, p, permission)
			if len(evs) != 1 {
				t.Fatalf("events = %+v, want one Ask", evs)
			}
			ask := evs[0].(engines.Ask)
			if ask.ID != "0" || ask.Preview != "echo hi" || !ask.Always || len(ask.Options) != 3 {
				t.Errorf("ask = %+v", ask)
			}
			b, err := p.Answer("0", tt.reply)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Answer = %s, want an error", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := `{"jsonrpc":"2.0","id":0,"result":{"outcome":{"outcome":"selected","optionId":"` + tt.want + `"}}}` + "\n"
			if string(b) != want {
				t.Errorf("Answer = %s, want %s", b, want)
			}
			if _, err := p.Answer("0", tt.reply); err == nil {
				t.Error("a second answer succeeded")
			}
		})
	}
}

func TestAnswerRefusals(t *testing.T) {
	p, _ := started(t, acp.Config{Engine: "opencode", Prompt: "hi"})
	if _, err := p.Answer("0", engines.Reply{Allow: true}); err == nil {
		t.Error("answering a request never made succeeded")
	}
	decode(t, p, permission)
	// The tool finished without our answer: the agent no longer waits.
	decode(t, p, toolCompleted)
	if _, err := p.Answer("0", engines.Reply{Allow: true}); err == nil {
		t.Error("answering a request whose tool finished succeeded")
	}
	// A request whose options lack the kind the reply means.
	p, _ = started(t, acp.Config{Engine: "opencode", Prompt: "hi"})
	decode(t, p, strings.Replace(permission, `{"optionId":"once","kind":"allow_once","name":"Allow once"},`, "", 1))
	if b, err := p.Answer("0", engines.Reply{Allow: true}); err == nil {
		t.Errorf("allow once without an allow_once option = %s, want an error", b)
	}
}

func TestDenialWithStopCancelsTheTurn(t *testing.T) {
	p, _ := started(t, acp.Config{Engine: "opencode", Prompt: "hi"})
	decode(t, p, permission)
	b, err := p.Answer("0", engines.Reply{Stop: true})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"jsonrpc":"2.0","id":0,"result":{"outcome":{"outcome":"selected","optionId":"reject"}}}` + "\n" +
		`{"jsonrpc":"2.0","method":"session/cancel","params":{"sessionId":"ses_1"}}` + "\n"
	if string(b) != want {
		t.Errorf("Answer = %s\nwant %s", b, want)
	}
}

func TestInterrupt(t *testing.T) {
	p := acp.NewProtocol(acp.Config{Engine: "opencode", Prompt: "hi"})
	if b := p.Interrupt(); b != nil {
		t.Errorf("Interrupt before the session = %s, want nil", b)
	}
	p, _ = started(t, acp.Config{Engine: "opencode", Prompt: "hi"})
	decode(t, p, messageChunk)
	decode(t, p, permission)
	want := `{"jsonrpc":"2.0","method":"session/cancel","params":{"sessionId":"ses_1"}}` + "\n" +
		`{"jsonrpc":"2.0","id":0,"result":{"outcome":{"outcome":"cancelled"}}}` + "\n"
	if b := p.Interrupt(); string(b) != want {
		t.Errorf("Interrupt = %s\nwant %s", b, want)
	}
	if _, err := p.Answer("0", engines.Reply{Allow: true}); err == nil {
		t.Error("answering a request the interrupt cancelled succeeded")
	}
	evs, _ := decode(t, p, promptCancel)
	if len(evs) != 2 {
		t.Fatalf("events = %+v, want Withdrawn and Completed", evs)
	}
	if w, ok := evs[0].(engines.Withdrawn); !ok || w.ID != "0" {
		t.Errorf("first = %+v, want Withdrawn 0", evs[0])
	}
	if c, ok := evs[1].(engines.Completed); !ok || c.OK || c.Error != "opencode was cancelled" || c.Answer != "hi there" {
		t.Errorf("completed = %+v, want a cancelled turn with the text so far", evs[1])
	}
	if b := p.Interrupt(); b != nil {
		t.Errorf("Interrupt after the turn = %s, want nil", b)
	}
}

func TestCompletedOnce(t *testing.T) {
	p, _ := started(t, acp.Config{Engine: "opencode", Prompt: "hi"})
	decode(t, p, messageChunk)
	evs, _ := decode(t, p, promptDone)
	if c, ok := evs[len(evs)-1].(engines.Completed); !ok || !c.OK || c.Answer != "hi there" || c.Resume != "ses_1" || c.Model != "mock/mock-model" {
		t.Fatalf("events = %+v, want Completed OK with the answer", evs)
	}
	if evs, _ := decode(t, p, messageChunk); evs != nil {
		t.Errorf("after Completed: %+v, want nothing", evs)
	}
	if evs := p.Finish(engines.Exit{Code: 1}); evs != nil {
		t.Errorf("Finish after Completed = %+v, want nothing", evs)
	}
}

func TestAnswerIsTheLastMessage(t *testing.T) {
	chunk := func(id, text string) string {
		return `{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"ses_1","update":{"sessionUpdate":"agent_message_chunk"` +
			id + `,"content":{"type":"text","text":"` + text + `"}}}}`
	}
	tool := `{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"ses_1","update":{"sessionUpdate":"tool_call","toolCallId":"c","title":"ls","kind":"execute","status":"pending"}}}`
	for _, tt := range []struct {
		name  string
		lines []string
		want  string
		texts []string // the answer as it is written
	}{
		{"message ids", []string{chunk(`,"messageId":"a"`, "first"), chunk(`,"messageId":"b"`, "Sec"), chunk(`,"messageId":"b"`, "ond")}, "Second",
			[]string{"first", "Sec", "Second"}},
		{"no ids, split by a tool call", []string{chunk("", "first"), tool, chunk("", "Sec"), chunk("", "ond"), chunk("", "  ")}, "Second",
			[]string{"first", "Sec", "Second"}},
		{"tool call last", []string{chunk("", "first"), tool}, "first", []string{"first"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := started(t, acp.Config{Engine: "opencode", Prompt: "hi"})
			var texts []string
			for _, l := range tt.lines {
				evs, _ := decode(t, p, l)
				texts = append(texts, conformance.Texts(evs)...)
			}
			evs, _ := decode(t, p, promptDone)
			if c := evs[len(evs)-1].(engines.Completed); c.Answer != tt.want {
				t.Errorf("answer = %q, want %q", c.Answer, tt.want)
			}
			if !slices.Equal(texts, tt.texts) {
				t.Errorf("texts = %q, want %q", texts, tt.texts)
			}
		})
	}
}

func TestUndecodableLines(t *testing.T) {
	p, _ := started(t, acp.Config{Engine: "opencode", Prompt: "hi"})
	for _, line := range []string{"not json", `{"foo":1}`, `{"jsonrpc":"2.0","id":99,"result":{}}`} {
		if evs, w, err := p.Decode([]byte(line)); err == nil {
			t.Errorf("Decode(%s) = %v, %s, nil; want an error", line, evs, w)
		}
	}
	if evs, w, err := p.Decode([]byte("  ")); evs != nil || w != nil || err != nil {
		t.Errorf("blank line = %v, %s, %v; want nothing", evs, w, err)
	}
}

func TestAgentRequestsAreRefused(t *testing.T) {
	p, _ := started(t, acp.Config{Engine: "opencode", Prompt: "hi"})
	evs, w := decode(t, p, `{"jsonrpc":"2.0","id":"fs-7","method":"fs/read_text_file","params":{"sessionId":"ses_1","path":"/etc/passwd"}}`)
	var resp struct {
		ID    string `json:"id"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(w), &resp); err != nil || evs != nil || resp.ID != "fs-7" || resp.Error.Code != -32601 || !strings.Contains(resp.Error.Message, "fs/read_text_file") {
		t.Errorf("Decode = %v, %s; want an error response to fs-7 naming the method", evs, w)
	}
}

func TestResume(t *testing.T) {
	history := `{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"ses_old","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"old answer"}}}}`
	t.Run("loaded", func(t *testing.T) {
		p := acp.NewProtocol(acp.Config{Engine: "opencode", Prompt: "more", Resume: "ses_old"})
		p.Open()
		_, w := decode(t, p, initLoadable)
		if want := `{"jsonrpc":"2.0","id":1,"method":"session/load","params":{"sessionId":"ses_old","cwd":"/workspace","mcpServers":[]}}` + "\n"; w != want {
			t.Errorf("after initialize: %s, want %s", w, want)
		}
		if evs, _ := decode(t, p, history); evs != nil {
			t.Errorf("replayed history = %+v, want nothing", evs)
		}
		evs, w := decode(t, p, `{"jsonrpc":"2.0","id":1,"result":null}`)
		if len(evs) != 1 || evs[0].(engines.Started).Resume != "ses_old" || !strings.Contains(w, `"method":"session/prompt"`) {
			t.Errorf("after load: %+v, %s; want Started in ses_old and the prompt", evs, w)
		}
		evs, _ = decode(t, p, promptDone)
		if c := evs[0].(engines.Completed); c.OK || c.Answer != "" {
			t.Errorf("completed = %+v, want no answer: the history is not this turn's", c)
		}
	})
	t.Run("agent cannot load", func(t *testing.T) {
		p := acp.NewProtocol(acp.Config{Engine: "opencode", Prompt: "more", Resume: "ses_old"})
		p.Open()
		evs, w := decode(t, p, initNoLoad)
		if len(evs) != 1 || evs[0].(engines.Action).Kind != engines.KindWarning || !strings.Contains(w, `"method":"session/new"`) {
			t.Errorf("after initialize: %+v, %s; want a warning and session/new", evs, w)
		}
	})
	t.Run("load fails", func(t *testing.T) {
		p := acp.NewProtocol(acp.Config{Engine: "opencode", Prompt: "more", Resume: "ses_old"})
		p.Open()
		decode(t, p, initLoadable)
		evs, w := decode(t, p, `{"jsonrpc":"2.0","id":1,"error":{"code":-32002,"message":"session not found"}}`)
		a, ok := evs[0].(engines.Action)
		if len(evs) != 1 || !ok || !strings.Contains(a.Title, "session not found") || !strings.Contains(w, `"id":2,"method":"session/new"`) {
			t.Errorf("after the failed load: %+v, %s; want a warning and session/new", evs, w)
		}
	})
}

func TestModel(t *testing.T) {
	p := acp.NewProtocol(acp.Config{Engine: "opencode", Prompt: "hi", Model: "anthropic/claude-x"})
	p.Open()
	decode(t, p, initLoadable)
	evs, w := decode(t, p, newSession)
	if want := `{"jsonrpc":"2.0","id":2,"method":"session/set_config_option","params":{"sessionId":"ses_1","configId":"model","value":"anthropic/claude-x"}}` + "\n"; evs != nil || w != want {
		t.Fatalf("after session/new: %+v, %s; want %s", evs, w, want)
	}
	evs, w = decode(t, p, `{"jsonrpc":"2.0","id":2,"result":{}}`)
	if len(evs) != 1 || evs[0].(engines.Started).Model != "anthropic/claude-x" || !strings.Contains(w, `"id":3,"method":"session/prompt"`) {
		t.Errorf("after the model: %+v, %s; want Started with the model and the prompt", evs, w)
	}

	p = acp.NewProtocol(acp.Config{Engine: "opencode", Prompt: "hi", Model: "no/such"})
	p.Open()
	decode(t, p, initLoadable)
	decode(t, p, newSession)
	evs, w = decode(t, p, `{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"unknown model"}}`)
	if len(evs) != 2 || evs[0].(engines.Action).Kind != engines.KindWarning || evs[1].(engines.Started).Model != "mock/mock-model" || !strings.Contains(w, "session/prompt") {
		t.Errorf("after a refused model: %+v, %s; want a warning, Started with the default and the prompt", evs, w)
	}
}

func TestHandshakeFailure(t *testing.T) {
	p := acp.NewProtocol(acp.Config{Engine: "gemini", Prompt: "hi"})
	p.Open()
	evs, w := decode(t, p, `{"jsonrpc":"2.0","id":0,"error":{"code":-32000,"message":"Authentication required"}}`)
	if c, ok := evs[0].(engines.Completed); len(evs) != 1 || !ok || c.OK || c.Error != "gemini could not start: Authentication required" || w != "" {
		t.Errorf("events = %+v, %s; want a failed Completed", evs, w)
	}
}

func TestEditPreview(t *testing.T) {
	for _, tt := range []struct {
		name, toolCall, want string
	}{
		// opencode 1.18.33's request for its write tool.
		{"new file", `{"toolCallId":"t","title":"/workspace/goodbye.txt","kind":"edit","locations":[{"path":"/workspace/goodbye.txt"}],"rawInput":{"filepath":"/workspace/goodbye.txt"},"content":[{"type":"diff","path":"/workspace/goodbye.txt","oldText":"","newText":"goodbye\n"}]}`, "goodbye"},
		{"edit", `{"toolCallId":"t","title":"main.go","kind":"edit","content":[{"type":"diff","path":"/workspace/main.go","oldText":"a\nb\nc\n","newText":"a\nB\nc\n"}]}`, "- b\n+ B"},
		{"long new file", `{"toolCallId":"t","kind":"edit","content":[{"type":"diff","path":"x","newText":"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14"}]}`, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n… 2 more lines"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := started(t, acp.Config{Engine: "opencode", Prompt: "hi"})
			evs, _ := decode(t, p, `{"jsonrpc":"2.0","id":5,"method":"session/request_permission","params":{"sessionId":"ses_1","toolCall":`+tt.toolCall+`,"options":[{"optionId":"r","kind":"reject_once","name":"Reject"}]}}`)
			ask := evs[0].(engines.Ask)
			if ask.Preview != tt.want || ask.Always {
				t.Errorf("preview = %q (always %v), want %q", ask.Preview, ask.Always, tt.want)
			}
			if tt.name == "new file" && ask.Title != "goodbye.txt" {
				t.Errorf("title = %q, want the path in the project", ask.Title)
			}
		})
	}
}
