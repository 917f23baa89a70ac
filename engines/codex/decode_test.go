package codex_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/codex"
	"github.com/untether-go/untether/engines/enginetest/conformance"
)

const thread = "01a21c9d-7e3f-7841-af02-79f24a32141d"

// Lines shaped like the captured stream.
const (
	threadLine = `{"type":"thread.started","thread_id":"` + thread + `"}`
	turnLine   = `{"type":"turn.started"}`
	answerLine = `{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"All done."}}`
	doneLine   = `{"type":"turn.completed","usage":{"input_tokens":400,"cached_input_tokens":100,"cache_write_input_tokens":0,"output_tokens":60,"reasoning_output_tokens":0}}`
	failLine   = `{"type":"turn.failed","error":{"message":"boom"}}`
)

var started = engines.Started{Engine: "codex", Resume: thread}

// decodeAll feeds lines to a fresh decoder, failing on decode errors, and
// returns every event including Finish's.
func decodeAll(t *testing.T, exit engines.Exit, lines ...string) []engines.Event {
	t.Helper()
	return conformance.DecodeAll(t, codex.Engine{}, exit, lines...)
}

// item is an item event line of the given phase ("started", "updated",
// "completed") carrying the item's JSON fields.
func item(phase, fields string) string {
	return `{"type":"item.` + phase + `","item":{` + fields + `}}`
}

// TestRobustness runs the conformance suite's broken lines and these lines
// of codex's own, none of which yields an event.
func TestRobustness(t *testing.T) {
	conformance.Robustness(t, codex.Engine{}, []conformance.Line{
		{Name: "no type", Line: `{"thread_id":"x"}`, WantErr: true},
		{Name: "unknown type", Line: `{"type":"thread.archived"}`, WantErr: true},
		{Name: "item without item", Line: `{"type":"item.completed"}`, WantErr: true},
		{Name: "item not an object", Line: `{"type":"item.completed","item":"x"}`, WantErr: true},
		{Name: "unknown item type", Line: item("completed", `"id":"i","type":"hologram"`), WantErr: true},
		{Name: "thread without id", Line: `{"type":"thread.started"}`, WantErr: true},
		{Name: "thread id not an id", Line: `{"type":"thread.started","thread_id":"--last"}`, WantErr: true},
		{Name: "turn started", Line: turnLine},
		{Name: "plan delta", Line: `{"type":"item.plan.delta","item_id":"i","delta":"x"}`},
		{Name: "reasoning", Line: item("completed", `"id":"item_0","type":"reasoning","text":"**Planning**"`)},
		{Name: "agent message", Line: answerLine},
		{Name: "invalid UTF-8 in a string", Line: item("completed", "\"id\":\"i\",\"type\":\"agent_message\",\"text\":\"a\xffb\"")},
		{Name: "odd field types", Line: item("completed", `"id":"i","type":"agent_message","text":5,"extra":{}`)},
		{Name: "blank error", Line: `{"type":"error","message":" "}`},
	}...)
}

func TestDecodeHugeLines(t *testing.T) {
	big := strings.Repeat("word ", 2<<20) // 10 MiB
	t.Run("answer", func(t *testing.T) {
		start := time.Now()
		line := item("completed", `"id":"i","type":"agent_message","text":"`+big+`"`)
		c := conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{}, threadLine, line, doneLine))
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("decoding a 10 MiB line took %v", took)
		}
		if !c.OK || len(c.Answer) != len(big) {
			t.Errorf("Completed OK=%v with a %d-byte answer, want the whole text", c.OK, len(c.Answer))
		}
	})
	t.Run("command and output", func(t *testing.T) {
		line := item("completed", `"id":"i","type":"command_execution","command":"/bin/bash -lc '`+big+`'","aggregated_output":"`+big+`","exit_code":2,"status":"failed"`)
		a := conformance.First[engines.Action](t, decodeAll(t, engines.Exit{}, line))
		if n := utf8.RuneCountInString(a.Title); n > 200 || strings.Contains(a.Title, "\n") {
			t.Errorf("title has %d runes", n)
		}
		if n := utf8.RuneCountInString(a.Detail); n > 300 || !strings.HasPrefix(a.Detail, "exit code 2: ") || strings.Contains(a.Detail, "\n") {
			t.Errorf("detail = %q (%d runes)", a.Detail, n)
		}
	})
	t.Run("file change", func(t *testing.T) {
		line := item("completed", `"id":"i","type":"file_change","changes":[{"path":"`+big+`","kind":"add"}],"status":"completed"`)
		a := conformance.First[engines.Action](t, decodeAll(t, engines.Exit{}, line))
		if n := utf8.RuneCountInString(a.Title); n > 200 {
			t.Errorf("title has %d runes", n)
		}
	})
	t.Run("error", func(t *testing.T) {
		c := conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{Code: 1}, `{"type":"turn.failed","error":{"message":"`+big+`"}}`))
		if n := utf8.RuneCountInString(c.Error); n > 1000 || c.OK {
			t.Errorf("error has %d runes", n)
		}
	})
}

