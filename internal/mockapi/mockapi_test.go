package mockapi

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	Name string
	Data map[string]any
}

// post sends body as JSON and returns the response; the caller closes it.
func post(t *testing.T, url string, body any, header ...string) *http.Response {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// readSSE checks that the body is well-formed SSE (event and data lines,
// events separated by blank lines, JSON data whose type names the event)
// and returns its events.
func readSSE(t *testing.T, resp *http.Response) []sseEvent {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	var events []sseEvent
	var cur sseEvent
	var sawData bool
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if !sawData {
				t.Fatalf("event %d: blank line without data", len(events))
			}
			if typ, _ := cur.Data["type"].(string); typ != cur.Name {
				t.Fatalf("event %d: name %q but data type %q", len(events), cur.Name, typ)
			}
			events = append(events, cur)
			cur, sawData = sseEvent{}, false
		case strings.HasPrefix(line, "event: "):
			if cur.Name != "" || sawData {
				t.Fatalf("event %d: event line out of place: %q", len(events), line)
			}
			cur.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if sawData {
				t.Fatalf("event %d: two data lines", len(events))
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.Data); err != nil {
				t.Fatalf("event %d: data is not a JSON object: %v: %s", len(events), err, line)
			}
			sawData = true
		default:
			t.Fatalf("event %d: unexpected line %q", len(events), line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur.Name != "" || sawData {
		t.Fatal("stream ends inside an event")
	}
	return events
}

func names(events []sseEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Name)
	}
	return out
}

// A Messages request shaped like Claude Code's: a system reminder before the
// prompt, tools with their schemas, streaming.
func claudeRequest(messages ...any) map[string]any {
	return map[string]any{
		"model": "claude-sonnet-4-5", "stream": true, "max_tokens": 32000, "messages": messages,
		"tools": []any{
			map[string]any{"name": "Bash", "input_schema": json.RawMessage(claudeBash)},
			map[string]any{"name": "Write", "input_schema": json.RawMessage(claudeWrite)},
		},
	}
}

func userMessage(text string) map[string]any {
	return map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "text", "text": "<system-reminder>context</system-reminder>"},
		map[string]any{"type": "text", "text": text},
	}}
}

// anthropicMessage rebuilds the message a client assembles from the stream.
func anthropicMessage(t *testing.T, events []sseEvent) (blocks []map[string]any, stop string) {
	t.Helper()
	partial := map[int]string{}
	for _, e := range events {
		switch e.Name {
		case "content_block_start":
			blocks = append(blocks, e.Data["content_block"].(map[string]any))
			if int(e.Data["index"].(float64)) != len(blocks)-1 {
				t.Fatalf("block index %v out of order", e.Data["index"])
			}
		case "content_block_delta":
			i := int(e.Data["index"].(float64))
			d := e.Data["delta"].(map[string]any)
			switch d["type"] {
			case "text_delta":
				blocks[i]["text"] = blocks[i]["text"].(string) + d["text"].(string)
			case "thinking_delta":
				blocks[i]["thinking"] = blocks[i]["thinking"].(string) + d["thinking"].(string)
			case "signature_delta":
				blocks[i]["signature"] = d["signature"]
			case "input_json_delta":
				partial[i] += d["partial_json"].(string)
			}
		case "content_block_stop":
			i := int(e.Data["index"].(float64))
			if js, ok := partial[i]; ok {
				var input map[string]any
				if err := json.Unmarshal([]byte(js), &input); err != nil {
					t.Fatalf("tool input %q: %v", js, err)
				}
				blocks[i]["input"] = input
			}
		case "message_delta":
			stop = e.Data["delta"].(map[string]any)["stop_reason"].(string)
		}
	}
	return blocks, stop
}

