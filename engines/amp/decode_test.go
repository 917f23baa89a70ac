package amp_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/amp"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

const thread = "T-01a21cac-49cb-769f-8458-b1496acdc2e7"

// Lines shaped like the captured stream, reduced to what the decoder reads.
const (
	initLine   = `{"type":"system","subtype":"init","cwd":"/workspace/p","session_id":"` + thread + `","tools":["Bash"],"mcp_servers":[]}`
	promptLine = `{"type":"user","message":{"role":"user","content":[{"type":"text","text":"create hello.txt"}]},"parent_tool_use_id":null,"session_id":"` + thread + `"}`
	textLine   = `{"type":"assistant","message":{"type":"message","role":"assistant","content":[{"type":"text","text":"All done."}],"stop_reason":"end_turn","usage":{"input_tokens":10,"cache_creation_input_tokens":3,"cache_read_input_tokens":7,"output_tokens":5}},"parent_tool_use_id":null,"session_id":"` + thread + `"}`
	resultLine = `{"type":"result","subtype":"success","duration_ms":1500,"is_error":false,"num_turns":3,"result":"Final.","session_id":"` + thread + `"}`
)

var started = engines.Started{Engine: "amp", Resume: thread, Meta: map[string]string{"cwd": "/workspace/p"}}

// decodeAll feeds lines to a fresh decoder, failing on decode errors, and
// returns every event including Finish's.
func decodeAll(t *testing.T, exit engines.Exit, lines ...string) []engines.Event {
	t.Helper()
	return conformance.DecodeAll(t, amp.Engine{}, exit, lines...)
}

func assistant(blocks string) string {
	return `{"type":"assistant","message":{"content":[` + blocks + `],"usage":{"input_tokens":1,"output_tokens":2}},"session_id":"` + thread + `"}`
}

func toolResult(id string, isError bool, content string) string {
	return `{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + id +
		`","is_error":` + map[bool]string{true: "true", false: "false"}[isError] + `,"content":` + content +
		`}]},"session_id":"` + thread + `"}`
}

func errorResult(errorJSON string) string {
	return `{"type":"result","subtype":"error_during_execution","duration_ms":85,"is_error":true,"num_turns":0,"error":` + errorJSON + `,"session_id":"` + thread + `"}`
}

// TestRobustness runs the conformance suite's broken lines and these lines
// of amp's own, none of which yields an event.
func TestRobustness(t *testing.T) {
	conformance.Robustness(t, amp.Engine{}, []conformance.Line{
		{Name: "no type", Line: `{"subtype":"init"}`, WantErr: true},
		{Name: "unknown type", Line: `{"type":"mystery"}`, WantErr: true},
		{Name: "crash message", Line: "\x1b[=0u\x1b[<u\x1b[?25hError: Unexpected error inside Amp CLI.", WantErr: true},
		{Name: "system without session", Line: `{"type":"system","subtype":"status"}`},
		{Name: "thinking block", Line: `{"type":"assistant","message":{"content":[{"type":"thinking","thinking":"hmm"}]}}`},
		{Name: "invalid UTF-8 in a string", Line: "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"a\xffb\"}]}}"},
		{Name: "odd field types", Line: `{"type":"assistant","message":{"content":5,"usage":"x"},"parent_tool_use_id":7}`},
	}...)
}

func TestDecodeEscapeCodesBeforeJSON(t *testing.T) {
	evs := decodeAll(t, engines.Exit{}, "\x1b[=0u\x1b[<u"+initLine, "\x1b[?25h"+resultLine)
	conformance.EqualEvents(t, evs[:1], []engines.Event{started})
	if c := conformance.Last[engines.Completed](t, evs); !c.OK || c.Answer != "Final." {
		t.Errorf("Completed = %+v", c)
	}
}

func TestDecodeHugeLines(t *testing.T) {
	big := strings.Repeat("word ", 2<<20) // 10 MiB
	t.Run("text", func(t *testing.T) {
		start := time.Now()
		evs := decodeAll(t, engines.Exit{}, assistant(`{"type":"text","text":"`+big+`"}`))
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("decoding a 10 MiB line took %v", took)
		}
		c := conformance.Last[engines.Completed](t, evs)
		if !c.OK || len(c.Answer) != len(strings.TrimSpace(big)) {
			t.Errorf("Completed OK=%v with a %d-byte answer, want the whole text", c.OK, len(c.Answer))
		}
	})
	t.Run("command", func(t *testing.T) {
		line := assistant(`{"type":"tool_use","id":"t1","name":"Bash","input":{"cmd":"` + big + `"}}`)
		a := conformance.First[engines.Action](t, decodeAll(t, engines.Exit{}, line))
		if n := utf8.RuneCountInString(a.Title); n > 200 || strings.Contains(a.Title, "\n") {
			t.Errorf("title has %d runes", n)
		}
	})
}

