package pi_test

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/conformance"
	"github.com/untether-go/untether/engines/pi"
)

const session = "01a21ca2-37e3-7253-97a4-ea52a50951da"

// Lines shaped like the captured stream, reduced to what the decoder reads.
const (
	sessionLine  = `{"type":"session","version":3,"id":"` + session + `","timestamp":"2026-11-27T10:52:02.915Z","cwd":"/workspace/p"}`
	agentEndLine = `{"type":"agent_end","messages":[]}`
	usageJSON    = `"usage":{"input":10,"output":5,"cacheRead":7,"cacheWrite":0,"totalTokens":22,"cost":{"total":0.5}}`
)

var started = engines.Started{Engine: "pi", Resume: session, Meta: map[string]string{"cwd": "/workspace/p"}}

// assistantEnd is the message_end of an assistant message with the given
// content blocks and stop reason.
func assistantEnd(content, stopReason string) string {
	return `{"type":"message_end","message":{"role":"assistant","content":[` + content + `],"api":"openai-completions",` +
		`"provider":"mock","model":"mock-model",` + usageJSON + `,"stopReason":"` + stopReason + `","timestamp":1}}`
}

// errorEnd is the message_end of a failed request.
func errorEnd(msg string) string {
	return `{"type":"message_end","message":{"role":"assistant","content":[],"provider":"mock","model":"mock-model",` +
		`"stopReason":"error","errorMessage":"` + msg + `"}}`
}

func textBlock(text string) string { return `{"type":"text","text":"` + text + `"}` }

// decodeAll feeds lines to a fresh decoder, failing on decode errors, and
// returns every event including Finish's but the usage updates, which
// TestUsageAsItGoes pins.
func decodeAll(t *testing.T, exit engines.Exit, lines ...string) []engines.Event {
	t.Helper()
	var out []engines.Event
	for _, ev := range conformance.DecodeAll(t, pi.Engine{}, exit, lines...) {
		if _, ok := ev.(engines.UsageUpdate); !ok {
			out = append(out, ev)
		}
	}
	return out
}

// TestRobustness runs the conformance suite's broken lines and these lines
// of pi's own, none of which yields an event.
func TestRobustness(t *testing.T) {
	conformance.Robustness(t, pi.Engine{}, []conformance.Line{
		{Name: "no type", Line: `{"id":"x"}`, WantErr: true},
		{Name: "unknown type", Line: `{"type":"mystery"}`, WantErr: true},
		{Name: "rpc reply", Line: `{"id":"req-1","type":"response","command":"prompt","success":true}`, WantErr: true},
		{Name: "opencode line", Line: `{"type":"step_start","sessionID":"ses_1"}`, WantErr: true},
		{Name: "agent start", Line: `{"type":"agent_start"}`},
		{Name: "thinking delta", Line: `{"type":"message_update","assistantMessageEvent":{"type":"thinking_delta","delta":"hmm"},"message":{}}`},
		{Name: "tool update", Line: `{"type":"tool_execution_update","toolCallId":"t1","partialResult":{"content":[]}}`},
		{Name: "queue update", Line: `{"type":"queue_update","steering":[],"followUp":[]}`},
		{Name: "user message", Line: `{"type":"message_end","message":{"role":"user","content":[{"type":"text","text":"hi"}]}}`},
		{Name: "session without id", Line: `{"type":"session","version":3}`},
		{Name: "agent end without messages", Line: agentEndLine},
		{Name: "invalid UTF-8 in a string", Line: "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"a\xffb\"}]}}"},
		{Name: "odd field types", Line: `{"type":"message_end","message":{"role":"assistant","content":5,"usage":"x","stopReason":7}}`},
	}...)
}