func TestAnthropicToolCallThenFinalAnswer(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	url := s.URL() + "/v1/messages?beta=true"

	events := readSSE(t, post(t, url, claudeRequest(userMessage("create hello.txt containing hello"))))
	want := []string{"message_start",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"message_delta", "message_stop"}
	if got := names(events); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	blocks, stop := anthropicMessage(t, events)
	if stop != "tool_use" {
		t.Errorf("stop_reason %q", stop)
	}
	if blocks[0]["type"] != "thinking" || blocks[0]["thinking"] != Reasoning || !strings.HasPrefix(blocks[0]["signature"].(string), "mocksig") {
		t.Errorf("thinking block %v", blocks[0])
	}
	if blocks[1]["text"] != ToolPreamble {
		t.Errorf("text block %v", blocks[1])
	}
	use := blocks[2]
	wantInput := map[string]any{"command": "echo hello > hello.txt", "description": "Create hello.txt containing hello"}
	if use["type"] != "tool_use" || use["name"] != "Bash" || !reflect.DeepEqual(use["input"], wantInput) {
		t.Errorf("tool_use block %v", use)
	}
	start := events[0].Data["message"].(map[string]any)
	if u := start["usage"].(map[string]any); u["input_tokens"] != 120.0 || u["output_tokens"] != 1.0 {
		t.Errorf("message_start usage %v", u)
	}
	if u := events[len(events)-2].Data["usage"].(map[string]any); u["output_tokens"] != 25.0 {
		t.Errorf("message_delta usage %v", u)
	}

	// The client runs the tool and sends its result: the final answer.
	result := map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "tool_result", "tool_use_id": use["id"], "content": ""}}}
	assistant := map[string]any{"role": "assistant", "content": []any{blocks[1], use}}
	events = readSSE(t, post(t, url, claudeRequest(userMessage("create hello.txt containing hello"), assistant, result)))
	want = []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop"}
	if got := names(events); !reflect.DeepEqual(got, want) {
		t.Fatalf("final events:\n got %v\nwant %v", got, want)
	}
	blocks, stop = anthropicMessage(t, events)
	if len(blocks) != 1 || blocks[0]["text"] != FinalCreate || stop != "end_turn" {
		t.Errorf("final answer %v, stop %q", blocks, stop)
	}

	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Answer != "tool:Bash" || reqs[1].Answer != "final" {
		t.Fatalf("request log %+v", reqs)
	}
	if reqs[0].Method != "POST" || reqs[0].Path != "/v1/messages?beta=true" {
		t.Errorf("logged %s %s", reqs[0].Method, reqs[0].Path)
	}
	if m, _ := reqs[0].Body.(map[string]any); m["model"] != "claude-sonnet-4-5" {
		t.Errorf("logged body %v", reqs[0].Body)
	}
}

func TestAnthropicNonStreamingAndCountTokens(t *testing.T) {
	s := New(Options{NoReasoning: true})
	defer s.Close()
	body := claudeRequest(userMessage("show missing.txt"))
	body["stream"] = false
	resp := post(t, s.URL()+"/v1/messages", body)
	var msg struct {
		Type       string           `json:"type"`
		Content    []map[string]any `json:"content"`
		StopReason string           `json:"stop_reason"`
		Usage      map[string]any   `json:"usage"`
	}
	decodeJSON(t, resp, http.StatusOK, &msg)
	if msg.Type != "message" || msg.StopReason != "tool_use" || msg.Usage["output_tokens"] != 25.0 {
		t.Errorf("message %+v", msg)
	}
	if len(msg.Content) != 2 || msg.Content[0]["type"] != "text" || msg.Content[1]["name"] != "Bash" {
		t.Errorf("content without reasoning %v", msg.Content)
	}
	if in := msg.Content[1]["input"].(map[string]any); in["command"] != "cat missing.txt" {
		t.Errorf("input %v", in)
	}

	var count map[string]any
	decodeJSON(t, post(t, s.URL()+"/v1/messages/count_tokens", body), http.StatusOK, &count)
	if count["input_tokens"] != 1234.0 {
		t.Errorf("count_tokens %v", count)
	}
}

