package gemini_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/conformance"
	"github.com/untether-go/untether/engines/gemini"
)

const session = "7d952791-bf2b-4e40-ba82-5b9e59e11f20"

// Lines shaped like the captured stream, reduced to what the decoder reads.
const (
	initLine   = `{"type":"init","timestamp":"2026-11-27T10:53:56.475Z","session_id":"` + session + `","model":"gemini-2.5-pro"}`
	userLine   = `{"type":"message","role":"user","content":"create hello.txt"}`
	textLine   = `{"type":"message","role":"assistant","content":"All done.","delta":true}`
	resultLine = `{"type":"result","status":"success","stats":{"total_tokens":30,"input_tokens":20,"output_tokens":10,"cached":7,"input":13,"duration_ms":1500,"tool_calls":0,"models":{"gemini-2.5-pro":{"total_tokens":30}}}}`
)

var started = engines.Started{Engine: "gemini", Resume: session, Model: "gemini-2.5-pro"}

// decodeAll feeds lines to a fresh decoder, failing on decode errors, and
// returns every event including Finish's.
func decodeAll(t *testing.T, exit engines.Exit, lines ...string) []engines.Event {
	t.Helper()
	return conformance.DecodeAll(t, gemini.Engine{}, exit, lines...)
}

func delta(text string) string {
	return `{"type":"message","role":"assistant","content":"` + text + `","delta":true}`
}

func toolUse(id, tool, params string) string {
	return `{"type":"tool_use","tool_name":"` + tool + `","tool_id":"` + id + `","parameters":` + params + `}`
}

func toolResult(id, status, rest string) string {
	return `{"type":"tool_result","tool_id":"` + id + `","status":"` + status + `"` + rest + `}`
}

func errorResult(message string) string {
	return `{"type":"result","status":"error","error":{"type":"unknown","message":` + message + `},"stats":{"input_tokens":0,"duration_ms":0}}`
}

// TestRobustness runs the conformance suite's broken lines and these lines
// of gemini's own, none of which yields an event.
func TestRobustness(t *testing.T) {
	conformance.Robustness(t, gemini.Engine{}, []conformance.Line{
		{Name: "no type", Line: `{"session_id":"x"}`, WantErr: true},
		{Name: "unknown type", Line: `{"type":"mystery"}`, WantErr: true},
		{Name: "user message", Line: userLine},
		{Name: "assistant delta", Line: textLine},
		{Name: "init without session", Line: `{"type":"init","model":"gemini-2.5-pro"}`},
		{Name: "invalid UTF-8 in a string", Line: "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"a\xffb\",\"delta\":true}"},
		{Name: "odd field types", Line: `{"type":"message","role":7,"content":{"a":1},"delta":"yes"}`},
	}...)
}