func TestDecodeStream(t *testing.T) {
	usage := engines.Usage{InputTokens: 400, OutputTokens: 60, CachedTokens: 100}
	tests := []struct {
		name  string
		lines []string
		exit  engines.Exit
		want  []engines.Event
	}{
		{
			name:  "answer",
			lines: []string{threadLine, turnLine, answerLine, doneLine},
			want:  []engines.Event{started, engines.Completed{OK: true, Answer: "All done.", Resume: thread, Usage: usage}},
		},
		{
			name: "last message is the answer",
			lines: []string{threadLine, item("completed", `"id":"item_0","type":"agent_message","text":"Let me look."`),
				answerLine, item("completed", `"id":"item_3","type":"agent_message","text":"  "`), doneLine},
			want: []engines.Event{started, engines.Completed{OK: true, Answer: "All done.", Resume: thread, Usage: usage}},
		},
		{
			name:  "plan is the answer without a message",
			lines: []string{threadLine, item("completed", `"id":"item_0","type":"plan","text":"1. do it"`), doneLine},
			want:  []engines.Event{started, engines.Completed{OK: true, Answer: "1. do it", Resume: thread, Usage: usage}},
		},
		{
			name:  "later thread and lines after the end ignored",
			lines: []string{threadLine, `{"type":"thread.started","thread_id":"other"}`, doneLine, failLine, answerLine, `{"type":"error","message":"x"}`},
			want:  []engines.Event{started, engines.Completed{OK: true, Resume: thread, Usage: usage}},
		},
		{
			name:  "failed turn",
			lines: []string{threadLine, answerLine, failLine},
			exit:  engines.Exit{Code: 1},
			want:  []engines.Event{started, engines.Completed{Error: "boom", Resume: thread}},
		},
		{
			name: "error then failed turn without a message",
			lines: []string{threadLine,
				`{"type":"error","message":"unexpected status 429 Too Many Requests: slow down, url: https://api.example.com/v1/responses"}`,
				`{"type":"turn.failed","error":{}}`},
			exit: engines.Exit{Code: 1},
			want: []engines.Event{started,
				engines.Action{ID: "codex-error", Kind: engines.KindWarning, Phase: engines.PhaseUpdated,
					Title: "The model API is rate limiting codex (429 Too Many Requests: slow down)"},
				engines.Completed{Error: "The model API is rate limiting codex (429 Too Many Requests: slow down)", Resume: thread}},
		},
		{
			name:  "failed turn without any message",
			lines: []string{threadLine, `{"type":"turn.failed"}`},
			want:  []engines.Event{started, engines.Completed{Error: "codex reported an error", Resume: thread}},
		},
		{
			name: "recovered error is only a warning",
			lines: []string{threadLine, `{"type":"error","message":"Reconnecting... 1/5"}`,
				`{"type":"error","message":"Reconnecting... 2/5"}`, answerLine, doneLine},
			want: []engines.Event{started,
				engines.Action{ID: "codex-error", Kind: engines.KindWarning, Phase: engines.PhaseUpdated, Title: "Reconnecting... 1/5"},
				engines.Action{ID: "codex-error", Kind: engines.KindWarning, Phase: engines.PhaseUpdated, Title: "Reconnecting... 2/5"},
				engines.Completed{OK: true, Answer: "All done.", Resume: thread, Usage: usage}},
		},
		{
			name:  "error without a turn end",
			lines: []string{threadLine, `{"type":"error","message":"stream disconnected before completion"}`, answerLine},
			exit:  engines.Exit{Code: 1, StderrTail: "ignored because the error event says more"},
			want: []engines.Event{started,
				engines.Action{ID: "codex-error", Kind: engines.KindWarning, Phase: engines.PhaseUpdated, Title: "stream disconnected before completion"},
				engines.Completed{Error: "stream disconnected before completion", Resume: thread}},
		},
		{
			name:  "no thread",
			lines: []string{answerLine, doneLine},
			want:  []engines.Event{engines.Completed{OK: true, Answer: "All done.", Usage: usage}},
		},
		{
			name: "question to the user",
			lines: []string{threadLine, `{"type":"request_user_input","id":"t","call_id":"call_1","questions":[{"id":"q","header":"Pick","question":"Which file?"},{"header":"Mode"}]}`,
				failLine},
			want: []engines.Event{started,
				engines.Action{ID: "call_1", Kind: engines.KindNote, Phase: engines.PhaseUpdated, Title: "codex asked: Which file? / Mode"},
				engines.Completed{Error: "boom", Resume: thread}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conformance.EqualEvents(t, conformance.WithoutText(decodeAll(t, tt.exit, tt.lines...)), tt.want)
		})
	}
}

