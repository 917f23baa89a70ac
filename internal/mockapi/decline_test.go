package mockapi

import "testing"

func TestResponsesAnswerADeclinedCall(t *testing.T) {
	call := map[string]any{"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": `{"cmd":"echo hello > hello.txt"}`}
	for _, tt := range []struct {
		name   string
		result map[string]any
		text   string
		answer string
	}{
		{"declined command", map[string]any{"type": "function_call_output", "call_id": "call_1",
			"output": `exec_command failed: CreateProcess { message: "Rejected(\"rejected by user\")" }`}, FinalDeclined, "declined"},
		{"declined patch", map[string]any{"type": "custom_tool_call_output", "call_id": "call_1",
			"output": "patch rejected by user"}, FinalDeclined, "declined"},
		{"declined, output in parts", map[string]any{"type": "function_call_output", "call_id": "call_1",
			"output": []any{map[string]any{"type": "input_text", "text": "Rejected by user"}}}, FinalDeclined, "declined"},
		{"ran", map[string]any{"type": "function_call_output", "call_id": "call_1",
			"output": "Process exited with code 0\nOutput:\n"}, FinalCreate, "final"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			defer s.Close()
			input := append(codexUser("create hello.txt containing hello"), call, tt.result)
			items := responsesItems(t, readSSE(t, post(t, s.URL()+"/v1/responses", codexRequest(input...))))
			text := items[0]["content"].([]any)[0].(map[string]any)["text"]
			if items[0]["type"] != "message" || text != tt.text {
				t.Errorf("answer %v, want the text %q", items[0], tt.text)
			}
			if reqs := s.Requests(); len(reqs) != 1 || reqs[0].Answer != tt.answer {
				t.Errorf("request log %+v, want answer %q", reqs, tt.answer)
			}
		})
	}
}