func TestDecodeHugeLines(t *testing.T) {
	big := strings.Repeat("word ", 2<<20) // 10 MiB
	t.Run("text", func(t *testing.T) {
		start := time.Now()
		evs := decodeAll(t, engines.Exit{}, initLine, delta(big), resultLine)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("decoding a 10 MiB line took %v", took)
		}
		c := conformance.Last[engines.Completed](t, evs)
		if !c.OK || len(c.Answer) != len(strings.TrimSpace(big)) {
			t.Errorf("Completed OK=%v with a %d-byte answer, want the whole text", c.OK, len(c.Answer))
		}
	})
	t.Run("command", func(t *testing.T) {
		a := conformance.First[engines.Action](t, decodeAll(t, engines.Exit{}, toolUse("t1", "run_shell_command", `{"command":"`+big+`"}`)))
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
			lines: []string{initLine, userLine, delta("All "), delta("done."), resultLine},
			want: []engines.Event{started, engines.Completed{OK: true, Answer: "All done.", Resume: session, Model: "gemini-2.5-pro",
				Usage: engines.Usage{InputTokens: 13, OutputTokens: 10, CachedTokens: 7, Duration: 1500 * time.Millisecond}}},
		},
		{
			name:  "later init and second result ignored",
			lines: []string{initLine, `{"type":"init","session_id":"other","model":"x"}`, textLine, resultLine, errorResult(`"late"`), textLine},
			want:  []engines.Event{started, conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, initLine, textLine, resultLine))},
		},
		{
			name: "answer is the text after the last tool call",
			lines: []string{initLine, delta("Let me look. "), toolUse("t1", "read_file", `{"file_path":"/p/a.go"}`),
				delta("Still looking."), toolResult("t1", "success", `,"output":"x"`), delta(`\nThe answer.`), resultLine},
			want: []engines.Event{started,
				engines.Action{ID: "t1", Kind: engines.KindTool, Title: "read_file /p/a.go", Phase: engines.PhaseStarted},
				engines.Action{ID: "t1", Kind: engines.KindTool, Title: "read_file /p/a.go", Phase: engines.PhaseCompleted, OK: true},
				conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, initLine, delta("The answer."), resultLine))},
		},
		{
			name:  "whole message replaces deltas",
			lines: []string{initLine, delta("partial"), `{"type":"message","role":"assistant","content":"Whole."}`, resultLine},
			want:  []engines.Event{started, conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, initLine, delta("Whole."), resultLine))},
		},
		{
			name:  "input tokens without breakdown",
			lines: []string{initLine, `{"type":"result","status":"success","stats":{"input_tokens":20,"cached":5,"output_tokens":1}}`},
			want: []engines.Event{started, engines.Completed{OK: true, Resume: session, Model: "gemini-2.5-pro",
				Usage: engines.Usage{InputTokens: 15, OutputTokens: 1, CachedTokens: 5}}},
		},
		{
			name: "error events",
			lines: []string{initLine,
				`{"type":"error","severity":"warning","message":"Loop detected,\nstopping execution"}`,
				`{"type":"error","severity":"error","message":"Maximum session turns exceeded"}`,
				`{"type":"result","status":"error","stats":{}}`},
			want: []engines.Event{started,
				engines.Action{ID: "gemini-error-1", Kind: engines.KindWarning, Title: "Loop detected, stopping execution", Phase: engines.PhaseCompleted, OK: true},
				engines.Action{ID: "gemini-error-2", Kind: engines.KindWarning, Title: "Maximum session turns exceeded", Phase: engines.PhaseCompleted},
				engines.Completed{Error: "Maximum session turns exceeded", Resume: session, Model: "gemini-2.5-pro"}},
		},
		{
			name:  "error event then exit",
			lines: []string{initLine, `{"type":"error","severity":"error","message":"[API Error: quota exhausted]"}`},
			exit:  engines.Exit{Code: 1, StderrTail: "ignored because the error event says more"},
			want: []engines.Event{started,
				engines.Action{ID: "gemini-error-1", Kind: engines.KindWarning, Title: "[API Error: quota exhausted]", Phase: engines.PhaseCompleted},
				engines.Completed{Error: "API error: quota exhausted", Resume: session, Model: "gemini-2.5-pro"}},
		},
		{
			name:  "error result without message",
			lines: []string{initLine, `{"type":"result","status":"error","error":{"type":"FatalTurnLimitedError"}}`},
			want:  []engines.Event{started, engines.Completed{Error: "gemini reported an error (FatalTurnLimitedError)", Resume: session, Model: "gemini-2.5-pro"}},
		},
		{
			name:  "partial answer dropped on error",
			lines: []string{initLine, textLine, errorResult(`"boom"`)},
			want:  []engines.Event{started, engines.Completed{Error: "boom", Resume: session, Model: "gemini-2.5-pro"}},
		},
		{
			name:  "Started only from init",
			lines: []string{textLine, resultLine},
			want:  []engines.Event{engines.Completed{OK: true, Answer: "All done.", Model: "gemini-2.5-pro", Usage: conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, resultLine)).Usage}},
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
		name, message, want string
	}{
		{name: "api error body", message: `"[API Error: {\"error\":{\"code\":401,\"message\":\"API key not valid.\",\"status\":\"UNAUTHENTICATED\"}}]"`,
			want: "API error 401 (UNAUTHENTICATED): API key not valid."},
		{name: "nested body", message: `"[API Error: {\"error\":{\"message\":\"{\\\"error\\\":{\\\"code\\\":429,\\\"message\\\":\\\"Quota exceeded\\\",\\\"status\\\":\\\"RESOURCE_EXHAUSTED\\\"}}\"}}]"`,
			want: "API error 429 (RESOURCE_EXHAUSTED): Quota exceeded"},
		{name: "text before body", message: `"[API Error: got status: UNAVAILABLE. {\"error\":{\"code\":\"503\",\"message\":\"overloaded\"}}]"`,
			want: "API error 503: overloaded"},
		{name: "body without message", message: `"[API Error: {\"error\":{\"code\":500}}]"`,
			want: `API error: {"error":{"code":500}}`},
		{name: "plain api error", message: `"[API Error: fetch failed\nsocket hang up]"`, want: "API error: fetch failed socket hang up"},
		{name: "other error", message: `"  Something\n broke  "`, want: "Something broke"},
		{name: "long", message: `"` + strings.Repeat("x", 2000) + `"`, want: strings.Repeat("x", 999) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, initLine, errorResult(tt.message)))
			if c.OK || c.Error != tt.want {
				t.Errorf("Completed = %+v, want Error %q", c, tt.want)
			}
		})
	}
}

