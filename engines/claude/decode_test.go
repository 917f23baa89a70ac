package claude_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/claude"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

const session = "5adc1522-c540-43a4-b993-2759b7673a0b"

// Lines shaped like the captured stream, reduced to what the decoder reads.
const (
	initLine   = `{"type":"system","subtype":"init","cwd":"/workspace/p","session_id":"` + session + `","model":"claude-sonnet-4-5","permissionMode":"bypassPermissions","claude_code_version":"2.1.332"}`
	textLine   = `{"type":"assistant","message":{"model":"claude-sonnet-4-5","content":[{"type":"text","text":"All done."}]},"parent_tool_use_id":null,"session_id":"` + session + `"}`
	resultLine = `{"session_id":"` + session + `","total_cost_usd":0.5,"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":7},"modelUsage":{"claude-sonnet-4-5":{},"claude-haiku-4-5":{}},"is_error":false,"num_turns":3,"subtype":"success","result":"Final.","type":"result","duration_ms":1500}`
)

// decodeAll feeds lines to a fresh decoder, failing on decode errors, and
// returns every event including Finish's.
func decodeAll(t *testing.T, exit engines.Exit, lines ...string) []engines.Event {
	t.Helper()
	return conformance.DecodeAll(t, claude.Engine{}, exit, lines...)
}

func assistant(blocks string) string {
	return `{"type":"assistant","message":{"model":"claude-sonnet-4-5","content":[` + blocks + `]},"session_id":"` + session + `"}`
}

func toolResult(id string, isError bool, content string) string {
	return `{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + id +
		`","is_error":` + map[bool]string{true: "true", false: "false"}[isError] + `,"content":` + content +
		`}]},"tool_use_result":"Error: whatever","session_id":"` + session + `"}`
}

// TestRobustness runs the conformance suite's broken lines and these lines
// of claude's own, none of which yields an event.
func TestRobustness(t *testing.T) {
	conformance.Robustness(t, claude.Engine{}, []conformance.Line{
		{Name: "no type", Line: `{"subtype":"init"}`, WantErr: true},
		{Name: "unknown type", Line: `{"type":"mystery"}`, WantErr: true},
		{Name: "stream_event", Line: `{"type":"stream_event","event":{"type":"content_block_delta"}}`},
		{Name: "system status", Line: `{"type":"system","subtype":"status","status":"requesting"}`},
		{Name: "thinking tokens", Line: `{"type":"system","subtype":"thinking_tokens","estimated_tokens":10}`},
		{Name: "unknown system subtype", Line: `{"type":"system","subtype":"compact_boundary"}`},
		{Name: "rate limit event", Line: `{"type":"rate_limit_event"}`},
		{Name: "thinking block", Line: `{"type":"assistant","message":{"content":[{"type":"thinking","thinking":"hmm"}]}}`},
		{Name: "invalid UTF-8 in a string", Line: "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"thinking\",\"thinking\":\"a\xffb\"}]}}"},
		{Name: "odd field types", Line: `{"type":"assistant","message":{"content":5},"parent_tool_use_id":7}`},
	}...)
}

func TestDecodeHugeLines(t *testing.T) {
	big := strings.Repeat("word ", 2<<20) // 10 MiB
	t.Run("text", func(t *testing.T) {
		start := time.Now()
		line := assistant(`{"type":"text","text":"` + big + `"}`)
		evs := decodeAll(t, engines.Exit{}, line)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("decoding a 10 MiB line took %v", took)
		}
		c := conformance.Last[engines.Completed](t, evs)
		if !c.OK || len(c.Answer) != len(strings.TrimSpace(big)) {
			t.Errorf("Completed OK=%v with a %d-byte answer, want the whole text", c.OK, len(c.Answer))
		}
	})
	t.Run("command", func(t *testing.T) {
		line := assistant(`{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"` + big + `"}}`)
		a := conformance.First[engines.Action](t, decodeAll(t, engines.Exit{}, line))
		if n := utf8.RuneCountInString(a.Title); n > 200 || strings.Contains(a.Title, "\n") {
			t.Errorf("title has %d runes", n)
		}
	})
}

