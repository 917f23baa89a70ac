package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines/enginetest"
)

// cli is how the tests run one engine, with what the READMEs in
// engines/enginetest/captures say it answers.
type cli struct {
	name    string
	newRun  func(prompt string) []string
	resume  func(id, prompt string) []string
	cont    func(prompt string) []string // nil: the CLI form is not faked
	session string                       // the session id of basic.jsonl
	// contCase is what a continued run replays; contID is the session id
	// that case carries.
	contCase, contID string
	// contElsewhere is the status of a continue in a directory without
	// sessions: 0 when the CLI starts a new session (basic.jsonl).
	contElsewhere int
	sessionDir    []string // where the sessions are, under $HOME
	unknownFlag   []string
	unknownCode   int
	unknownStderr string // prefix
	lostCode      int    // the status of a resume of an unknown session
	lostStderr    string // prefix
	caseExits     map[string]int
}

func clis() []cli {
	return []cli{
		{
			name:          "claude",
			newRun:        func(p string) []string { return argv("--model", "claude-sonnet-4-5", "--", p) },
			resume:        func(id, p string) []string { return argv("--resume", id, "--", p) },
			cont:          func(p string) []string { return argv("--continue", "--", p) },
			session:       basicSession,
			contCase:      "resume",
			contID:        basicSession,
			contElsewhere: 1,
			sessionDir:    []string{".claude", "sessions"},
			unknownFlag:   argv("--bogus", "hi"),
			unknownCode:   1,
			unknownStderr: "error: unknown option '--bogus'\n",
			lostCode:      1,
			lostStderr:    "No conversation found with session ID: ",
			caseExits:     map[string]int{"error_401": 1, "error_500": 1, "sigterm": 143},
		},
		{
			name:          "codex",
			newRun:        func(p string) []string { return codexArgv(p) },
			resume:        func(id, p string) []string { return codexArgv("resume", id, p) },
			cont:          func(p string) []string { return codexArgv("resume", "--last", p) },
			session:       "01a21c9d-7e3f-7841-af02-79f24a32141d",
			contCase:      "resume",
			contID:        "01a21c9d-7e3f-7841-af02-79f24a32141d",
			sessionDir:    []string{".codex", "sessions"},
			unknownFlag:   []string{"exec", "--json", "--bogus", "hi"},
			unknownCode:   2,
			unknownStderr: "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: codex exec [OPTIONS] [PROMPT]\n",
			lostCode:      1,
			lostStderr:    "Error: thread/resume: no rollout found for thread id ",
			caseExits:     map[string]int{"error_401": 1, "error_500": 1, "sigterm": 143},
		},
		{
			name:          "opencode",
			newRun:        func(p string) []string { return []string{"run", "--format", "json", p} },
			resume:        func(id, p string) []string { return []string{"run", "--format", "json", "--session", id, p} },
			cont:          func(p string) []string { return []string{"run", "--format", "json", "--continue", p} },
			session:       "ses_de361666cffeAGnfWJW8bMzObK",
			contCase:      "continue_last",
			contID:        "ses_de36145c9ffeapo6bxeI52y2jS",
			sessionDir:    []string{".local", "share", "opencode", "sessions"},
			unknownFlag:   []string{"run", "--format", "json", "--bogus", "hi"},
			unknownCode:   1,
			unknownStderr: "Unknown argument: bogus\n",
			lostCode:      1,
			lostStderr:    "Error: Session not found\n",
			caseExits:     map[string]int{"error_401": 1, "error_500": 1, "sigterm": 143},
		},
		{
			name:          "pi",
			newRun:        func(p string) []string { return piArgv(p) },
			resume:        func(id, p string) []string { return piArgv("--session", id, p) },
			cont:          func(p string) []string { return piArgv("--continue", p) },
			session:       "01a21ca2-37e3-7253-97a4-ea52a50951da",
			contCase:      "continue_last",
			contID:        "01a21ca2-4526-7732-8639-073f16830bc8",
			sessionDir:    []string{".pi", "agent", "sessions"},
			unknownFlag:   piArgv("--bogus", "hi"),
			unknownCode:   1,
			unknownStderr: "Error: Unknown option: --bogus\n",
			lostCode:      1,
			lostStderr:    "Error: No session found matching ",
			caseExits:     map[string]int{"sigterm": 143},
		},
		{
			name:          "gemini",
			newRun:        func(p string) []string { return geminiArgv(p) },
			resume:        func(id, p string) []string { return geminiArgv(p, "--resume", id) },
			cont:          func(p string) []string { return geminiArgv(p, "--resume", "latest") },
			session:       "aad07503-eba3-48df-aeb2-cee861fcb2b2",
			contCase:      "resume",
			contID:        "aad07503-eba3-48df-aeb2-cee861fcb2b2",
			contElsewhere: 42,
			sessionDir:    []string{".gemini", "sessions"},
			unknownFlag:   geminiArgv("hi", "--bogus"),
			unknownCode:   1,
			unknownStderr: "Unknown argument: bogus\n",
			lostCode:      42,
			lostStderr:    "Error resuming session: Invalid session identifier ",
			caseExits:     map[string]int{"error_401": 145, "error_500": 244},
		},
		{
			name:          "amp",
			newRun:        func(p string) []string { return []string{"-x", p, "--stream-json", "--dangerously-allow-all"} },
			resume:        func(id, p string) []string { return []string{"threads", "continue", id, "-x", p, "--stream-json"} },
			cont:          func(p string) []string { return []string{"threads", "continue", "-x", p, "--stream-json"} },
			session:       "T-01a21cac-49cb-769f-8458-b1496acdc2e7",
			contCase:      "resume",
			contID:        "T-01a21cac-49cb-769f-8458-b1496acdc2e7",
			contElsewhere: 1,
			sessionDir:    []string{".local", "share", "amp", "threads"},
			unknownFlag:   []string{"-x", "hi", "--stream-json", "--bogus"},
			unknownCode:   1,
			unknownStderr: "error: unknown option '--bogus'\n",
			lostCode:      1,
			lostStderr:    "Error: Thread ",
			caseExits:     map[string]int{},
		},
	}
}