func TestDecodeHugeLines(t *testing.T) {
	big := strings.Repeat("word ", 2<<20) // 10 MiB
	t.Run("text", func(t *testing.T) {
		start := time.Now()
		evs := decodeAll(t, engines.Exit{}, sessionLine, assistantEnd(textBlock(big), "stop"), agentEndLine)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("decoding a 10 MiB line took %v", took)
		}
		c := conformance.Last[engines.Completed](t, evs)
		if !c.OK || len(c.Answer) != len(strings.TrimSpace(big)) {
			t.Errorf("Completed OK=%v with a %d-byte answer, want the whole text", c.OK, len(c.Answer))
		}
	})
	t.Run("command", func(t *testing.T) {
		evs := decodeAll(t, engines.Exit{},
			`{"type":"tool_execution_start","toolCallId":"t1","toolName":"bash","args":{"command":"`+big+`"}}`,
			`{"type":"tool_execution_end","toolCallId":"t1","toolName":"bash","result":{"content":[{"type":"text","text":"`+big+`"}]},"isError":true}`)
		for _, a := range conformance.Actions(evs) {
			if n := utf8.RuneCountInString(a.Title); n > 200 || strings.Contains(a.Title, "\n") {
				t.Errorf("title has %d runes", n)
			}
			if n := utf8.RuneCountInString(a.Detail); n > 300 {
				t.Errorf("detail has %d runes", n)
			}
		}
	})
}