func TestDecodeStream(t *testing.T) {
	started := engines.Started{Engine: "claude", Resume: session, Model: "claude-sonnet-4-5",
		Meta: map[string]string{"cwd": "/workspace/p", "version": "2.1.332", "permission_mode": "bypassPermissions"}}
	tests := []struct {
		name  string
		lines []string
		exit  engines.Exit
		want  []engines.Event
	}{
		{
			name:  "result",
			lines: []string{initLine, textLine, resultLine},
			want: []engines.Event{started, engines.Text{Text: "All done."}, engines.Completed{OK: true, Answer: "Final.", Resume: session, Model: "claude-sonnet-4-5",
				Usage: engines.Usage{InputTokens: 10, OutputTokens: 5, CachedTokens: 7, CostUSD: 0.5, Turns: 3, Duration: 1500 * time.Millisecond}}},
		},
		{
			name:  "later init and second result ignored",
			lines: []string{initLine, initLine, resultLine, resultLine, textLine},
			want:  []engines.Event{started, conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, initLine, resultLine))},
		},
		{
			name:  "Started from session id when init is lost",
			lines: []string{textLine},
			exit:  engines.Exit{Code: 0},
			want:  []engines.Event{engines.Started{Engine: "claude", Resume: session}, engines.Text{Text: "All done."}, engines.Completed{OK: true, Answer: "All done.", Resume: session}},
		},
		{
			name:  "empty result falls back to last text",
			lines: []string{initLine, textLine, `{"type":"result","subtype":"success","result":"","session_id":"` + session + `"}`},
			want:  []engines.Event{started, engines.Text{Text: "All done."}, engines.Completed{OK: true, Answer: "All done.", Resume: session, Model: "claude-sonnet-4-5"}},
		},
		{
			name:  "max turns",
			lines: []string{initLine, `{"type":"result","subtype":"error_max_turns","is_error":true,"session_id":"` + session + `","num_turns":9}`},
			want: []engines.Event{started, engines.Completed{Error: "claude stopped at its turn limit (error_max_turns)", Resume: session,
				Model: "claude-sonnet-4-5", Usage: engines.Usage{Turns: 9}}},
		},
		{
			name:  "execution errors listed",
			lines: []string{initLine, `{"type":"result","subtype":"error_during_execution","errors":["boom"," ","bang"],"session_id":"` + session + `"}`},
			want:  []engines.Event{started, engines.Completed{Error: "boom; bang", Resume: session, Model: "claude-sonnet-4-5"}},
		},
		{
			name: "api retry",
			lines: []string{initLine,
				`{"type":"system","subtype":"api_retry","attempt":3,"max_retries":10,"retry_delay_ms":2224,"error_status":401,"error":"authentication_failed"}`,
				`{"type":"system","subtype":"api_retry","attempt":1,"max_retries":0,"error_status":null}`},
			exit: engines.Exit{Code: 1},
			want: []engines.Event{started,
				engines.Action{ID: "api-retry", Kind: engines.KindWarning, Phase: engines.PhaseUpdated,
					Title: "API error 401 (authentication_failed), retry 3/10", Detail: "retrying in 2.2s"},
				engines.Action{ID: "api-retry", Kind: engines.KindWarning, Phase: engines.PhaseUpdated, Title: "API error, retry 1"},
				engines.Completed{Error: "claude exited with code 1", Resume: session, Model: "claude-sonnet-4-5"}},
		},
		{
			name: "synthetic error without result",
			lines: []string{initLine, textLine,
				`{"type":"assistant","message":{"model":"<synthetic>","content":[{"type":"text","text":"API Error: 500 boom"}]},"is_api_error_message":true,"error":"server_error"}`},
			exit: engines.Exit{Code: 1, StderrTail: "ignored because the API error says more"},
			want: []engines.Event{started, engines.Text{Text: "All done."}, engines.Completed{Error: "API Error: 500 boom", Resume: session, Model: "claude-sonnet-4-5"}},
		},
		{
			name: "streamed text: deltas of the top-level message, blocks apart, subagents and thinking left out",
			lines: []string{initLine,
				streamEvent(`{"type":"message_start","message":{"id":"m1"}}`, ""),
				streamEvent(`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`, ""),
				streamEvent(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}`, ""),
				streamEvent(`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`, ""),
				streamEvent(`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"One"}}`, ""),
				streamEvent(`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":""}}`, ""),
				streamEvent(`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Sub"}}`, "toolu_1"),
				`{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"One"}]},"session_id":"` + session + `"}`,
				streamEvent(`{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}`, ""),
				streamEvent(`{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Two"}}`, ""),
				streamEvent(`{"type":"message_start","message":{"id":"m2"}}`, ""),
				streamEvent(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`, ""),
				streamEvent(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Done"}}`, ""),
			},
			want: []engines.Event{started, engines.Text{Text: "One"}, engines.Text{Text: "One\n\nTwo"}, engines.Text{Text: "Done"},
				engines.Completed{OK: true, Answer: "One", Resume: session, Model: "claude-sonnet-4-5"}},
		},
		{
			name: "whole blocks without deltas: one message's blocks join, a new message starts afresh",
			lines: []string{initLine,
				`{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"One"}]},"session_id":"` + session + `"}`,
				`{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Two"}]},"session_id":"` + session + `"}`,
				`{"type":"assistant","message":{"id":"m2","content":[{"type":"text","text":"Done"}]},"session_id":"` + session + `"}`,
				`{"type":"assistant","message":{"id":"m3","content":[{"type":"text","text":"Sub"}]},"parent_tool_use_id":"toolu_1","session_id":"` + session + `"}`,
			},
			want: []engines.Event{started, engines.Text{Text: "One"}, engines.Text{Text: "One\n\nTwo"}, engines.Text{Text: "Done"},
				engines.Completed{OK: true, Answer: "Done", Resume: session, Model: "claude-sonnet-4-5"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAll(t, tt.exit, tt.lines...)
			conformance.EqualEvents(t, got, tt.want)
		})
	}
}