func codexArgv(more ...string) []string {
	return append([]string{"exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"}, more...)
}

func piArgv(more ...string) []string {
	return append([]string{"--mode", "json", "--provider", "mock", "--model", "mock-model"}, more...)
}

func geminiArgv(prompt string, more ...string) []string {
	return append([]string{"-p", prompt, "--output-format", "stream-json", "--yolo", "--skip-trust", "-m", "gemini-2.5-pro"}, more...)
}

func cliNamed(t *testing.T, name string) cli {
	t.Helper()
	for _, c := range clis() {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no cli %s", name)
	return cli{}
}

func TestEngineNames(t *testing.T) {
	t.Parallel()
	var names []string
	for _, c := range clis() {
		names = append(names, c.name)
	}
	if !slices.Equal(names, engineNames()) {
		t.Errorf("tests cover %v; the fake answers as %v", names, engineNames())
	}
	if image := enginetest.EngineNames(); !slices.Equal(image, engineNames()) {
		t.Errorf("the test image installs the fake as %v; it answers as %v", image, engineNames())
	}
	if stdinHelperName != enginetest.StdinHelper {
		t.Errorf("the test image installs the stdin helper as %q; the fake answers to %q", enginetest.StdinHelper, stdinHelperName)
	}
}

func TestEngineBasicReplay(t *testing.T) {
	t.Parallel()
	for _, c := range clis() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{name: c.name, args: c.newRun("create hello.txt containing hello")}.run(t)
			if r.code != 0 || r.stderr != stderrOf(t, c.name, "basic") {
				t.Fatalf("exit %d, stderr %q; want 0 and basic.stderr.txt", r.code, r.stderr)
			}
			if want := fixtureOf(t, c.name, "basic"); r.stdout != want {
				t.Errorf("stdout differs from basic.jsonl (%d bytes, want %d)", len(r.stdout), len(want))
			}
			if !fileExists(filepath.Join(append([]string{r.home}, append(c.sessionDir, c.session)...)...)) {
				t.Errorf("no session %s under %s in HOME", c.session, filepath.Join(c.sessionDir...))
			}
		})
	}
}

func TestEngineUnknownFlag(t *testing.T) {
	t.Parallel()
	for _, c := range clis() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{name: c.name, args: c.unknownFlag}.run(t)
			if r.code != c.unknownCode || !strings.HasPrefix(r.stderr, c.unknownStderr) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %.80q; want exit %d, stderr starting %q", r.code, r.stderr, r.stdout, c.unknownCode, c.unknownStderr)
			}
		})
	}
}