func decodeJSON(t *testing.T, resp *http.Response, status int, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// A Responses request shaped like codex exec's.
func codexRequest(input ...any) map[string]any {
	return map[string]any{
		"model": "gpt-5.5", "stream": true, "input": input, "store": false,
		"tools": []any{
			map[string]any{"type": "function", "name": "exec_command", "parameters": json.RawMessage(codexExec)},
			map[string]any{"type": "custom", "name": "apply_patch", "format": map[string]any{"type": "grammar"}},
			map[string]any{"type": "web_search"},
		},
	}
}

func codexUser(text string) []any {
	return []any{
		map[string]any{"type": "message", "role": "developer", "content": []any{map[string]any{"type": "input_text", "text": "be good"}}},
		map[string]any{"type": "message", "role": "user", "content": []any{map[string]any{"type": "input_text", "text": "<environment_context>x</environment_context>"}}},
		map[string]any{"type": "message", "role": "user", "content": []any{map[string]any{"type": "input_text", "text": text}}},
	}
}

// checkSequence checks sequence_number counts from 0 and returns the
// items of response.output_item.done.
func responsesItems(t *testing.T, events []sseEvent) []map[string]any {
	t.Helper()
	var items []map[string]any
	for i, e := range events {
		if n := e.Data["sequence_number"]; n != float64(i) {
			t.Fatalf("event %d (%s): sequence_number %v", i, e.Name, n)
		}
		if e.Name == "response.output_item.done" {
			items = append(items, e.Data["item"].(map[string]any))
		}
	}
	if first, last := events[0].Name, events[len(events)-1].Name; first != "response.created" || last != "response.completed" {
		t.Fatalf("stream runs %s … %s", first, last)
	}
	done := events[len(events)-1].Data["response"].(map[string]any)
	if done["status"] != "completed" || len(done["output"].([]any)) != len(items) {
		t.Errorf("response.completed %v", done)
	}
	if u := done["usage"].(map[string]any); u["input_tokens"] != 200.0 || u["output_tokens"] != 30.0 {
		t.Errorf("usage %v", u)
	}
	return items
}

func TestResponsesToolCallThenFinalAnswer(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	url := s.URL() + "/v1/responses"

	events := readSSE(t, post(t, url, codexRequest(codexUser("create hello.txt containing hello")...)))
	want := []string{"response.created", "response.in_progress",
		"response.output_item.added", "response.reasoning_summary_part.added",
		"response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
		"response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done",
		"response.output_item.done", "response.completed"}
	if got := names(events); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	items := responsesItems(t, events)
	if summary := items[0]["summary"].([]any)[0].(map[string]any); items[0]["type"] != "reasoning" || summary["text"] != Reasoning {
		t.Errorf("reasoning item %v", items[0])
	}
	call := items[1]
	if call["type"] != "function_call" || call["name"] != "exec_command" || call["arguments"] != `{"cmd":"echo hello > hello.txt"}` {
		t.Errorf("function call %v", call)
	}

	input := append(codexUser("create hello.txt containing hello"), items[0], call,
		map[string]any{"type": "function_call_output", "call_id": call["call_id"], "output": "ok"})
	events = readSSE(t, post(t, url, codexRequest(input...)))
	want = []string{"response.created", "response.in_progress", "response.output_item.added",
		"response.content_part.added", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	if got := names(events); !reflect.DeepEqual(got, want) {
		t.Fatalf("final events:\n got %v\nwant %v", got, want)
	}
	items = responsesItems(t, events)
	text := items[0]["content"].([]any)[0].(map[string]any)["text"]
	if items[0]["type"] != "message" || items[0]["role"] != "assistant" || text != FinalCreate {
		t.Errorf("final message %v", items[0])
	}
	if reqs := s.Requests(); len(reqs) != 2 || reqs[0].Answer != "tool:exec_command" || reqs[1].Answer != "final" {
		t.Errorf("request log %+v", reqs)
	}
}

func TestResponsesFreeformPatchAndPlainText(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	url := s.URL() + "/v1/responses"

	items := responsesItems(t, readSSE(t, post(t, url, codexRequest(codexUser("write /w/goodbye.txt containing goodbye")...))))
	if len(items) != 2 || items[1]["type"] != "custom_tool_call" || items[1]["name"] != "apply_patch" ||
		items[1]["input"] != "*** Begin Patch\n*** Add File: /w/goodbye.txt\n+goodbye\n*** End Patch\n" {
		t.Errorf("patch items %v", items)
	}

	body := codexRequest()
	body["input"] = "say hi" // a bare string input
	items = responsesItems(t, readSSE(t, post(t, url, body)))
	if len(items) != 1 || items[0]["content"].([]any)[0].(map[string]any)["text"] != PlainText {
		t.Errorf("plain items %v", items)
	}

	body["stream"] = false
	var resp map[string]any
	decodeJSON(t, post(t, url, body), http.StatusOK, &resp)
	if resp["object"] != "response" || resp["status"] != "completed" || len(resp["output"].([]any)) != 1 {
		t.Errorf("non-streaming response %v", resp)
	}
}

func TestErrorModes(t *testing.T) {
	tests := []struct {
		mode   Mode
		path   string
		status int
		want   string // the error JSON
	}{
		{ModeErr401, "/v1/messages", 401, `{"type":"error","error":{"type":"authentication_error","message":"mock: invalid x-api-key"},"request_id":"req_mock_error"}`},
		{ModeErr429, "/v1/messages", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"mock: rate limited"},"request_id":"req_mock_error"}`},
		{ModeErr500, "/v1/messages", 500, `{"type":"error","error":{"type":"api_error","message":"mock: internal server error"},"request_id":"req_mock_error"}`},
		{ModeErr401, "/v1/responses", 401, `{"error":{"message":"mock: invalid x-api-key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
		{ModeErr429, "/v1/responses", 429, `{"error":{"message":"mock: rate limited","type":"rate_limit_exceeded","param":null,"code":"rate_limit_exceeded"}}`},
		{ModeErr500, "/v1/responses", 500, `{"error":{"message":"mock: internal server error","type":"server_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode)+tt.path, func(t *testing.T) {
			s := New(Options{Mode: tt.mode})
			defer s.Close()
			resp := post(t, s.URL()+tt.path, claudeRequest(userMessage("create hello.txt")))
			var got, want any
			decodeJSON(t, resp, tt.status, &got)
			json.Unmarshal([]byte(tt.want), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body %v\nwant %v", got, want)
			}
			if reqs := s.Requests(); len(reqs) != 1 || reqs[0].Answer != "error "+resp.Status[:3] {
				t.Errorf("request log %+v", reqs)
			}
		})
	}
}

func TestRequestLogHidesCredentialsAndReadsGzip(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	json.NewEncoder(zw).Encode(codexRequest(codexUser("say hi")...))
	zw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v1/responses", &zipped)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer sk-secret")
	req.Header.Set("X-Api-Key", "sk-secret")
	req.Header.Set("Originator", "codex_exec")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readSSE(t, resp)
	resp = post(t, s.URL()+"/v1/nothing", map[string]any{})
	var notFound any
	decodeJSON(t, resp, http.StatusNotFound, &notFound)

	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("request log %+v", reqs)
	}
	r := reqs[0]
	if r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != "" || r.Header.Get("Originator") != "codex_exec" {
		t.Errorf("logged headers %v", r.Header)
	}
	if r.Answer != "plain" || r.Body.(map[string]any)["model"] != "gpt-5.5" {
		t.Errorf("logged %+v", r)
	}
	if reqs[1].Answer != "404" {
		t.Errorf("unknown path logged as %q", reqs[1].Answer)
	}
}

func TestSlowModeStreamsSmallDeltasAndCloseEndsThem(t *testing.T) {
	s := New(Options{Mode: ModeSlow, Delay: 10 * time.Second})
	body := claudeRequest(userMessage("say hi"))
	resp := post(t, s.URL()+"/v1/messages", body)
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "event: message_start\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v with a slow stream open", d)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Log("stream ended cleanly after Close") // either way the stream must not hang
	}

	fast := New(Options{Mode: ModeSlow, Delay: time.Millisecond})
	defer fast.Close()
	events := readSSE(t, post(t, fast.URL()+"/v1/messages", body))
	blocks, _ := anthropicMessage(t, events)
	if text := blocks[0]["text"].(string); !strings.HasPrefix(text, PlainText+" (streaming slowly 1)") {
		t.Errorf("slow text %q", text)
	}
	if n := len(names(events)); n < 50 {
		t.Errorf("slow mode sent only %d events", n)
	}
}

func TestNewRejectsUnknownMode(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted mode \"fast\"")
		}
	}()
	New(Options{Mode: "fast"}).Close()
}
