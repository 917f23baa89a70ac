package mockapi

import (
	"encoding/json"
	"net/http"
)

// anthropicRequest is the part of a Messages request the script reads.
type anthropicRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"` // a string or a list of blocks
	} `json:"messages"`
	Tools []struct {
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
}

type anthropicBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// anthropicUsage is message_start's usage: the final output count comes
// with message_delta.
func anthropicUsage(outputTokens int) object {
	return obj("input_tokens", 120, "cache_creation_input_tokens", 0, "cache_read_input_tokens", 0,
		"output_tokens", outputTokens, "service_tier", "standard")
}

// anthropic answers POST …/v1/messages.
func (s *Server) anthropic(w http.ResponseWriter, r *http.Request, raw []byte, req Request) {
	if s.failed(w, anthropicAPI, req) {
		return
	}
	var body anthropicRequest
	if json.Unmarshal(raw, &body) != nil {
		body = anthropicRequest{}
	}
	turn := readAnthropicTurn(body)
	ans, asking := decideAsking(turn)
	if !asking {
		ans, asking = decideUpload(turn)
	}
	if !asking {
		ans, asking = decideRun(turn)
	}
	if !asking {
		ans = decide(turn.state())
	}
	req.Answer = ans.summary
	s.record(req)

	model := body.Model
	if model == "" {
		model = "claude-mock"
	}
	mid := s.newID("msg")
	var content []object
	stop := "end_turn"
	if ans.tool != "" {
		if !s.opts.NoReasoning {
			content = append(content, obj("type", "thinking", "thinking", Reasoning, "signature", "mocksig"+randomHex(16)))
		}
		content = append(content,
			obj("type", "text", "text", ToolPreamble),
			obj("type", "tool_use", "id", s.newID("toolu"), "name", ans.tool, "input", ans.args))
		stop = "tool_use"
	} else {
		content = append(content, obj("type", "text", "text", slowText(ans.text, s.slow())))
	}
	if !body.Stream {
		writeJSON(w, http.StatusOK, obj("id", mid, "type", "message", "role", "assistant", "model", model,
			"content", content, "stop_reason", stop, "stop_sequence", nil, "usage", anthropicUsage(25)))
		return
	}
	st := s.startSSE(w, r, "request-id", "req_"+mid)
	st.event("message_start", obj("type", "message_start", "message", obj("id", mid, "type", "message",
		"role", "assistant", "model", model, "content", []any{}, "stop_reason", nil, "stop_sequence", nil,
		"usage", anthropicUsage(1))))
	for i, blk := range content {
		s.anthropicBlock(st, i, blk)
	}
	st.event("message_delta", obj("type", "message_delta", "delta", obj("stop_reason", stop, "stop_sequence", nil),
		"usage", obj("input_tokens", 120, "cache_creation_input_tokens", 0, "cache_read_input_tokens", 0, "output_tokens", 25)))
	st.event("message_stop", obj("type", "message_stop"))
}

// anthropicBlock streams one content block: start, deltas, stop.
func (s *Server) anthropicBlock(st *stream, i int, blk object) {
	typ, _ := blk.get("type")
	delta := func(d object) {
		st.event("content_block_delta", obj("type", "content_block_delta", "index", i, "delta", d))
	}
	switch typ {
	case "thinking":
		text, _ := blk.get("thinking")
		sig, _ := blk.get("signature")
		st.event("content_block_start", obj("type", "content_block_start", "index", i,
			"content_block", obj("type", "thinking", "thinking", "", "signature", "")))
		for _, piece := range splitText(text.(string), s.slow()) {
			delta(obj("type", "thinking_delta", "thinking", piece))
		}
		delta(obj("type", "signature_delta", "signature", sig))
	case "text":
		text, _ := blk.get("text")
		st.event("content_block_start", obj("type", "content_block_start", "index", i,
			"content_block", obj("type", "text", "text", "")))
		if i == 0 {
			st.event("ping", obj("type", "ping"))
		}
		for _, piece := range splitText(text.(string), s.slow()) {
			delta(obj("type", "text_delta", "text", piece))
		}
	default: // tool_use
		id, _ := blk.get("id")
		name, _ := blk.get("name")
		input, _ := blk.get("input")
		st.event("content_block_start", obj("type", "content_block_start", "index", i,
			"content_block", obj("type", "tool_use", "id", id, "name", name, "input", object{})))
		js := []rune(string(mustMarshal(input)))
		mid := len(js) / 2
		for _, piece := range []string{string(js[:mid]), string(js[mid:])} {
			delta(obj("type", "input_json_delta", "partial_json", piece))
		}
	}
	st.event("content_block_stop", obj("type", "content_block_stop", "index", i))
}