func TestDecodeStream(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		exit  engines.Exit
		want  []engines.Event
	}{
		{
			name:  "result",
			lines: []string{initLine, promptLine, textLine, textLine, resultLine},
			want: []engines.Event{started, engines.Completed{OK: true, Answer: "Final.", Resume: thread,
				Usage: engines.Usage{InputTokens: 20, OutputTokens: 10, CachedTokens: 14, Turns: 3, Duration: 1500 * time.Millisecond}}},
		},
		{
			name:  "later init and second result ignored",
			lines: []string{initLine, initLine, resultLine, resultLine, textLine},
			want:  []engines.Event{started, conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, initLine, resultLine))},
		},
		{
			name:  "Started from session id when init is lost",
			lines: []string{textLine},
			want: []engines.Event{engines.Started{Engine: "amp", Resume: thread},
				engines.Completed{OK: true, Answer: "All done.", Resume: thread, Usage: engines.Usage{InputTokens: 10, OutputTokens: 5, CachedTokens: 7}}},
		},
		{
			name:  "empty result falls back to last text",
			lines: []string{initLine, textLine, `{"type":"result","subtype":"success","result":"","session_id":"` + thread + `"}`},
			want: []engines.Event{started, engines.Completed{OK: true, Answer: "All done.", Resume: thread,
				Usage: engines.Usage{InputTokens: 10, OutputTokens: 5, CachedTokens: 7}}},
		},
		{
			name: "subagent text is not the answer",
			lines: []string{initLine, textLine,
				`{"type":"assistant","message":{"content":[{"type":"text","text":"subagent report"}]},"parent_tool_use_id":"t1","session_id":"` + thread + `"}`},
			want: []engines.Event{started, engines.Completed{OK: true, Answer: "All done.", Resume: thread,
				Usage: engines.Usage{InputTokens: 10, OutputTokens: 5, CachedTokens: 7}}},
		},
		{
			name:  "error during execution",
			lines: []string{initLine, errorResult(`"Unauthorized. Check your access token."`)},
			want: []engines.Event{started, engines.Completed{Error: "Unauthorized. Check your access token.", Resume: thread,
				Usage: engines.Usage{Duration: 85 * time.Millisecond}}},
		},
		{
			name:  "error flag on a success subtype",
			lines: []string{initLine, `{"type":"result","subtype":"success","is_error":true,"result":"Something failed","session_id":"` + thread + `"}`},
			want:  []engines.Event{started, engines.Completed{Error: "Something failed", Resume: thread}},
		},
		{
			name:  "error without text",
			lines: []string{initLine, `{"type":"result","subtype":"error_max_turns","is_error":true,"session_id":"` + thread + `"}`},
			want:  []engines.Event{started, engines.Completed{Error: "amp failed (error_max_turns)", Resume: thread}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conformance.EqualEvents(t, conformance.WithoutText(decodeAll(t, tt.exit, tt.lines...)), tt.want)
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name, errorJSON, want string
	}{
		{name: "anthropic body", errorJSON: `"529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"`,
			want: "API error 529 (overloaded_error): Overloaded"},
		{name: "status and text", errorJSON: `"502 Bad Gateway"`, want: "API error 502: Bad Gateway"},
		{name: "status alone", errorJSON: `"503"`, want: "API error 503"},
		{name: "digits that are no status", errorJSON: `"1234 things"`, want: "1234 things"},
		{name: "cancelled", errorJSON: `"User cancelled (SIGINT/SIGTERM)"`, want: "amp was interrupted (SIGINT/SIGTERM)"},
		{name: "cancelled plain", errorJSON: `"User cancelled"`, want: "amp was interrupted"},
		{name: "cancelled with reason", errorJSON: `"User cancelled: timeout"`, want: "amp was interrupted: timeout"},
		{name: "object", errorJSON: `{"message":"boom"}`, want: "boom"},
		{name: "nested object", errorJSON: `{"error":{"message":"bang"}}`, want: "bang"},
		{name: "multi-line", errorJSON: `"  first\n second  "`, want: "first second"},
		{name: "empty", errorJSON: `""`, want: "amp failed during execution (error_during_execution)"},
		{name: "number", errorJSON: `42`, want: "amp failed during execution (error_during_execution)"},
		{name: "long", errorJSON: `"` + strings.Repeat("x", 2000) + `"`, want: strings.Repeat("x", 999) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, initLine, errorResult(tt.errorJSON)))
			if c.OK || c.Error != tt.want {
				t.Errorf("Completed = %+v, want Error %q", c, tt.want)
			}
		})
	}
}