func TestFinish(t *testing.T) {
	apiStderr := "YOLO mode is enabled. All tool calls will be automatically approved.\n" +
		"Error when talking to Gemini API Full report available at: /tmp/r.json _ApiError: {\"error\":{\"code\":403,\"message\":\"denied\",\"status\":\"PERMISSION_DENIED\"}}\n" +
		"    at throwErrorIfNotOK (file:///x.js:1:2)\n    at async Turn.run (file:///x.js:3:4) {\n  status: 403\n}\n"
	tests := []struct {
		name  string
		lines []string
		exit  engines.Exit
		want  engines.Completed
	}{
		{
			name: "stderr tail", lines: []string{initLine}, exit: engines.Exit{Code: 52, StderrTail: "first\n\n  second  \nthird\n\nfourth\n"},
			want: engines.Completed{Error: "gemini exited with code 52: second; third; fourth", Resume: session, Model: "gemini-2.5-pro"},
		},
		{
			name: "stderr noise skipped", exit: engines.Exit{Code: 41, StderrTail: "Warning: 256-color support not detected.\nInvalid auth method selected.\n[STARTUP] Phase 'x' was started but never ended.\n"},
			want: engines.Completed{Error: "gemini exited with code 41: Invalid auth method selected."},
		},
		{
			name: "stderr api error", exit: engines.Exit{Code: 403 & 255, StderrTail: apiStderr},
			want: engines.Completed{Error: "gemini exited with code 147: API error 403 (PERMISSION_DENIED): denied"},
		},
		{
			name: "stderr escape codes", exit: engines.Exit{Code: 1, StderrTail: "\x1b[31mError:\x1b[0m bad flag\x1b"},
			want: engines.Completed{Error: "gemini exited with code 1: Error: bad flag"},
		},
		{
			name: "clean exit with text is still cut short", lines: []string{initLine, textLine}, exit: engines.Exit{},
			want: engines.Completed{Error: "gemini was interrupted before it finished", Resume: session, Model: "gemini-2.5-pro"},
		},
		{
			name: "sigterm", lines: []string{initLine, textLine}, exit: engines.Exit{Code: 143},
			want: engines.Completed{Error: "gemini was interrupted (signal SIGTERM)", Resume: session, Model: "gemini-2.5-pro"},
		},
		{
			name: "cause wins", lines: []string{initLine, textLine}, exit: engines.Exit{Code: 137, Cause: "out of memory (limit 2 GiB)"},
			want: engines.Completed{Error: "out of memory (limit 2 GiB)", Resume: session, Model: "gemini-2.5-pro"},
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
	conformance.FinishWithoutStream(t, gemini.Engine{})
}

func TestFinishOnce(t *testing.T) {
	conformance.FinishOnce(t, gemini.Engine{}, []string{initLine, resultLine}, textLine)
}

func TestToolActions(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name   string
		tool   string
		params string
		want   engines.Action
	}{
		{name: "shell", tool: "run_shell_command", params: `{"command":"go test ./...\n  -run X","description":"Run tests"}`,
			want: engines.Action{Kind: engines.KindCommand, Title: "go test ./... -run X", Detail: "Run tests"}},
		{name: "shell long", tool: "run_shell_command", params: `{"command":"` + long + `"}`,
			want: engines.Action{Kind: engines.KindCommand, Title: strings.Repeat("é", 199) + "…"}},
		{name: "write file", tool: "write_file", params: `{"file_path":"/workspace/p/a.txt","content":"x"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "/workspace/p/a.txt"}},
		{name: "replace", tool: "replace", params: `{"file_path":"/workspace/p/main.go","old_string":"a","new_string":"b"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "/workspace/p/main.go"}},
		{name: "web search", tool: "google_web_search", params: `{"query":"go 1.26 release"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "go 1.26 release"}},
		{name: "web fetch prompt", tool: "web_fetch", params: `{"prompt":"summarize https://go.dev"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "summarize https://go.dev"}},
		{name: "web fetch url", tool: "web_fetch", params: `{"url":"https://go.dev","prompt":"summarize"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "https://go.dev"}},
		{name: "subagent", tool: "invoke_agent", params: `{"agent_name":"codebase_investigator","prompt":"look"}`,
			want: engines.Action{Kind: engines.KindSubagent, Title: "codebase_investigator"}},
		{name: "read file", tool: "read_file", params: `{"file_path":"/workspace/p/go.mod"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "read_file /workspace/p/go.mod"}},
		{name: "grep", tool: "grep_search", params: `{"pattern":"TODO","dir_path":"/workspace/p"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "grep_search TODO"}},
		{name: "list directory", tool: "list_directory", params: `{"dir_path":"/workspace/p/src"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "list_directory /workspace/p/src"}},
		{name: "glob", tool: "glob", params: `{"pattern":"**/*.go"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "glob **/*.go"}},
		{name: "todos", tool: "write_todos", params: `{"todos":[]}`,
			want: engines.Action{Kind: engines.KindTool, Title: "write_todos"}},
		{name: "mcp", tool: "github__create_issue", params: `{"title":"x"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "github__create_issue"}},
		{name: "shell without params", tool: "run_shell_command", params: `"oops"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "run_shell_command"}},
		{name: "no name", tool: "", params: `{}`,
			want: engines.Action{Kind: engines.KindTool, Title: "tool"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := decodeAll(t, engines.Exit{}, initLine, toolUse("t1", tt.tool, tt.params))
			want := tt.want
			want.ID, want.Phase = "t1", engines.PhaseStarted
			conformance.EqualEvents(t, []engines.Event{evs[1]}, []engines.Event{want})
		})
	}
}

func TestToolResults(t *testing.T) {
	use := toolUse("t1", "read_file", `{"file_path":"/p/x"}`)
	done := func(ok bool, detail string) engines.Action {
		return engines.Action{ID: "t1", Kind: engines.KindTool, Title: "read_file /p/x", Phase: engines.PhaseCompleted, OK: ok, Detail: detail}
	}
	tests := []struct {
		name  string
		lines []string
		want  []engines.Action
	}{
		{name: "ok", lines: []string{use, toolResult("t1", "success", `,"output":"contents"`)}, want: []engines.Action{done(true, "")}},
		{name: "ok without output", lines: []string{use, toolResult("t1", "success", ``)}, want: []engines.Action{done(true, "")}},
		{
			name:  "error message",
			lines: []string{use, toolResult("t1", "error", `,"output":"ignored","error":{"type":"file_not_found","message":"\nFile not found: /p/x\nmore"}`)},
			want:  []engines.Action{done(false, "File not found: /p/x")},
		},
		{name: "error output only", lines: []string{use, toolResult("t1", "error", `,"output":"denied"`)}, want: []engines.Action{done(false, "denied")}},
		{name: "unknown status", lines: []string{use, toolResult("t1", "cancelled", ``)}, want: []engines.Action{done(false, "")}},
		{
			name:  "unknown id",
			lines: []string{toolResult("t9", "success", ``)},
			want:  []engines.Action{{ID: "t9", Kind: engines.KindTool, Title: "tool", Phase: engines.PhaseCompleted, OK: true}},
		},
		{
			name:  "duplicates ignored",
			lines: []string{use, use, toolResult("t1", "success", ``), toolResult("t1", "error", ``)},
			want:  []engines.Action{done(true, "")},
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

func TestResultModel(t *testing.T) {
	tests := []struct {
		name, initModel, models, want string
	}{
		{name: "single key", initModel: "auto", models: `{"gemini-2.5-flash":{}}`, want: "gemini-2.5-flash"},
		{name: "session model among several", initModel: "gemini-2.5-pro",
			models: `{"gemini-2.5-flash-lite":{"total_tokens":900},"gemini-2.5-pro":{"total_tokens":1}}`, want: "gemini-2.5-pro"},
		{name: "most tokens, ties sorted", initModel: "auto",
			models: `{"a-model":{"total_tokens":1},"z-model":{"total_tokens":5},"b-model":{"total_tokens":5}}`, want: "b-model"},
		{name: "empty falls back to init", initModel: "gemini-2.5-pro", models: `{}`, want: "gemini-2.5-pro"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			init := `{"type":"init","session_id":"` + session + `","model":"` + tt.initModel + `"}`
			line := `{"type":"result","status":"success","stats":{"models":` + tt.models + `}}`
			if c := conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, init, line)); c.Model != tt.want {
				t.Errorf("Model = %q, want %q", c.Model, tt.want)
			}
		})
	}
}