func TestFinish(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		exit  engines.Exit
		want  engines.Completed
	}{
		{
			name: "stderr tail", lines: []string{initLine}, exit: engines.Exit{Code: 1, StderrTail: "first\n\n  second  \nthird\n\nfourth\n"},
			want: engines.Completed{Error: "claude exited with code 1: second; third; fourth", Resume: session, Model: "claude-sonnet-4-5"},
		},
		{
			name: "sigterm", lines: []string{initLine, textLine}, exit: engines.Exit{Code: 143},
			want: engines.Completed{Error: "claude was interrupted (signal SIGTERM)", Resume: session, Model: "claude-sonnet-4-5"},
		},
		{
			name: "cause wins", lines: []string{initLine, textLine}, exit: engines.Exit{Code: 137, Cause: "out of memory (limit 2 GiB)"},
			want: engines.Completed{Error: "out of memory (limit 2 GiB)", Resume: session, Model: "claude-sonnet-4-5"},
		},
		{
			name: "clean exit with text", lines: []string{initLine, textLine}, exit: engines.Exit{},
			want: engines.Completed{OK: true, Answer: "All done.", Resume: session, Model: "claude-sonnet-4-5"},
		},
		{
			name: "clean exit without text", lines: []string{initLine}, exit: engines.Exit{StderrTail: "hm"},
			want: engines.Completed{Error: "claude exited without an answer: hm", Resume: session, Model: "claude-sonnet-4-5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := decodeAll(t, tt.exit, tt.lines...)
			conformance.EqualEvents(t, []engines.Event{conformance.Last[engines.Completed](t, evs)}, []engines.Event{tt.want})
		})
	}
}