func TestFinish(t *testing.T) {
	textUsage := engines.Usage{InputTokens: 10, OutputTokens: 5, CachedTokens: 7}
	tests := []struct {
		name    string
		garbage string // a line that does not decode, fed first
		lines   []string
		exit    engines.Exit
		want    engines.Completed
	}{
		{
			name: "stderr tail", lines: []string{initLine}, exit: engines.Exit{Code: 1, StderrTail: "first\n\n  second  \nthird\n\nfourth\n"},
			want: engines.Completed{Error: "amp exited with code 1: second; third; fourth", Resume: thread},
		},
		{
			name: "stderr escape codes", exit: engines.Exit{Code: 1, StderrTail: "\x1b[31mError:\x1b[0m Amp native binary not installed.\n\x1b[?25h"},
			want: engines.Completed{Error: "amp exited with code 1: Error: Amp native binary not installed."},
		},
		{
			name: "crash line on stdout", garbage: "\x1b[=0u\x1b[<u\x1b[?25hError: Unexpected error inside Amp CLI.", exit: engines.Exit{Code: 1},
			want: engines.Completed{Error: "amp exited with code 1: Error: Unexpected error inside Amp CLI."},
		},
		{
			name: "stderr wins over crash line", garbage: "Error: on stdout", exit: engines.Exit{Code: 1, StderrTail: "on stderr"},
			want: engines.Completed{Error: "amp exited with code 1: on stderr"},
		},
		{
			name: "other garbage is not a crash line", garbage: "progress 50%", exit: engines.Exit{Code: 1},
			want: engines.Completed{Error: "amp exited with code 1"},
		},
		{
			name: "sigterm", lines: []string{initLine, textLine}, exit: engines.Exit{Code: 143},
			want: engines.Completed{Error: "amp was interrupted (signal SIGTERM)", Resume: thread, Usage: textUsage},
		},
		{
			name: "cause wins", lines: []string{initLine, textLine}, exit: engines.Exit{Code: 137, Cause: "out of memory (limit 2 GiB)"},
			want: engines.Completed{Error: "out of memory (limit 2 GiB)", Resume: thread, Usage: textUsage},
		},
		{
			name: "clean exit with text", lines: []string{initLine, textLine}, exit: engines.Exit{},
			want: engines.Completed{OK: true, Answer: "All done.", Resume: thread, Usage: textUsage},
		},
		{
			name: "clean exit without text", lines: []string{initLine}, exit: engines.Exit{StderrTail: "hm"},
			want: engines.Completed{Error: "amp exited without an answer: hm", Resume: thread},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := amp.Engine{}.NewDecoder()
			if tt.garbage != "" {
				if _, err := d.Decode([]byte(tt.garbage)); err == nil {
					t.Fatalf("Decode(%q) succeeded", tt.garbage)
				}
			}
			for _, l := range tt.lines {
				if _, err := d.Decode([]byte(l)); err != nil {
					t.Fatal(err)
				}
			}
			conformance.EqualEvents(t, d.Finish(tt.exit), []engines.Event{tt.want})
		})
	}
}

// TestFinishWithoutStream runs the conformance suite's ends of a run
// that printed no line.
func TestFinishWithoutStream(t *testing.T) {
	conformance.FinishWithoutStream(t, amp.Engine{})
}

func TestFinishOnce(t *testing.T) {
	conformance.FinishOnce(t, amp.Engine{}, []string{initLine, resultLine}, textLine)
}