func TestFinish(t *testing.T) {
	// The stderr every captured run printed, none of which says why.
	const noise = "WARNING: proceeding, even though we could not create PATH aliases: Refusing to create helper binaries under temporary dir \"/tmp\" (codex_home: AbsolutePathBuf(\"/home/agent/.codex\"))\nReading additional input from stdin...\n"
	tests := []struct {
		name  string
		lines []string
		exit  engines.Exit
		want  engines.Completed
	}{
		{name: "only noise on stderr", lines: []string{threadLine}, exit: engines.Exit{Code: 1, StderrTail: noise},
			want: engines.Completed{Error: "codex exited with code 1", Resume: thread}},
		{
			name: "stderr tail", lines: []string{threadLine}, exit: engines.Exit{Code: 1, StderrTail: "first\n\n  second  \nthird\n\nfourth\n" + noise},
			want: engines.Completed{Error: "codex exited with code 1: second; third; fourth", Resume: thread},
		},
		{
			name: "usage error",
			exit: engines.Exit{Code: 2, StderrTail: "error: unexpected argument '--frobnicate' found\n\n  tip: to pass '--frobnicate' as a value, use '-- --frobnicate'\n\nUsage: codex exec [OPTIONS] [PROMPT]\n\nFor more information, try '--help'.\n"},
			want: engines.Completed{Error: "codex exited with code 2: error: unexpected argument '--frobnicate' found; tip: to pass '--frobnicate' as a value, use '-- --frobnicate'"},
		},
		{
			name: "no prompt on stdin", exit: engines.Exit{Code: 1, StderrTail: noise + "No prompt provided via stdin.\n"},
			want: engines.Completed{Error: "codex exited with code 1: No prompt provided via stdin."},
		},
		{
			name: "sigterm", lines: []string{threadLine, turnLine, answerLine}, exit: engines.Exit{Code: 143, StderrTail: noise},
			want: engines.Completed{Error: "codex was interrupted (signal SIGTERM)", Resume: thread},
		},
		{
			name: "cause wins", lines: []string{threadLine, answerLine}, exit: engines.Exit{Code: 137, Cause: "out of memory (limit 2 GiB)"},
			want: engines.Completed{Error: "out of memory (limit 2 GiB)", Resume: thread},
		},
		{
			name: "clean exit with an answer", lines: []string{threadLine, answerLine}, exit: engines.Exit{StderrTail: noise},
			want: engines.Completed{OK: true, Answer: "All done.", Resume: thread},
		},
		{
			name: "clean exit without an answer", lines: []string{threadLine}, exit: engines.Exit{StderrTail: "hm\n" + noise},
			want: engines.Completed{Error: "codex exited without an answer: hm", Resume: thread},
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
	conformance.FinishWithoutStream(t, codex.Engine{})
}

func TestFinishOnce(t *testing.T) {
	conformance.FinishOnce(t, codex.Engine{}, []string{threadLine, doneLine}, doneLine)
}

func TestItemActions(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name  string
		phase string
		item  string // item fields without id
		want  engines.Action
	}{
		{name: "command started", phase: "started",
			item: `"type":"command_execution","command":"/bin/bash -lc 'go test ./...'","aggregated_output":"","exit_code":null,"status":"in_progress"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "go test ./...", Phase: engines.PhaseStarted}},
		{name: "command updated", phase: "updated",
			item: `"type":"command_execution","command":"ls","aggregated_output":"a\n","status":"in_progress"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "ls", Phase: engines.PhaseUpdated}},
		{name: "command ok", phase: "completed",
			item: `"type":"command_execution","command":"bash -lc ls","aggregated_output":"a\n","exit_code":0,"status":"completed"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "ls", Phase: engines.PhaseCompleted, OK: true}},
		{name: "command failed", phase: "completed",
			item: `"type":"command_execution","command":"/bin/bash -lc 'go vet'","aggregated_output":"# pkg\nvet: x.go:1: bad\n\n","exit_code":1,"status":"failed"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "go vet", Phase: engines.PhaseCompleted, Detail: "exit code 1: vet: x.go:1: bad"}},
		{name: "command failed without output", phase: "completed",
			item: `"type":"command_execution","command":"false","aggregated_output":"","exit_code":1,"status":"failed"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "false", Phase: engines.PhaseCompleted, Detail: "exit code 1"}},
		{name: "command nonzero but completed", phase: "completed",
			item: `"type":"command_execution","command":"grep x f","exit_code":2,"status":"completed"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "grep x f", Phase: engines.PhaseCompleted, Detail: "exit code 2"}},
		{name: "command declined", phase: "completed",
			item: `"type":"command_execution","command":"rm -rf /","exit_code":null,"status":"declined"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "rm -rf /", Phase: engines.PhaseCompleted, Detail: "declined"}},
		{name: "command unfinished", phase: "completed",
			item: `"type":"command_execution","command":"sleep 9","exit_code":null,"status":"in_progress"`,
			want: engines.Action{Kind: engines.KindCommand, Title: "sleep 9", Phase: engines.PhaseCompleted, Detail: "did not finish"}},
		{name: "command long", phase: "started",
			item: `"type":"command_execution","command":"` + long + `"`,
			want: engines.Action{Kind: engines.KindCommand, Title: strings.Repeat("é", 199) + "…", Phase: engines.PhaseStarted}},
		{name: "command empty", phase: "started",
			item: `"type":"command_execution","command":""`,
			want: engines.Action{Kind: engines.KindCommand, Title: "command execution", Phase: engines.PhaseStarted}},
		{name: "file change", phase: "completed",
			item: `"type":"file_change","changes":[{"path":"/workspace/a.go","kind":"update"},{"path":"b.go","kind":"add"},{"path":"c.go","kind":"update"},{"path":"d","kind":"delete"}],"status":"completed"`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "/workspace/a.go, b.go, c.go, d", Detail: "1 added, 2 updated, 1 deleted",
				Phase: engines.PhaseCompleted, OK: true}},
		{name: "file change failed", phase: "completed",
			item: `"type":"file_change","changes":[{"path":"a.go","kind":"update"}],"status":"failed"`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "a.go", Detail: "1 updated", Phase: engines.PhaseCompleted}},
		{name: "file change without changes", phase: "completed",
			item: `"type":"file_change","changes":null,"status":"completed"`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "file change", Phase: engines.PhaseCompleted, OK: true}},
		{name: "mcp started", phase: "started",
			item: `"type":"mcp_tool_call","server":"github","tool":"create_issue","arguments":{"title":"x"},"result":null,"error":null,"status":"in_progress"`,
			want: engines.Action{Kind: engines.KindTool, Title: "github.create_issue", Phase: engines.PhaseStarted}},
		{name: "mcp ok", phase: "completed",
			item: `"type":"mcp_tool_call","server":"github","tool":"create_issue","result":{"content":[]},"error":null,"status":"completed"`,
			want: engines.Action{Kind: engines.KindTool, Title: "github.create_issue", Phase: engines.PhaseCompleted, OK: true}},
		{name: "mcp failed", phase: "completed",
			item: `"type":"mcp_tool_call","server":"fs","tool":"read_file","result":null,"error":{"message":"File not found"},"status":"failed"`,
			want: engines.Action{Kind: engines.KindTool, Title: "fs.read_file", Detail: "File not found", Phase: engines.PhaseCompleted}},
		{name: "web search", phase: "completed",
			item: `"type":"web_search","query":"go 1.26 release notes","action":{"type":"search","query":"go 1.26 release notes"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "go 1.26 release notes", Phase: engines.PhaseCompleted, OK: true}},
		{name: "web search started", phase: "started",
			item: `"type":"web_search","query":""`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "web search", Phase: engines.PhaseStarted}},
		{name: "open page", phase: "completed",
			item: `"type":"web_search","query":"","action":{"type":"open_page","url":"https://go.dev"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "https://go.dev", Phase: engines.PhaseCompleted, OK: true}},
		{name: "find in page", phase: "completed",
			item: `"type":"web_search","action":{"type":"find_in_page","url":"https://go.dev","pattern":"iter"}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "iter in https://go.dev", Phase: engines.PhaseCompleted, OK: true}},
		{name: "search queries", phase: "completed",
			item: `"type":"web_search","action":{"type":"search","queries":["a","b"]}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "a", Phase: engines.PhaseCompleted, OK: true}},
		{name: "action other", phase: "completed",
			item: `"type":"web_search","action":"other"`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "web search", Phase: engines.PhaseCompleted, OK: true}},
		{name: "todo started", phase: "started",
			item: `"type":"todo_list","items":[{"text":"Analyze","completed":true},{"text":"Write","completed":false},{"text":"Test","completed":false}]`,
			want: engines.Action{Kind: engines.KindNote, Title: "plan 1/3: Write", Detail: "[x] Analyze; [ ] Write; [ ] Test", Phase: engines.PhaseStarted}},
		{name: "todo done", phase: "completed",
			item: `"type":"todo_list","items":[{"text":"Analyze","completed":true}]`,
			want: engines.Action{Kind: engines.KindNote, Title: "plan 1/1 done", Detail: "[x] Analyze", Phase: engines.PhaseCompleted, OK: true}},
		{name: "subagent", phase: "started",
			item: `"type":"collab_tool_call","tool":"spawn_agent","sender_thread_id":"a","receiver_thread_ids":[],"prompt":"Review the diff","agents_states":{},"status":"in_progress"`,
			want: engines.Action{Kind: engines.KindSubagent, Title: "Review the diff", Detail: "spawn_agent", Phase: engines.PhaseStarted}},
		{name: "subagent wait", phase: "completed",
			item: `"type":"collab_tool_call","tool":"wait","prompt":null,"status":"completed"`,
			want: engines.Action{Kind: engines.KindSubagent, Title: "wait", Detail: "wait", Phase: engines.PhaseCompleted, OK: true}},
		{name: "warning", phase: "completed",
			item: `"type":"error","message":"Model metadata for ` + "`gpt-5`" + ` not found. Defaulting to fallback metadata; this can degrade performance and cause issues."`,
			want: engines.Action{Kind: engines.KindWarning, Title: "Model metadata for `gpt-5` not found.",
				Detail: "Defaulting to fallback metadata; this can degrade performance and cause issues.", Phase: engines.PhaseCompleted}},
		{name: "warning one sentence", phase: "completed",
			item: `"type":"error","message":"model rerouted: a -> b (HighRiskCyberActivity)"`,
			want: engines.Action{Kind: engines.KindWarning, Title: "model rerouted: a -> b (HighRiskCyberActivity)", Phase: engines.PhaseCompleted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := decodeAll(t, engines.Exit{}, threadLine, item(tt.phase, `"id":"item_7",`+tt.item))
			want := tt.want
			want.ID = "item_7"
			conformance.EqualEvents(t, []engines.Event{evs[1]}, []engines.Event{want})
		})
	}
}

func TestItemLifecycle(t *testing.T) {
	cmd := func(phase, status string) string {
		return item(phase, `"id":"item_1","type":"command_execution","command":"ls","exit_code":0,"status":"`+status+`"`)
	}
	t.Run("completion is final", func(t *testing.T) {
		evs := decodeAll(t, engines.Exit{}, cmd("started", "in_progress"), cmd("completed", "completed"),
			cmd("completed", "failed"), cmd("updated", "in_progress"), answerLine)
		acts := conformance.Actions(evs)
		if len(acts) != 2 || acts[1].Phase != engines.PhaseCompleted || !acts[1].OK {
			t.Errorf("actions = %+v, want started and one OK completion", acts)
		}
	})
	t.Run("items without ids stay apart", func(t *testing.T) {
		noID := item("completed", `"type":"command_execution","command":"ls","exit_code":0,"status":"completed"`)
		acts := conformance.Actions(decodeAll(t, engines.Exit{}, noID, noID))
		if len(acts) != 2 || acts[0].ID == "" || acts[0].ID == acts[1].ID {
			t.Errorf("actions = %+v, want two with distinct ids", acts)
		}
	})
}

func TestCommandTitle(t *testing.T) {
	tests := []struct{ command, want string }{
		{`/bin/bash -lc 'echo hello > hello.txt'`, "echo hello > hello.txt"},
		{`/bin/bash -lc 'echo world >> hello.txt && cat hello.txt'`, "echo world >> hello.txt && cat hello.txt"},
		{`bash -c 'a'\''b'`, "a'b"},
		{`/usr/bin/zsh -lc "echo hi"`, `/usr/bin/zsh -lc "echo hi"`},
		{`/bin/sh -c ls`, "ls"},
		{`/bin/bash -lc 'ls' 'extra'`, `/bin/bash -lc 'ls' 'extra'`},
		{`/bin/bash -lc 'unterminated`, `/bin/bash -lc 'unterminated`},
		{`/bin/bash -x 'ls'`, `/bin/bash -x 'ls'`},
		{`python -c 'print(1)'`, `python -c 'print(1)'`},
		{`/bin/bash -lc ''`, `/bin/bash -lc ''`},
		{`/bin/bash -lc 'line1` + "\n" + `line2'`, "line1 line2"},
		{`git status`, "git status"},
	}
	for _, tt := range tests {
		line := item("started", `"id":"i","type":"command_execution","command":`+quote(tt.command))
		a := conformance.First[engines.Action](t, decodeAll(t, engines.Exit{}, line))
		if a.Title != tt.want {
			t.Errorf("title of %q = %q, want %q", tt.command, a.Title, tt.want)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct{ name, message, want string }{
		{"401 from the capture",
			"unexpected status 401 Unauthorized: mock: invalid x-api-key, url: http://127.0.0.1:18091/v1/responses",
			"The model API rejected codex's credentials (401 Unauthorized: mock: invalid x-api-key)"},
		{"500 from the capture",
			"We’re currently experiencing high demand, which may cause temporary errors.",
			"We’re currently experiencing high demand, which may cause temporary errors."},
		{"403 with request id",
			"unexpected status 403 Forbidden: nope, url: https://api.openai.com/v1/responses, request id: req_1",
			"The model API rejected codex's credentials (403 Forbidden: nope)"},
		{"404 JSON body",
			`unexpected status 404 Not Found: {"error":{"message":"The model 'gpt-9' does not exist","type":"invalid_request_error"}}, url: https://x/v1/responses`,
			"The model API does not know the model or endpoint (404 Not Found: The model 'gpt-9' does not exist)"},
		{"503 detail body",
			`unexpected status 503 Service Unavailable: {"detail":"overloaded"}`,
			"The model API failed (503 Service Unavailable: overloaded)"},
		{"400 plain body",
			"unexpected status 400 Bad Request: Unsupported parameter: 'reasoning'",
			"The model API refused the request (400 Bad Request: Unsupported parameter: 'reasoning')"},
		{"no body", "unexpected status 502 Bad Gateway", "The model API failed (502 Bad Gateway)"},
		{"not a status", "unexpected status soon: x", "unexpected status soon: x"},
		{"status out of range", "unexpected status 999 Odd: x", "unexpected status 999 Odd: x"},
		{"multi-line", "stream error:\n  connection reset\n", "stream error: connection reset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := `{"type":"turn.failed","error":{"message":` + quote(tt.message) + `}}`
			if c := conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{Code: 1}, line)); c.Error != tt.want {
				t.Errorf("Error = %q, want %q", c.Error, tt.want)
			}
		})
	}
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
