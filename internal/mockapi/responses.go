package mockapi

import (
	"encoding/json"
	"net/http"
	"time"
)

// responsesRequest is the part of a Responses request the script reads.
type responsesRequest struct {
	Model  string          `json:"model"`
	Stream bool            `json:"stream"`
	Input  json.RawMessage `json:"input"` // a string or a list of items
	Tools  []struct {
		Type       string          `json:"type"`
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"tools"`
}

type responsesItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"` // a string or a list of parts
}

// toolResultItems end a tool-call turn: the model answers after them.
var toolResultItems = map[string]bool{
	"function_call_output": true, "custom_tool_call_output": true,
	"local_shell_call_output": true, "tool_result": true,
}

// responsesState reads what decide needs from a Responses request.
func responsesState(body responsesRequest) (bool, []string, []tool) {
	var items []responsesItem
	var s string
	if json.Unmarshal(body.Input, &s) == nil {
		items = []responsesItem{{Type: "message", Role: "user", Content: mustMarshal(s)}}
	} else if json.Unmarshal(body.Input, &items) != nil {
		items = nil
	}
	var texts []string
	for _, it := range items {
		if it.Role != "user" || (it.Type != "" && it.Type != "message") {
			continue
		}
		if json.Unmarshal(it.Content, &s) == nil {
			texts = append(texts, s)
			continue
		}
		var parts []anthropicBlock // {type, text}, the same shape
		json.Unmarshal(it.Content, &parts)
		for _, p := range parts {
			if (p.Type == "input_text" || p.Type == "text") && userText(p.Text) {
				texts = append(texts, p.Text)
			}
		}
	}
	lastIsToolResult := len(items) > 0 && toolResultItems[items[len(items)-1].Type]
	var tools []tool
	for _, t := range body.Tools {
		switch {
		case t.Type == "local_shell":
			tools = append(tools, tool{name: "local_shell"})
		case t.Type == "custom":
			tools = append(tools, tool{name: t.Name, custom: true})
		case t.Type == "function" || t.Name != "":
			tools = append(tools, tool{name: t.Name, schema: parseSchema(t.Parameters)})
		}
	}
	return lastIsToolResult, texts, tools
}

// responses answers POST …/v1/responses.
func (s *Server) responses(w http.ResponseWriter, r *http.Request, raw []byte, req Request) {
	if s.failed(w, openaiAPI, req) {
		return
	}
	var body responsesRequest
	if json.Unmarshal(raw, &body) != nil {
		body = responsesRequest{}
	}
	ans := decide(responsesState(body))
	if ans.summary == "final" && declinedResult(body.Input) {
		ans = answer{text: FinalDeclined, summary: "declined"}
	}
	req.Answer = ans.summary
	s.record(req)

	model := body.Model
	if model == "" {
		model = "mock-model"
	}
	rid := s.newID("resp")
	usage := obj("input_tokens", 200, "input_tokens_details", obj("cached_tokens", 50),
		"output_tokens", 30, "output_tokens_details", obj("reasoning_tokens", 0), "total_tokens", 230)
	items := s.responseItems(ans)
	base := obj("id", rid, "object", "response", "created_at", time.Now().Unix(), "model", model,
		"status", "in_progress", "output", []any{}, "usage", nil)
	done := base.with("status", "completed", "output", items, "usage", usage)
	if !body.Stream {
		writeJSON(w, http.StatusOK, done)
		return
	}
	st := s.startSSE(w, r, "x-request-id", "req_"+rid)
	seq := 0
	ev := func(o object) {
		o.set("sequence_number", seq)
		seq++
		typ, _ := o.get("type")
		st.event(typ.(string), o)
	}
	ev(obj("type", "response.created", "response", base))
	ev(obj("type", "response.in_progress", "response", base))
	for oi, it := range items {
		s.responseItemEvents(ev, oi, it)
	}
	ev(obj("type", "response.completed", "response", done))
}

// responseItems are the output items of a turn: a reasoning summary and a
// tool call, or one assistant message.
func (s *Server) responseItems(ans answer) []object {
	if ans.tool == "" {
		return []object{obj("type", "message", "id", s.newID("msg"), "role", "assistant", "status", "completed",
			"content", []object{obj("type", "output_text", "text", slowText(ans.text, s.slow()), "annotations", []any{})})}
	}
	var items []object
	if !s.opts.NoReasoning {
		items = append(items, obj("type", "reasoning", "id", s.newID("rs"),
			"summary", []object{obj("type", "summary_text", "text", Reasoning)}, "encrypted_content", nil))
	}
	cid := s.newID("call")
	switch args := ans.args.(type) {
	case string:
		items = append(items, obj("type", "custom_tool_call", "id", s.newID("ctc"), "call_id", cid,
			"name", ans.tool, "input", args, "status", "completed"))
	default:
		if ans.tool == "local_shell" {
			cmd, _ := args.(object).get("command")
			items = append(items, obj("type", "local_shell_call", "id", s.newID("lsh"), "call_id", cid,
				"status", "completed", "action", obj("type", "exec", "command", cmd, "env", object{})))
			break
		}
		items = append(items, obj("type", "function_call", "id", s.newID("fc"), "call_id", cid,
			"name", ans.tool, "arguments", string(mustMarshal(args)), "status", "completed"))
	}
	return items
}

// responseItemEvents streams one output item: added, its deltas, done.
func (s *Server) responseItemEvents(ev func(object), oi int, it object) {
	typ, _ := it.get("type")
	id, _ := it.get("id")
	// at builds an event about the item's content.
	at := func(name string, kv ...any) object {
		return obj("type", name, "item_id", id, "output_index", oi).with(kv...)
	}
	switch typ {
	case "message":
		content, _ := it.get("content")
		text, _ := content.([]object)[0].get("text")
		ev(obj("type", "response.output_item.added", "output_index", oi, "item", it.with("status", "in_progress", "content", []any{})))
		part := func(t any) object { return obj("type", "output_text", "text", t, "annotations", []any{}) }
		ev(at("response.content_part.added", "content_index", 0, "part", part("")))
		for _, piece := range splitText(text.(string), s.slow()) {
			ev(at("response.output_text.delta", "content_index", 0, "delta", piece))
		}
		ev(at("response.output_text.done", "content_index", 0, "text", text))
		ev(at("response.content_part.done", "content_index", 0, "part", part(text)))
	case "function_call":
		args, _ := it.get("arguments")
		ev(obj("type", "response.output_item.added", "output_index", oi, "item", it.with("arguments", "", "status", "in_progress")))
		ev(at("response.function_call_arguments.delta", "delta", args))
		ev(at("response.function_call_arguments.done", "arguments", args))
	case "reasoning":
		ev(obj("type", "response.output_item.added", "output_index", oi, "item", it.with("summary", []any{})))
		part := func(t any) object { return obj("type", "summary_text", "text", t) }
		ev(at("response.reasoning_summary_part.added", "summary_index", 0, "part", part("")))
		for _, piece := range splitText(Reasoning, s.slow()) {
			ev(at("response.reasoning_summary_text.delta", "summary_index", 0, "delta", piece))
		}
		ev(at("response.reasoning_summary_text.done", "summary_index", 0, "text", Reasoning))
		ev(at("response.reasoning_summary_part.done", "summary_index", 0, "part", part(Reasoning)))
	case "custom_tool_call":
		input, _ := it.get("input")
		ev(obj("type", "response.output_item.added", "output_index", oi, "item", it.with("input", "", "status", "in_progress")))
		ev(at("response.custom_tool_call_input.delta", "delta", input))
		ev(at("response.custom_tool_call_input.done", "input", input))
	default:
		ev(obj("type", "response.output_item.added", "output_index", oi, "item", it))
	}
	ev(obj("type", "response.output_item.done", "output_index", oi, "item", it))
}
