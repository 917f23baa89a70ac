package opencode_test

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/conformance"
	"github.com/untether-go/untether/engines/opencode"
)

const session = "ses_de361666cffeAGnfWJW8bMzObK"

// Lines shaped like the captured stream, reduced to what the decoder reads.
const (
	stepStartLine = `{"type":"step_start","timestamp":1,"sessionID":"` + session + `","part":{"id":"prt_1","type":"step-start"}}`
	textLine      = `{"type":"text","timestamp":2,"sessionID":"` + session + `","part":{"id":"prt_2","type":"text","text":"All done."}}`
	stepStopLine  = `{"type":"step_finish","timestamp":3,"sessionID":"` + session + `","part":{"type":"step-finish","reason":"stop","tokens":{"total":25,"input":10,"output":5,"reasoning":3,"cache":{"write":1,"read":7}},"cost":0.5}}`
	errorLine     = `{"type":"error","timestamp":4,"sessionID":"` + session + `","error":{"name":"APIError","data":{"message":"mock: invalid x-api-key","statusCode":401,"isRetryable":false}}}`
	doneLine      = `{"type":"done","timestamp":5,"sessionID":"` + session + `","reason":"idle","rejected":[]}`
)

var started = engines.Started{Engine: "opencode", Resume: session}

// decodeAll feeds lines to a fresh decoder, failing on decode errors, and
// returns every event including Finish's but the usage updates, which
// TestUsageAsItGoes pins.
func decodeAll(t *testing.T, exit engines.Exit, lines ...string) []engines.Event {
	t.Helper()
	var out []engines.Event
	for _, ev := range conformance.DecodeAll(t, opencode.Engine{}, exit, lines...) {
		if _, ok := ev.(engines.UsageUpdate); !ok {
			out = append(out, ev)
		}
	}
	return out
}

// toolLine is a tool_use line for tool with the given state object.
func toolLine(callID, tool, state string) string {
	return `{"type":"tool_use","sessionID":"` + session + `","part":{"type":"tool","tool":"` + tool +
		`","callID":"` + callID + `","state":` + state + `}}`
}

// TestRobustness runs the conformance suite's broken lines and these lines
// of opencode's own, none of which yields an event.
func TestRobustness(t *testing.T) {
	conformance.Robustness(t, opencode.Engine{}, []conformance.Line{
		{Name: "no type", Line: `{"part":{"type":"text"}}`, WantErr: true},
		{Name: "unknown type", Line: `{"type":"mystery"}`, WantErr: true},
		{Name: "pi line", Line: `{"type":"session","version":3,"id":"01a21ca2"}`, WantErr: true},
		{Name: "step start", Line: `{"type":"step_start","part":{"type":"step-start"}}`},
		{Name: "reasoning", Line: `{"type":"reasoning","part":{"type":"reasoning","text":"hmm"}}`},
		{Name: "invalid UTF-8 in a string", Line: "{\"type\":\"text\",\"part\":{\"text\":\"a\xffb\"}}"},
		{Name: "odd field types", Line: `{"type":"step_finish","part":{"tokens":"many","cost":"free","reason":5}}`},
	}...)
}

func TestDecodeHugeLines(t *testing.T) {
	big := strings.Repeat("word ", 2<<20) // 10 MiB
	t.Run("text", func(t *testing.T) {
		start := time.Now()
		line := `{"type":"text","sessionID":"` + session + `","part":{"type":"text","text":"` + big + `"}}`
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
		line := toolLine("t1", "bash", `{"status":"completed","input":{"command":"`+big+`"},"output":"`+big+`","metadata":{"exit":2,"output":"`+big+`"}}`)
		a := conformance.First[engines.Action](t, decodeAll(t, engines.Exit{}, line))
		if n := utf8.RuneCountInString(a.Title); n > 200 || strings.Contains(a.Title, "\n") {
			t.Errorf("title has %d runes", n)
		}
		if n := utf8.RuneCountInString(a.Detail); n > 300 || a.OK {
			t.Errorf("detail has %d runes, OK = %v", n, a.OK)
		}
	})
}