func TestDecodeStream(t *testing.T) {
	usage := func(turns int, n int64) engines.Usage {
		return engines.Usage{InputTokens: 10 * n, OutputTokens: 5 * n, CachedTokens: 7 * n, CostUSD: 0.5 * float64(n), Turns: turns}
	}
	ok := func(answer string, u engines.Usage) engines.Completed {
		return engines.Completed{OK: true, Answer: answer, Resume: session, Model: "mock/mock-model", Usage: u}
	}
	tests := []struct {
		name  string
		lines []string
		exit  engines.Exit
		want  []engines.Event
	}{
		{
			name:  "answer at agent_end",
			lines: []string{sessionLine, assistantEnd(textBlock("All done."), "stop"), agentEndLine, `{"type":"auto_compaction_start","reason":"threshold"}`},
			exit:  engines.Exit{Code: 143},
			want:  []engines.Event{started, ok("All done.", usage(1, 1))},
		},
		{
			name: "text parts joined, thinking and tool calls left out",
			lines: []string{sessionLine, assistantEnd(`{"type":"thinking","thinking":"hmm"},`+textBlock("First.")+`,{"type":"toolCall","id":"t","name":"bash","arguments":{}},`+textBlock("Second."), "stop"),
				agentEndLine},
			want: []engines.Event{started, ok("First.\nSecond.", usage(1, 1))},
		},
		{
			name:  "empty final message falls back to earlier text",
			lines: []string{sessionLine, assistantEnd(textBlock("Let me check."), "toolUse"), assistantEnd("", "stop"), agentEndLine},
			want:  []engines.Event{started, ok("Let me check.", usage(2, 2))},
		},
		{
			name:  "length stop still answers",
			lines: []string{sessionLine, assistantEnd(textBlock("Cut sh"), "length"), agentEndLine},
			want:  []engines.Event{started, ok("Cut sh", usage(1, 1))},
		},
		{
			name:  "error waits for the end of the stream",
			lines: []string{sessionLine, errorEnd("401 invalid x-api-key"), agentEndLine},
			want:  []engines.Event{started, engines.Completed{Error: "API error: 401 invalid x-api-key", Resume: session, Model: "mock/mock-model"}},
		},
		{
			name:  "error with willRetry false ends the run",
			lines: []string{sessionLine, errorEnd("API error: overloaded"), `{"type":"agent_end","messages":[],"willRetry":false}`},
			exit:  engines.Exit{Code: 143},
			want:  []engines.Event{started, engines.Completed{Error: "API error: overloaded", Resume: session, Model: "mock/mock-model"}},
		},
		{
			name: "retry that recovers",
			lines: []string{sessionLine, errorEnd("529 overloaded"), `{"type":"agent_end","messages":[],"willRetry":true}`,
				`{"type":"auto_retry_start","attempt":1,"maxAttempts":3,"delayMs":2000,"errorMessage":"529 overloaded"}`,
				assistantEnd(textBlock("Fine now."), "stop"),
				`{"type":"auto_retry_end","success":true,"attempt":1}`, agentEndLine},
			want: []engines.Event{started,
				engines.Action{ID: "api-retry", Kind: engines.KindWarning, Title: "API error (529 overloaded), retry 1/3", Detail: "retrying in 2s", Phase: engines.PhaseUpdated},
				engines.Action{ID: "api-retry", Kind: engines.KindWarning, Title: "API error (529 overloaded), retry 1/3", Detail: "recovered", Phase: engines.PhaseCompleted, OK: true},
				ok("Fine now.", usage(1, 1))},
		},
		{
			name: "retries given up",
			lines: []string{sessionLine, errorEnd("500 boom"), agentEndLine,
				`{"type":"auto_retry_start","attempt":1,"maxAttempts":1,"delayMs":1234,"errorMessage":"500 boom"}`,
				errorEnd("500 boom again"), agentEndLine,
				`{"type":"auto_retry_end","success":false,"attempt":1,"finalError":"500 boom again"}`},
			want: []engines.Event{started,
				engines.Action{ID: "api-retry", Kind: engines.KindWarning, Title: "API error (500 boom), retry 1/1", Detail: "retrying in 1.2s", Phase: engines.PhaseUpdated},
				engines.Action{ID: "api-retry", Kind: engines.KindWarning, Title: "API error (500 boom), retry 1/1", Detail: "gave up", Phase: engines.PhaseCompleted},
				engines.Completed{Error: "API error: 500 boom again", Resume: session, Model: "mock/mock-model"}},
		},
		{
			name:  "aborted request",
			lines: []string{sessionLine, `{"type":"message_end","message":{"role":"assistant","content":[],"stopReason":"aborted"}}`, agentEndLine},
			exit:  engines.Exit{Code: 0},
			want:  []engines.Event{started, engines.Completed{Error: "pi aborted the request", Resume: session}},
		},
		{
			name: "compaction",
			lines: []string{sessionLine, `{"type":"compaction_start","reason":"threshold"}`,
				`{"type":"compaction_end","reason":"threshold","aborted":false,"willRetry":false}`,
				`{"type":"auto_compaction_start","reason":"overflow"}`,
				`{"type":"auto_compaction_end","aborted":false,"willRetry":true,"errorMessage":"summary failed"}`,
				assistantEnd(textBlock("ok"), "stop"), agentEndLine},
			want: []engines.Event{started,
				engines.Action{ID: "compaction", Kind: engines.KindNote, Title: "compacting the context", Detail: "threshold", Phase: engines.PhaseStarted},
				engines.Action{ID: "compaction", Kind: engines.KindNote, Title: "compacting the context", Phase: engines.PhaseCompleted, OK: true},
				engines.Action{ID: "compaction", Kind: engines.KindNote, Title: "compacting the context", Detail: "overflow", Phase: engines.PhaseStarted},
				engines.Action{ID: "compaction", Kind: engines.KindNote, Title: "compacting the context", Detail: "summary failed", Phase: engines.PhaseCompleted},
				ok("ok", usage(1, 1))},
		},
		{
			name:  "later session lines ignored",
			lines: []string{sessionLine, `{"type":"session","version":3,"id":"other"}`, assistantEnd(textBlock("x"), "stop"), agentEndLine},
			want:  []engines.Event{started, ok("x", usage(1, 1))},
		},
		{
			name:  "lines after the end ignored",
			lines: []string{sessionLine, assistantEnd(textBlock("x"), "stop"), agentEndLine, errorEnd("late"), agentEndLine, `{"type":"tool_execution_start","toolCallId":"t"}`},
			want:  []engines.Event{started, ok("x", usage(1, 1))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conformance.EqualEvents(t, conformance.WithoutText(decodeAll(t, tt.exit, tt.lines...)), tt.want)
		})
	}
}