func TestToolActions(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name  string
		input string // tool_use block without id
		want  engines.Action
	}{
		{name: "bash", input: `"name":"Bash","input":{"cmd":"go test ./...\n  -run X","cwd":"/workspace/p"}`,
			want: engines.Action{Kind: engines.KindCommand, Title: "go test ./... -run X"}},
		{name: "bash long", input: `"name":"Bash","input":{"cmd":"` + long + `"}`,
			want: engines.Action{Kind: engines.KindCommand, Title: strings.Repeat("é", 199) + "…"}},
		{name: "create under cwd", input: `"name":"create_file","input":{"path":"/workspace/p/src/main.go","content":"x"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "src/main.go"}},
		{name: "edit outside cwd", input: `"name":"edit_file","input":{"path":"/tmp/x.txt","old_str":"a","new_str":"b"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "/tmp/x.txt"}},
		{name: "undo edit", input: `"name":"undo_edit","input":{"path":"/workspace/p/a.go"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "a.go"}},
		{name: "web search", input: `"name":"web_search","input":{"query":"go 1.26 release"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "go 1.26 release"}},
		{name: "read web page", input: `"name":"read_web_page","input":{"url":"https://go.dev","prompt":"summarize"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "https://go.dev"}},
		{name: "task", input: `"name":"Task","input":{"description":"Explore repo","prompt":"look"}`,
			want: engines.Action{Kind: engines.KindSubagent, Title: "Explore repo"}},
		{name: "task prompt only", input: `"name":"Task","input":{"prompt":"look around"}`,
			want: engines.Action{Kind: engines.KindSubagent, Title: "look around"}},
		{name: "read", input: `"name":"Read","input":{"path":"/workspace/p/go.mod"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "Read go.mod"}},
		{name: "grep", input: `"name":"Grep","input":{"pattern":"TODO","path":"/workspace/p"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "Grep TODO"}},
		{name: "glob", input: `"name":"glob","input":{"filePattern":"**/*.go"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "glob **/*.go"}},
		{name: "oracle", input: `"name":"oracle","input":{"task":"review the design"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "oracle review the design"}},
		{name: "todo", input: `"name":"todo_write","input":{"todos":[]}`,
			want: engines.Action{Kind: engines.KindTool, Title: "todo_write"}},
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
	bash := assistant(`{"type":"tool_use","id":"t1","name":"Bash","input":{"cmd":"make"}}`)
	read := assistant(`{"type":"tool_use","id":"t1","name":"Read","input":{"path":"/workspace/p/x"}}`)
	cmd := func(ok bool, detail string) engines.Action {
		return engines.Action{ID: "t1", Kind: engines.KindCommand, Title: "make", Phase: engines.PhaseCompleted, OK: ok, Detail: detail}
	}
	tool := func(ok bool, detail string) engines.Action {
		return engines.Action{ID: "t1", Kind: engines.KindTool, Title: "Read x", Phase: engines.PhaseCompleted, OK: ok, Detail: detail}
	}
	tests := []struct {
		name  string
		lines []string
		want  []engines.Action
	}{
		{name: "command ok", lines: []string{bash, toolResult("t1", false, `"{\"output\":\"built\",\"exitCode\":0}"`)}, want: []engines.Action{cmd(true, "")}},
		{
			name:  "command exits non-zero",
			lines: []string{bash, toolResult("t1", false, `"{\"output\":\"\\nmake: *** No rule\\nmore\",\"exitCode\":2}"`)},
			want:  []engines.Action{cmd(false, "Exit code 2: make: *** No rule")},
		},
		{name: "command exits non-zero silently", lines: []string{bash, toolResult("t1", false, `"{\"output\":\"\",\"exitCode\":127}"`)}, want: []engines.Action{cmd(false, "Exit code 127")}},
		{name: "command error flag", lines: []string{bash, toolResult("t1", true, `"{\"output\":\"killed\",\"exitCode\":0}"`)}, want: []engines.Action{cmd(false, "killed")}},
		{name: "command result as blocks", lines: []string{bash, toolResult("t1", false, `[{"type":"text","text":"{\"output\":\"x\",\"exitCode\":1}"}]`)}, want: []engines.Action{cmd(false, "Exit code 1: x")}},
		{name: "command result not JSON", lines: []string{bash, toolResult("t1", true, `"Command rejected"`)}, want: []engines.Action{cmd(false, "Command rejected")}},
		{name: "tool ok", lines: []string{read, toolResult("t1", false, `"file contents"`)}, want: []engines.Action{tool(true, "")}},
		{name: "tool error", lines: []string{read, toolResult("t1", true, `"\n\nFile not found\nmore"`)}, want: []engines.Action{tool(false, "File not found")}},
		{name: "tool output with exit code field", lines: []string{read, toolResult("t1", false, `"{\"exitCode\":3}"`)}, want: []engines.Action{tool(false, "Exit code 3")}},
		{
			name:  "unknown id",
			lines: []string{toolResult("t9", false, `null`)},
			want:  []engines.Action{{ID: "t9", Kind: engines.KindTool, Title: "tool", Phase: engines.PhaseCompleted, OK: true}},
		},
		{
			name:  "duplicates ignored",
			lines: []string{read, read, toolResult("t1", false, `""`), toolResult("t1", true, `"x"`)},
			want:  []engines.Action{tool(true, "")},
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