func TestDecodeStream(t *testing.T) {
	usage := engines.Usage{InputTokens: 10, OutputTokens: 8, CachedTokens: 7, CostUSD: 0.5, Turns: 1}
	tests := []struct {
		name  string
		lines []string
		exit  engines.Exit
		want  []engines.Event
	}{
		{
			name:  "clean exit after text",
			lines: []string{stepStartLine, textLine, stepStopLine},
			want:  []engines.Event{started, engines.Completed{OK: true, Answer: "All done.", Resume: session, Usage: usage}},
		},
		{
			name: "last non-empty text is the answer",
			lines: []string{stepStartLine, textLine,
				`{"type":"text","sessionID":"` + session + `","part":{"type":"text","text":"  Final answer.\n"}}`,
				`{"type":"text","sessionID":"` + session + `","part":{"type":"text","text":" \n"}}`},
			want: []engines.Event{started, engines.Completed{OK: true, Answer: "Final answer.", Resume: session}},
		},
		{
			name:  "usage sums over steps",
			lines: []string{stepStartLine, stepStopLine, stepStartLine, textLine, stepStopLine},
			want: []engines.Event{started, engines.Completed{OK: true, Answer: "All done.", Resume: session,
				Usage: engines.Usage{InputTokens: 20, OutputTokens: 16, CachedTokens: 14, CostUSD: 1, Turns: 2}}},
		},
		{
			name:  "error line fails the run",
			lines: []string{errorLine},
			exit:  engines.Exit{Code: 1, StderrTail: "ignored because the error line says more"},
			want:  []engines.Event{started, engines.Completed{Error: "API error 401: mock: invalid x-api-key", Resume: session}},
		},
		{
			name:  "error after text still fails",
			lines: []string{stepStartLine, textLine, errorLine},
			exit:  engines.Exit{Code: 1},
			want:  []engines.Event{started, engines.Completed{Error: "API error 401: mock: invalid x-api-key", Resume: session}},
		},
		{
			name:  "done completes without waiting for the exit",
			lines: []string{stepStartLine, textLine, stepStopLine, doneLine, textLine, errorLine},
			exit:  engines.Exit{Code: 1},
			want:  []engines.Event{started, engines.Completed{OK: true, Answer: "All done.", Resume: session, Usage: usage}},
		},
		{
			name:  "done after an error",
			lines: []string{errorLine, doneLine},
			want:  []engines.Event{started, engines.Completed{Error: "API error 401: mock: invalid x-api-key", Resume: session}},
		},
		{
			name:  "done without text",
			lines: []string{stepStartLine, doneLine},
			want:  []engines.Event{started, engines.Completed{Error: "opencode finished without an answer", Resume: session}},
		},
		{
			name:  "session id from the part",
			lines: []string{`{"type":"text","part":{"sessionID":"ses_part","type":"text","text":"hi"}}`},
			want:  []engines.Event{engines.Started{Engine: "opencode", Resume: "ses_part"}, engines.Completed{OK: true, Answer: "hi", Resume: "ses_part"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conformance.EqualEvents(t, conformance.WithoutText(decodeAll(t, tt.exit, tt.lines...)), tt.want)
		})
	}
}

func TestErrorSentences(t *testing.T) {
	tests := []struct {
		name, err, want string
	}{
		{name: "api error without status", err: `{"name":"APIError","data":{"message":"overloaded"}}`, want: "API error: overloaded"},
		{name: "auth error", err: `{"name":"ProviderAuthError","data":{"providerID":"anthropic","message":"No API key"}}`, want: "No API key"},
		{name: "output length", err: `{"name":"MessageOutputLengthError","data":{}}`, want: "the model's answer hit its output length limit"},
		{name: "aborted", err: `{"name":"MessageAbortedError"}`, want: "opencode aborted the run"},
		{name: "unknown name", err: `{"name":"WeirdError"}`, want: "opencode failed (WeirdError)"},
		{name: "not an object", err: `"boom"`, want: "opencode reported an error"},
		{name: "long message", err: `{"name":"UnknownError","data":{"message":"` + strings.Repeat("x", 2000) + `"}}`, want: strings.Repeat("x", 999) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := `{"type":"error","sessionID":"` + session + `","error":` + tt.err + `}`
			c := conformance.Last[engines.Completed](t, decodeAll(t, engines.Exit{Code: 1}, line))
			if c.OK || c.Error != tt.want {
				t.Errorf("Completed = %+v, want Error %q", c, tt.want)
			}
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
			name: "stderr tail", lines: []string{stepStartLine}, exit: engines.Exit{Code: 1, StderrTail: "first\n\n  second  \nthird\n\nfourth\n"},
			want: engines.Completed{Error: "opencode exited with code 1: second; third; fourth", Resume: session},
		},
		{
			name: "sigterm after text", lines: []string{stepStartLine, textLine}, exit: engines.Exit{Code: 143},
			want: engines.Completed{Error: "opencode was interrupted (signal SIGTERM)", Resume: session},
		},
		{
			name: "cause wins", lines: []string{stepStartLine, textLine, errorLine}, exit: engines.Exit{Code: 137, Cause: "out of memory (limit 2 GiB)"},
			want: engines.Completed{Error: "out of memory (limit 2 GiB)", Resume: session},
		},
		{
			name: "failure keeps the usage", lines: []string{stepStartLine, stepStopLine}, exit: engines.Exit{Code: 1},
			want: engines.Completed{Error: "opencode exited with code 1", Resume: session,
				Usage: engines.Usage{InputTokens: 10, OutputTokens: 8, CachedTokens: 7, CostUSD: 0.5, Turns: 1}},
		},
		{
			name: "clean exit without text", lines: []string{stepStartLine}, exit: engines.Exit{StderrTail: "hm"},
			want: engines.Completed{Error: "opencode exited without an answer: hm", Resume: session},
		},
		{
			name: "error line with a clean exit", lines: []string{textLine, errorLine},
			want: engines.Completed{Error: "API error 401: mock: invalid x-api-key", Resume: session},
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
	conformance.FinishWithoutStream(t, opencode.Engine{})
}

func TestFinishOnce(t *testing.T) {
	conformance.FinishOnce(t, opencode.Engine{}, []string{stepStartLine, textLine, doneLine}, textLine)
}

func TestToolActions(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name  string
		tool  string
		state string
		want  engines.Action
	}{
		{name: "bash", tool: "bash", state: `{"status":"completed","input":{"command":"go test ./...\n  -run X","description":"Run tests"},"metadata":{"exit":0}}`,
			want: engines.Action{Kind: engines.KindCommand, Title: "go test ./... -run X", Detail: "Run tests", OK: true}},
		{name: "bash long", tool: "bash", state: `{"status":"completed","input":{"command":"` + long + `"}}`,
			want: engines.Action{Kind: engines.KindCommand, Title: strings.Repeat("é", 199) + "…", OK: true}},
		{name: "bash failed", tool: "bash", state: `{"status":"completed","input":{"command":"false"},"output":"\n\nboom\nmore","metadata":{"exit":1}}`,
			want: engines.Action{Kind: engines.KindCommand, Title: "false", Detail: "Exit code 1: boom"}},
		{name: "bash failed silently", tool: "bash", state: `{"status":"completed","input":{"command":"false"},"metadata":{"exit":3,"output":""}}`,
			want: engines.Action{Kind: engines.KindCommand, Title: "false", Detail: "Exit code 3"}},
		{name: "bash exit null", tool: "bash", state: `{"status":"completed","input":{"command":"sleep 1"},"metadata":{"exit":null}}`,
			want: engines.Action{Kind: engines.KindCommand, Title: "sleep 1", OK: true}},
		{name: "tool error", tool: "read", state: `{"status":"error","input":{"filePath":"/w/missing"},"error":"\nFile not found: /w/missing\nstack"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "read /w/missing", Detail: "File not found: /w/missing"}},
		{name: "tool error without text", tool: "grep", state: `{"status":"error","input":{"pattern":"x"}}`,
			want: engines.Action{Kind: engines.KindTool, Title: "grep x", Detail: "failed"}},
		{name: "write", tool: "write", state: `{"status":"completed","input":{"filePath":"/w/a.txt","content":"x"},"title":"w/a.txt"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "/w/a.txt", OK: true}},
		{name: "edit", tool: "edit", state: `{"status":"completed","input":{"filePath":"/w/main.go","oldString":"a","newString":"b"}}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "/w/main.go", OK: true}},
		{name: "apply_patch", tool: "apply_patch", state: `{"status":"completed","input":{"patchText":"*** Begin Patch"},"title":"Success. Updated a.go"}`,
			want: engines.Action{Kind: engines.KindFileChange, Title: "Success. Updated a.go", OK: true}},
		{name: "webfetch", tool: "webfetch", state: `{"status":"completed","input":{"url":"https://go.dev","format":"markdown"}}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "https://go.dev", OK: true}},
		{name: "websearch", tool: "websearch", state: `{"status":"completed","input":{"query":"go 1.26 release"}}`,
			want: engines.Action{Kind: engines.KindWebSearch, Title: "go 1.26 release", OK: true}},
		{name: "task", tool: "task", state: `{"status":"completed","input":{"description":"Explore repo","subagent_type":"explore","prompt":"look"}}`,
			want: engines.Action{Kind: engines.KindSubagent, Title: "Explore repo", Detail: "explore", OK: true}},
		{name: "read uses the CLI's title", tool: "read", state: `{"status":"completed","input":{"filePath":"/w/src/main.go"},"title":"src/main.go"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "read src/main.go", OK: true}},
		{name: "glob from input", tool: "glob", state: `{"status":"completed","input":{"pattern":"**/*.go"}}`,
			want: engines.Action{Kind: engines.KindTool, Title: "glob **/*.go", OK: true}},
		{name: "todowrite", tool: "todowrite", state: `{"status":"completed","input":{"todos":[]}}`,
			want: engines.Action{Kind: engines.KindTool, Title: "todowrite", OK: true}},
		{name: "bash without input", tool: "bash", state: `{"status":"completed","input":"oops","title":"ls -la"}`,
			want: engines.Action{Kind: engines.KindCommand, Title: "ls -la", OK: true}},
		{name: "no name", tool: "", state: `{"status":"completed"}`,
			want: engines.Action{Kind: engines.KindTool, Title: "tool", OK: true}},
		{name: "odd field types", tool: "bash", state: `{"status":"completed","input":{"command":7},"metadata":{"exit":"one"},"title":["x"]}`,
			want: engines.Action{Kind: engines.KindCommand, Title: "bash", OK: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := decodeAll(t, engines.Exit{}, toolLine("t1", tt.tool, tt.state))
			want := tt.want
			want.ID, want.Phase = "t1", engines.PhaseCompleted
			conformance.EqualEvents(t, []engines.Event{evs[1]}, []engines.Event{want})
		})
	}
}

func TestToolPhases(t *testing.T) {
	running := toolLine("t1", "bash", `{"status":"running","input":{"command":"make"}}`)
	done := toolLine("t1", "bash", `{"status":"completed","input":{"command":"make"},"metadata":{"exit":0}}`)
	noID := `{"type":"tool_use","sessionID":"` + session + `","part":{"type":"tool","tool":"bash","state":{"status":"completed","input":{"command":"ls"}}}}`
	partID := `{"type":"tool_use","sessionID":"` + session + `","part":{"id":"prt_9","type":"tool","tool":"bash","state":{"status":"completed","input":{"command":"ls"}}}}`
	cmd := func(id, title string, phase engines.Phase, ok bool) engines.Action {
		return engines.Action{ID: id, Kind: engines.KindCommand, Title: title, Phase: phase, OK: ok}
	}
	tests := []struct {
		name  string
		lines []string
		want  []engines.Action
	}{
		{name: "running then completed", lines: []string{running, running, done},
			want: []engines.Action{cmd("t1", "make", engines.PhaseStarted, false), cmd("t1", "make", engines.PhaseCompleted, true)}},
		{name: "duplicates ignored", lines: []string{done, done, running},
			want: []engines.Action{cmd("t1", "make", engines.PhaseCompleted, true)}},
		{name: "ids made up when missing", lines: []string{noID, noID, partID},
			want: []engines.Action{cmd("opencode-tool-1", "ls", engines.PhaseCompleted, true),
				cmd("opencode-tool-2", "ls", engines.PhaseCompleted, true), cmd("prt_9", "ls", engines.PhaseCompleted, true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := conformance.Actions(decodeAll(t, engines.Exit{}, tt.lines...))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("actions:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestUsageAsItGoes: each model request's usage is reported as it ends,
// added up, so the last report is the run's usage in its Completed.
func TestUsageAsItGoes(t *testing.T) {
	lines, _ := conformance.Fixture(t, fixtures, "basic")
	evs := conformance.DecodeAll(t, opencode.Engine{}, engines.Exit{}, lines...)
	conformance.UsageAsItGoes(t, evs)
}