func TestEngineAcceptedArgv(t *testing.T) {
	t.Parallel()
	const user = `{"type":"user","message":{"role":"user","content":[{"type":"text","text":"create hello.txt containing hello"}]}}` + "\n"
	tests := []struct {
		engine, name string
		args         []string
		stdin        string
		want         string // fixture
	}{
		{"codex", "model and config", codexArgv("-m", "gpt-5.5", "-c", `model_providers.mock.base_url="http://x/v1"`, "--color", "never", "hi"), "", "basic"},
		{"codex", "aliases and inline values", []string{"e", "--experimental-json", "--yolo", "--skip-git-repo-check", "--model=gpt-5.5", "-mgpt-5.5", "hi"}, "", "basic"},
		{"codex", "options after the prompt", []string{"exec", "hi", "--json", "--skip-git-repo-check"}, "", "basic"},
		{"codex", "dash prompt after --", codexArgv("--", "--not-an-option"), "", "basic"},
		{"codex", "prompt on stdin with -", codexArgv("-"), "create hello.txt", "basic"},
		{"codex", "prompt on stdin without argument", codexArgv(), "create hello.txt", "basic"},
		{"opencode", "model and thinking", []string{"run", "--format", "json", "-m", "mock/mock-model", "--thinking", "hi"}, "", "basic"},
		{"opencode", "inline format after words", []string{"run", "create", "hello.txt", "--format=json"}, "", "basic"},
		{"opencode", "message on stdin", []string{"run", "--format", "json"}, "create hello.txt", "basic"},
		{"pi", "print flag", append([]string{"-p"}, piArgv("hi")...), "", "basic"},
		{"pi", "no session and thinking", piArgv("--no-session", "--thinking", "high", "hi"), "", "basic"},
		{"gemini", "positional prompt", []string{"hi", "--output-format", "stream-json", "--yolo"}, "", "basic"},
		{"gemini", "short and inline", []string{"-o", "stream-json", "-y", "--prompt=hi", "-m", "gemini-2.5-pro"}, "", "basic"},
		{"gemini", "approval mode", []string{"--approval-mode", "yolo", "-p", "hi", "-o", "stream-json"}, "", "basic"},
		{"gemini", "prompt on stdin", []string{"-o", "stream-json", "--yolo"}, "create hello.txt", "basic"},
		{"amp", "long execute and mode", []string{"--execute", "hi", "--stream-json", "-m", "smart", "--no-color"}, "", "basic"},
		{"amp", "prompt on stdin", []string{"-x", "--stream-json", "--dangerously-allow-all"}, "create hello.txt", "basic"},
		{"amp", "stream-json input", []string{"-x", "--stream-json", "--stream-json-input", "--dangerously-allow-all"}, user, "stdin_stream"},
	}
	for _, tt := range tests {
		t.Run(tt.engine+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{name: tt.engine, args: tt.args, stdin: tt.stdin}.run(t)
			want := fixtureOf(t, tt.engine, tt.want)
			if r.code != 0 || r.stdout != want {
				t.Errorf("exit %d, stderr %q; stdout equals %s.jsonl: %v", r.code, r.stderr, tt.want, r.stdout == want)
			}
		})
	}
}

func TestEngineResume(t *testing.T) {
	t.Parallel()
	for _, c := range clis() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			home, dir := t.TempDir(), t.TempDir()
			run := func(args []string) fakeResult {
				return fakeCmd{name: c.name, args: args, home: home, dir: dir}.run(t)
			}
			r := run(c.resume(c.session, "again"))
			if r.code != c.lostCode || !strings.HasPrefix(r.stderr, c.lostStderr) || r.stdout != "" {
				t.Fatalf("resume in a fresh home: exit %d, stderr %q, stdout %.80q; want exit %d, %q", r.code, r.stderr, r.stdout, c.lostCode, c.lostStderr)
			}
			if r := run(c.newRun("hi")); r.code != 0 {
				t.Fatalf("new run: exit %d, stderr %q", r.code, r.stderr)
			}
			r = run(c.resume(c.session, "now append world to hello.txt"))
			if want := fixtureOf(t, c.name, "resume"); r.code != 0 || r.stdout != want || r.stderr != stderrOf(t, c.name, "resume") {
				t.Fatalf("resume after a new run: exit %d, stderr %q; stdout equals resume.jsonl: %v", r.code, r.stderr, r.stdout == want)
			}
			if c.cont == nil {
				return
			}
			r = run(c.cont("say hi"))
			want := strings.ReplaceAll(fixtureOf(t, c.name, c.contCase), c.contID, c.session)
			if r.code != 0 || r.stdout != want {
				t.Fatalf("continue: exit %d, stderr %q; stdout is %s.jsonl in session %s: %v", r.code, r.stderr, c.contCase, c.session, r.stdout == want)
			}
			// Sessions belong to the directory they ran in.
			r = fakeCmd{name: c.name, args: c.cont("say hi"), home: home}.run(t)
			switch {
			case r.code != c.contElsewhere:
				t.Errorf("continue elsewhere: exit %d, stderr %q; want %d", r.code, r.stderr, c.contElsewhere)
			case c.contElsewhere == 0 && r.stdout != fixtureOf(t, c.name, "basic"):
				t.Errorf("continue elsewhere: stdout is not a new run's basic.jsonl")
			case c.contElsewhere != 0 && r.stdout != "":
				t.Errorf("continue elsewhere: stdout %.80q; want none", r.stdout)
			}
		})
	}
}