func TestFinish(t *testing.T) {
	answered := assistantEnd(textBlock("All done."), "stop")
	tests := []struct {
		name  string
		lines []string
		exit  engines.Exit
		want  engines.Completed
	}{
		{
			name: "stderr tail", lines: []string{sessionLine}, exit: engines.Exit{Code: 1, StderrTail: "first\n\n  second  \nthird\n\nfourth\n"},
			want: engines.Completed{Error: "pi exited with code 1: second; third; fourth", Resume: session},
		},
		{
			name: "sigterm", lines: []string{sessionLine}, exit: engines.Exit{Code: 143},
			want: engines.Completed{Error: "pi was interrupted (signal SIGTERM)", Resume: session},
		},
		{
			name: "sigterm names the model of the message it cut",
			lines: []string{sessionLine, `{"type":"message_start","message":{"role":"assistant","content":[],"provider":"anthropic","model":"claude-sonnet-4-5","stopReason":"stop"}}`,
				`{"type":"message_update","assistantMessageEvent":{"type":"text_delta","delta":"Hel"}}`},
			exit: engines.Exit{Code: 143},
			want: engines.Completed{Error: "pi was interrupted (signal SIGTERM)", Resume: session, Model: "anthropic/claude-sonnet-4-5"},
		},
		{
			name: "cause wins", lines: []string{sessionLine, errorEnd("500 x")}, exit: engines.Exit{Code: 137, Cause: "out of memory (limit 2 GiB)"},
			want: engines.Completed{Error: "out of memory (limit 2 GiB)", Resume: session, Model: "mock/mock-model"},
		},
		{
			name: "answer without agent_end", lines: []string{sessionLine, answered},
			want: engines.Completed{OK: true, Answer: "All done.", Resume: session, Model: "mock/mock-model",
				Usage: engines.Usage{InputTokens: 10, OutputTokens: 5, CachedTokens: 7, CostUSD: 0.5, Turns: 1}},
		},
		{
			name: "answer then killed", lines: []string{sessionLine, answered}, exit: engines.Exit{Code: 143},
			want: engines.Completed{Error: "pi was interrupted (signal SIGTERM)", Resume: session, Model: "mock/mock-model",
				Usage: engines.Usage{InputTokens: 10, OutputTokens: 5, CachedTokens: 7, CostUSD: 0.5, Turns: 1}},
		},
		{
			name: "error with a clean exit", lines: []string{sessionLine, errorEnd("401 bad key")}, exit: engines.Exit{StderrTail: "ignored"},
			want: engines.Completed{Error: "API error: 401 bad key", Resume: session, Model: "mock/mock-model"},
		},
		{
			name: "error without a message", lines: []string{sessionLine, errorEnd("")},
			want: engines.Completed{Error: "pi's model request failed", Resume: session, Model: "mock/mock-model"},
		},
		{
			name: "clean exit without an answer", lines: []string{sessionLine}, exit: engines.Exit{StderrTail: "hm"},
			want: engines.Completed{Error: "pi exited without an answer: hm", Resume: session},
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
	conformance.FinishWithoutStream(t, pi.Engine{})
}

func TestFinishOnce(t *testing.T) {
	conformance.FinishOnce(t, pi.Engine{}, []string{sessionLine, assistantEnd(textBlock("x"), "stop"), agentEndLine}, sessionLine)
}

func TestToolActions(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name string
		tool string
		args string
		want engines.Action
	}{
		{name: "bash", tool: "bash", args: `{"command":"go test ./...\n  -run X","timeout":60}`,
			want: engines.Action{Kind: engines.KindCommand, Title: "go test ./... -run X"}},
		{name: "bash long", tool: "bash", args: `{"command":"` + long + `"}`,
			want: engines.Action{Kind: engines.KindCommand, Title: strings.Repeat("é", 199) + "…"}},
		{name: "write under cwd", tool: "write", args: `{"path":"/workspace/p/src/main.go","content":"x"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "src/main.go"}},
		{name: "edit outside cwd", tool: "edit", args: `{"path":"/tmp/x.txt","oldText":"a","newText":"b"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "/tmp/x.txt"}},
		{name: "edit with file_path", tool: "edit", args: `{"file_path":"/workspace/p/a.go"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "a.go"}},
		{name: "web search", tool: "web_search", args: `{"query":"go 1.26 release"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "go 1.26 release"}},
		{name: "web fetch", tool: "WebFetch", args: `{"url":"https://go.dev"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "https://go.dev"}},
		{name: "read", tool: "read", args: `{"path":"/workspace/p/go.mod","offset":1}`,
			want: engines.Action{Kind: engines.KindTool, Title: "read go.mod"}},
		{name: "grep", tool: "grep", args: `{"pattern":"TODO","path":"/workspace/p"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "grep TODO"}},
		{name: "ls", tool: "ls", args: `{"path":"/workspace/p/src"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "ls src"}},
		{name: "find", tool: "find", args: `{"pattern":"*.go"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "find *.go"}},
		{name: "extension tool", tool: "todo", args: `{"items":[]}`,
			want: engines.Action{Kind: engines.KindTool, Title: "todo"}},
		{name: "bash without args", tool: "bash", args: `"oops"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "bash"}},
		{name: "no name", tool: "", args: `{}`,
			want: engines.Action{Kind: engines.KindTool, Title: "tool"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := `{"type":"tool_execution_start","toolCallId":"t1","toolName":"` + tt.tool + `","args":` + tt.args + `}`
			evs := decodeAll(t, engines.Exit{}, sessionLine, line)
			want := tt.want
			want.ID, want.Phase = "t1", engines.PhaseStarted
			conformance.EqualEvents(t, []engines.Event{evs[1]}, []engines.Event{want})
		})
	}
}

func TestToolResults(t *testing.T) {
	start := `{"type":"tool_execution_start","toolCallId":"t1","toolName":"read","args":{"path":"/workspace/p/x"}}`
	end := func(isError bool, result string) string {
		return `{"type":"tool_execution_end","toolCallId":"t1","toolName":"read","result":` + result +
			`,"isError":` + map[bool]string{true: "true", false: "false"}[isError] + `}`
	}
	read := func(ok bool, detail string) engines.Action {
		return engines.Action{ID: "t1", Kind: engines.KindTool, Title: "read x", Phase: engines.PhaseCompleted, OK: ok, Detail: detail}
	}
	tests := []struct {
		name  string
		lines []string
		want  []engines.Action
	}{
		{name: "ok", lines: []string{start, end(false, `{"content":[{"type":"text","text":"contents"}]}`)}, want: []engines.Action{read(true, "")}},
		{
			name:  "failed command",
			lines: []string{start, end(true, `{"content":[{"type":"text","text":"\ncat: x: No such file\n\n\nCommand exited with code 1"}],"details":{}}`)},
			want:  []engines.Action{read(false, "Exit code 1: cat: x: No such file")},
		},
		{
			name:  "exit code alone",
			lines: []string{start, end(true, `{"content":[{"type":"text","text":"Command exited with code 2"}]}`)},
			want:  []engines.Action{read(false, "Exit code 2")},
		},
		{
			name:  "error as a string",
			lines: []string{start, end(true, `"File not found: x\nmore"`)},
			want:  []engines.Action{read(false, "File not found: x")},
		},
		{
			name:  "error without text",
			lines: []string{start, end(true, `{"content":[{"type":"image"}]}`)},
			want:  []engines.Action{read(false, "")},
		},
		{
			name:  "end without start",
			lines: []string{`{"type":"tool_execution_end","toolCallId":"t9","toolName":"bash","args":{"command":"ls"},"result":{},"isError":false}`},
			want:  []engines.Action{{ID: "t9", Kind: engines.KindCommand, Title: "ls", Phase: engines.PhaseCompleted, OK: true}},
		},
		{name: "duplicates ignored", lines: []string{start, start, end(false, `{}`), end(true, `"x"`)}, want: []engines.Action{read(true, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []engines.Action
			for _, a := range conformance.Actions(decodeAll(t, engines.Exit{}, append([]string{sessionLine}, tt.lines...)...)) {
				if a.Phase == engines.PhaseCompleted {
					got = append(got, a)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("completed actions:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestToolIDsMadeUpWhenMissing(t *testing.T) {
	noID := `{"type":"tool_execution_start","toolName":"bash","args":{"command":"ls"}}`
	var ids []string
	for _, a := range conformance.Actions(decodeAll(t, engines.Exit{}, noID, noID)) {
		ids = append(ids, a.ID)
	}
	if want := []string{"pi-tool-1", "pi-tool-2"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids = %q, want %q", ids, want)
	}
}

// TestUsageAsItGoes: each model request's usage is reported as it ends,
// added up, so the last report is the run's usage in its Completed.
func TestUsageAsItGoes(t *testing.T) {
	lines, _ := conformance.Fixture(t, fixtures, "basic")
	evs := conformance.DecodeAll(t, pi.Engine{}, engines.Exit{}, lines...)
	conformance.UsageAsItGoes(t, evs)
}