// TestFinishWithoutStream runs the conformance suite's ends of a run
// that printed no line.
func TestFinishWithoutStream(t *testing.T) {
	conformance.FinishWithoutStream(t, claude.Engine{})
}

func TestFinishOnce(t *testing.T) {
	conformance.FinishOnce(t, claude.Engine{}, []string{initLine, resultLine}, textLine)
}

func TestToolActions(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name  string
		input string // tool_use block without id
		want  engines.Action
	}{
		{name: "bash", input: `"name":"Bash","input":{"command":"go test ./...\n  -run X","description":"Run tests"}`,
			want: engines.Action{Kind: engines.KindCommand, Title: "go test ./... -run X", Detail: "Run tests"}},
		{name: "bash long", input: `"name":"Bash","input":{"command":"` + long + `"}`,
			want: engines.Action{Kind: engines.KindCommand, Title: strings.Repeat("é", 199) + "…"}},
		{name: "bash at the limit", input: `"name":"Bash","input":{"command":"` + strings.Repeat("a", 200) + `  \n"}`,
			want: engines.Action{Kind: engines.KindCommand, Title: strings.Repeat("a", 200)}},
		{name: "edit under cwd", input: `"name":"Edit","input":{"file_path":"/workspace/p/src/main.go","old_string":"a"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "src/main.go"}},
		{name: "write outside cwd", input: `"name":"Write","input":{"file_path":"/tmp/x.txt"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "/tmp/x.txt"}},
		{name: "multi edit", input: `"name":"MultiEdit","input":{"file_path":"a.go"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "a.go"}},
		{name: "notebook", input: `"name":"NotebookEdit","input":{"notebook_path":"/workspace/p/n.ipynb"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "n.ipynb"}},
		{name: "web search", input: `"name":"WebSearch","input":{"query":"go 1.26 release"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "go 1.26 release"}},
		{name: "web fetch", input: `"name":"WebFetch","input":{"url":"https://go.dev","prompt":"summarize"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "https://go.dev"}},
		{name: "task", input: `"name":"Task","input":{"description":"Explore repo","subagent_type":"Explore","prompt":"look"}`,
			want: engines.Action{Kind: engines.KindSubagent, Title: "Explore repo", Detail: "Explore"}},
		{name: "agent", input: `"name":"Agent","input":{"description":"Plan"}`,
			want: engines.Action{Kind: engines.KindSubagent, Title: "Plan"}},
		{name: "read", input: `"name":"Read","input":{"file_path":"/workspace/p/go.mod"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "Read go.mod"}},
		{name: "grep", input: `"name":"Grep","input":{"pattern":"TODO","path":"/workspace/p"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "Grep TODO"}},
		{name: "glob path relative", input: `"name":"LS","input":{"path":"/workspace/p/src"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "LS src"}},
		{name: "todo", input: `"name":"TodoWrite","input":{"todos":[]}`,
			want: engines.Action{Kind: engines.KindTool, Title: "TodoWrite"}},
		{name: "mcp", input: `"name":"mcp__github__create_issue","input":{"title":"x"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "mcp__github__create_issue"}},
		{name: "bash without input", input: `"name":"Bash","input":"oops"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "Bash"}},
		{name: "no name", input: `"input":{}`,
			want: engines.Action{Kind: engines.KindTool, Title: "tool"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := decodeAll(t, engines.Exit{}, initLine, assistant(`{"type":"tool_use","id":"t1",`+tt.input+`}`))
			want := tt.want
			want.ID, want.Phase = "t1", engines.PhaseStarted
			conformance.EqualEvents(t, []engines.Event{evs[1]}, []engines.Event{want})
		})
	}
}

func TestToolResults(t *testing.T) {
	use := assistant(`{"type":"tool_use","id":"t1","name":"Read","input":{"file_path":"/workspace/p/x"}}`)
	tests := []struct {
		name  string
		lines []string
		want  []engines.Action
	}{
		{
			name:  "ok",
			lines: []string{use, toolResult("t1", false, `"file contents"`)},
			want:  []engines.Action{{ID: "t1", Kind: engines.KindTool, Title: "Read x", Phase: engines.PhaseCompleted, OK: true}},
		},
		{
			name:  "error in tags",
			lines: []string{use, toolResult("t1", true, `"<tool_use_error>File does not exist.</tool_use_error>"`)},
			want: []engines.Action{{ID: "t1", Kind: engines.KindTool, Title: "Read x", Phase: engines.PhaseCompleted,
				Detail: "File does not exist."}},
		},
		{
			name:  "error as blocks",
			lines: []string{use, toolResult("t1", true, `[{"type":"image"},{"type":"text","text":"\n\nfirst line\nsecond"}]`)},
			want: []engines.Action{{ID: "t1", Kind: engines.KindTool, Title: "Read x", Phase: engines.PhaseCompleted,
				Detail: "first line"}},
		},
		{
			name:  "exit code alone",
			lines: []string{use, toolResult("t1", true, `"Exit code 2"`)},
			want: []engines.Action{{ID: "t1", Kind: engines.KindTool, Title: "Read x", Phase: engines.PhaseCompleted,
				Detail: "Exit code 2"}},
		},
		{
			name:  "unknown id",
			lines: []string{toolResult("t9", false, `null`)},
			want:  []engines.Action{{ID: "t9", Kind: engines.KindTool, Title: "tool", Phase: engines.PhaseCompleted, OK: true}},
		},
		{
			name:  "duplicates ignored",
			lines: []string{use, use, toolResult("t1", false, `""`), toolResult("t1", true, `"x"`)},
			want:  []engines.Action{{ID: "t1", Kind: engines.KindTool, Title: "Read x", Phase: engines.PhaseCompleted, OK: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []engines.Event
			for _, ev := range decodeAll(t, engines.Exit{}, append([]string{initLine}, tt.lines...)...) {
				if a, ok := ev.(engines.Action); ok && a.Phase == engines.PhaseCompleted {
					got = append(got, a)
				}
			}
			want := make([]engines.Event, len(tt.want))
			for i, a := range tt.want {
				want[i] = a
			}
			conformance.EqualEvents(t, got, want)
		})
	}
}

func TestSubagentTextIsNotTheAnswer(t *testing.T) {
	sub := `{"type":"assistant","message":{"content":[{"type":"text","text":"subagent report"}]},"parent_tool_use_id":"t1","session_id":"` + session + `"}`
	c := conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, initLine, textLine, sub))
	if c.Answer != "All done." {
		t.Errorf("Answer = %q, want the top-level text", c.Answer)
	}
}

func TestResultModel(t *testing.T) {
	tests := []struct {
		name, usage, want string
	}{
		{name: "single key", usage: `{"claude-opus-4-1":{}}`, want: "claude-opus-4-1"},
		{name: "session model among several", usage: `{"claude-haiku-4-5":{},"claude-sonnet-4-5":{}}`, want: "claude-sonnet-4-5"},
		{name: "first sorted", usage: `{"z-model":{},"b-model":{}}`, want: "b-model"},
		{name: "empty falls back to init", usage: `{}`, want: "claude-sonnet-4-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := `{"type":"result","subtype":"success","result":"x","modelUsage":` + tt.usage + `}`
			if c := conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, initLine, line)); c.Model != tt.want {
				t.Errorf("Model = %q, want %q", c.Model, tt.want)
			}
		})
	}
}

// streamEvent is a stream_event line (--include-partial-messages) carrying
// the raw SSE event, of a subagent when parent is set.
func streamEvent(event, parent string) string {
	p := "null"
	if parent != "" {
		p = `"` + parent + `"`
	}
	return `{"type":"stream_event","event":` + event + `,"parent_tool_use_id":` + p + `,"session_id":"` + session + `"}`
}