func TestEngineCases(t *testing.T) {
	t.Parallel()
	for _, c := range clis() {
		for _, name := range streamCases(c.name) {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				r := fakeCmd{name: c.name, args: c.newRun("fake:case=" + name)}.run(t)
				if want := c.caseExits[name]; r.code != want || r.stderr != stderrOf(t, c.name, name) {
					t.Errorf("exit %d, stderr %.200q; want exit %d, %s.stderr.txt", r.code, r.stderr, want, name)
				}
				if r.stdout != fixtureOf(t, c.name, name) {
					t.Errorf("stdout differs from %s.jsonl", name)
				}
			})
		}
	}
}

func TestEngineAnswer(t *testing.T) {
	t.Parallel()
	for _, c := range clis() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			const answer = "Hello <big> & wörld"
			r := fakeCmd{name: c.name, args: c.newRun("fake:answer=Hello_<big>_&_wörld")}.run(t)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if got := finalText(t, c.name, r.stdout); got != answer {
				t.Errorf("final answer %q; want %q", got, answer)
			}
			if got, want := len(lines(r.stdout)), len(lines(fixtureOf(t, c.name, "basic"))); got != want {
				t.Errorf("%d lines; want basic.jsonl's %d", got, want)
			}
			// pi repeats the final message in turn_end and agent_end.
			if n := strings.Count(r.stdout, string(jsonJS(answer))); c.name == "pi" && n != 3 {
				t.Errorf("the answer is in %d lines; want message_end, turn_end and agent_end", n)
			}
		})
	}
}

func TestSetAnswerOnEveryStream(t *testing.T) {
	t.Parallel()
	const answer = `new "answer" <with> ünïcode`
	for _, c := range clis() {
		e := lookupTestEngine(t, c.name)
		for _, name := range streamCases(c.name) {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				s, err := loadStream(e, name)
				if err != nil {
					t.Fatal(err)
				}
				before := strings.Join(byteLines(s.lines), "")
				if err := e.setAnswer(&s, answer); err != nil {
					t.Fatal(err)
				}
				after := strings.Join(byteLines(s.lines), "")
				for i, l := range s.lines {
					if !json.Valid(l) {
						t.Errorf("line %d is no longer JSON", i)
					}
				}
				switch had := finalText(t, c.name, before); {
				case had == "" && after != before:
					t.Errorf("a stream without a final answer changed")
				case had != "" && finalText(t, c.name, after) != answer:
					t.Errorf("final answer %q; want %q", finalText(t, c.name, after), answer)
				}
			})
		}
	}
}

// lookupTestEngine returns the engine description of the fake named name.
func lookupTestEngine(t *testing.T, name string) *engine {
	t.Helper()
	for _, e := range []*engine{claudeEngine(), codexEngine(), opencodeEngine(), piEngine(), geminiEngine(), ampEngine()} {
		if e.name == name {
			return e
		}
	}
	t.Fatalf("no engine %s", name)
	return nil
}

func byteLines(ls [][]byte) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = string(l) + "\n"
	}
	return out
}

// finalText decodes the final answer of a stream of engine the way each
// README says a decoder finds it; "" when there is none.
func finalText(t *testing.T, engine, stream string) string {
	t.Helper()
	var text string
	var gemini []string
	for _, line := range lines(stream) {
		var ev struct {
			Type    string          `json:"type"`
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
			Result  json.RawMessage `json:"result"`
			Item    struct{ Type, Text string }
			Part    struct{ Text string }
			Message json.RawMessage `json:"message"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %.80q: %v", line, err)
		}
		switch engine + "/" + ev.Type {
		case "claude/result", "amp/result":
			var s string
			if json.Unmarshal(ev.Result, &s) == nil {
				text = s
			}
		case "codex/item.completed":
			if ev.Item.Type == "agent_message" {
				text = ev.Item.Text
			}
		case "opencode/text":
			text = ev.Part.Text
		case "pi/message_end":
			var msg struct {
				Role, StopReason string
				Content          []struct{ Type, Text string }
			}
			if json.Unmarshal(ev.Message, &msg) == nil && msg.Role == "assistant" && msg.StopReason == "stop" {
				text = ""
				for _, c := range msg.Content {
					if c.Type == "text" {
						text += c.Text
					}
				}
			}
		case "gemini/tool_result":
			gemini = nil
		case "gemini/message":
			var s string
			if ev.Role == "assistant" && json.Unmarshal(ev.Content, &s) == nil {
				gemini = append(gemini, s)
			}
		}
	}
	if engine == "gemini" {
		return strings.Join(gemini, "")
	}
	return text
}

// sessionPrompts returns the prompts the runs of engine c recorded under
// home, in no particular order.
func sessionPrompts(t *testing.T, c cli, home string) []string {
	t.Helper()
	dir := filepath.Join(append([]string{home}, c.sessionDir...)...)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var prompts []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var rec sessionRecord
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			prompts = append(prompts, rec.Prompt)
		}
	}
	return prompts
}
