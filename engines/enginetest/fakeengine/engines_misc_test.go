package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestEngineStdinPrompt(t *testing.T) {
	t.Parallel()
	const user = `{"type":"user","message":{"role":"user","content":[{"type":"text","text":"from stream-json"}]}}` + "\n"
	tests := []struct {
		engine, name string
		args         []string
		stdin        string
		prompt       string // what the session recorded
	}{
		{"codex", "argument and piped stdin", codexArgv("hi"), "more\n", "hi\n\n<stdin>\nmore\n</stdin>"},
		{"codex", "argument and empty stdin", codexArgv("hi"), "", "hi"},
		{"codex", "dash", codexArgv("-"), "from stdin\n", "from stdin\n"},
		{"codex", "resume --last and dash", codexArgv("resume", "--last", "-"), "from stdin\n", "from stdin\n"},
		{"opencode", "message and piped stdin", []string{"run", "--format", "json", "hi", "there"}, "more", "hi there\nmore"},
		{"gemini", "stdin before the prompt", geminiArgv("hi"), "context", "context\n\nhi"},
		{"amp", "execute without a message", []string{"-x", "--stream-json"}, "from stdin", "from stdin"},
		{"amp", "stream-json input", []string{"-x", "--stream-json", "--stream-json-input"}, user, "from stream-json"},
		{"pi", "json mode leaves stdin alone", piArgv("hi"), "ignored", "hi"},
	}
	for _, tt := range tests {
		t.Run(tt.engine+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{name: tt.engine, args: tt.args, stdin: tt.stdin}.run(t)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if got := sessionPrompts(t, cliNamed(t, tt.engine), r.home); !slices.Equal(got, []string{tt.prompt}) {
				t.Errorf("prompts %q; want %q", got, tt.prompt)
			}
		})
	}
}

func TestEngineRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		engine, name string
		args         []string
		stdin        string
		code         int
		stderr       string // prefix
	}{
		{"codex", "no prompt on stdin", codexArgv(), "", 1, "No prompt provided via stdin.\n"},
		{"codex", "outside a git repository", []string{"exec", "--json", "hi"}, "", 1,
			"Not inside a trusted directory and --skip-git-repo-check was not specified.\n"},
		{"codex", "two prompts", codexArgv("a", "b"), "", 2, "error: unexpected argument 'b' found\n"},
		{"codex", "bad sandbox", codexArgv("-s", "all", "hi"), "", 2,
			"error: invalid value 'all' for '--sandbox <SANDBOX_MODE>'\n  [possible values: read-only, workspace-write, danger-full-access]\n"},
		{"codex", "missing value", codexArgv("hi", "--model"), "", 2, "error: a value is required for '--model <MODEL>' but none was supplied\n"},
		{"codex", "human output", []string{"exec", "--skip-git-repo-check", "hi"}, "", 1, "fakeengine: codex: only --json"},
		{"codex", "tui", nil, "", 1, "fakeengine: codex: only `codex exec`"},
		{"opencode", "no message", []string{"run", "--format", "json"}, "", 1, "Error: You must provide a message or a command\n"},
		{"opencode", "bad format", []string{"run", "--format", "xml", "hi"}, "", 1,
			"Invalid values:\n  Argument: format, Given: \"xml\", Choices: \"default\", \"json\"\n"},
		{"opencode", "default format", []string{"run", "hi"}, "", 1, "fakeengine: opencode: only --format json"},
		{"pi", "text mode", []string{"-p", "hi"}, "", 1, "fakeengine: pi: only --mode json"},
		{"pi", "two messages", piArgv("a", "b"), "", 1, "fakeengine: pi: exactly one message"},
		{"gemini", "prompt twice", []string{"-p", "a", "b", "-o", "stream-json"}, "", 1,
			"Cannot use both a positional prompt and the --prompt (-p) flag together\n"},
		{"gemini", "yolo and approval mode", geminiArgv("hi", "--approval-mode", "yolo"), "", 1, "Cannot use both --yolo (-y)"},
		{"gemini", "text output", []string{"-p", "hi"}, "", 1, "fakeengine: gemini: only --output-format stream-json"},
		{"gemini", "no latest session", geminiArgv("hi", "--resume"), "", 42, "No previous sessions found for this project.\n"},
		{"amp", "interactive", []string{"--stream-json"}, "", 1, "fakeengine: amp: only the execute mode"},
		{"amp", "no prompt", []string{"-x", "--stream-json"}, "", 1, "Error: No prompt given"},
		{"amp", "missing mode", []string{"-x", "hi", "--stream-json", "--mode"}, "", 1, "error: option '-m, --mode <mode>' argument missing\n"},
	}
	for _, tt := range tests {
		t.Run(tt.engine+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{name: tt.engine, args: tt.args, stdin: tt.stdin}.run(t)
			if r.code != tt.code || !strings.HasPrefix(r.stderr, tt.stderr) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %.80q; want exit %d, stderr starting %q", r.code, r.stderr, r.stdout, tt.code, tt.stderr)
			}
		})
	}
}

func TestCodexGitRepoAndLastMessage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	r := fakeCmd{name: "codex", args: []string{"exec", "--json", "-o", "last.txt", "hi"}, dir: sub}.run(t)
	if r.code != 0 || r.stdout != fixtureOf(t, "codex", "basic") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(sub, "last.txt")); err != nil || string(b) != "Done. Created hello.txt." {
		t.Errorf("last message file: %q, %v", b, err)
	}
}

func TestCodexResumeLastAll(t *testing.T) {
	t.Parallel()
	c := cliNamed(t, "codex")
	home := t.TempDir()
	if r := (fakeCmd{name: "codex", args: c.newRun("hi"), home: home}).run(t); r.code != 0 {
		t.Fatalf("new run: exit %d, stderr %q", r.code, r.stderr)
	}
	// Elsewhere --last finds nothing and starts a new thread; --all looks
	// in every directory.
	r := fakeCmd{name: "codex", args: codexArgv("resume", "--last", "--all", "again"), home: home}.run(t)
	if r.code != 0 || r.stdout != fixtureOf(t, "codex", "resume") {
		t.Errorf("--last --all elsewhere: exit %d, stderr %q; stdout equals resume.jsonl: %v", r.code, r.stderr, r.stdout == fixtureOf(t, "codex", "resume"))
	}
}

func TestEngineDirectives(t *testing.T) {
	t.Parallel()
	tests := []struct {
		engine, prompt string
		check          func(t *testing.T, r fakeResult, basic string)
	}{
		{"codex", "fake:exit=3", func(t *testing.T, r fakeResult, basic string) {
			if r.code != 3 || r.stdout != lines(basic)[0]+"\n" || !strings.Contains(r.stderr, "fake: crashing on request") {
				t.Errorf("exit %d, stdout %.100q, stderr %q; want 3 after the first line", r.code, r.stdout, r.stderr)
			}
		}},
		{"opencode", "fake:forkbomb=2", func(t *testing.T, r fakeResult, basic string) {
			if r.code != 0 || r.stdout != basic || !strings.Contains(r.stderr, "started 2 copies") {
				t.Errorf("exit %d, stderr %q", r.code, r.stderr)
			}
		}},
		{"gemini", "fake:garbage", func(t *testing.T, r fakeResult, basic string) {
			var events []string
			for _, l := range lines(r.stdout) {
				if json.Valid([]byte(l)) && strings.HasPrefix(l, "{") {
					events = append(events, l)
				}
			}
			if r.code != 0 || !slices.Equal(events, lines(basic)) || len(lines(r.stdout)) != 2*len(events)-1 {
				t.Errorf("exit %d; %d events, %d lines", r.code, len(events), len(lines(r.stdout)))
			}
		}},
		{"pi", "fake:write=made.txt", func(t *testing.T, r fakeResult, basic string) {
			if b, err := os.ReadFile(filepath.Join(r.dir, "made.txt")); r.code != 0 || r.stdout != basic || string(b) != "hello\n" {
				t.Errorf("exit %d, stderr %q, made.txt %q, %v", r.code, r.stderr, b, err)
			}
		}},
		{"amp", "fake:probe", func(t *testing.T, r fakeResult, basic string) {
			var p probe
			b, err := os.ReadFile(filepath.Join(r.dir, probeFile))
			if err == nil {
				err = json.Unmarshal(b, &p)
			}
			if r.code != 0 || err != nil || p.UID != os.Getuid() {
				t.Errorf("exit %d, probe %+v, %v", r.code, p, err)
			}
		}},
		{"pi", "fake:answer-bytes=100000", func(t *testing.T, r fakeResult, basic string) {
			if got := finalText(t, "pi", r.stdout); r.code != 0 || got != lorem(100000) {
				t.Errorf("exit %d, final answer of %d bytes", r.code, len(got))
			}
		}},
		{"opencode", "fake:session=random", func(t *testing.T, r fakeResult, basic string) {
			id := cliNamed(t, "opencode").session
			var ev struct{ SessionID string }
			_ = json.Unmarshal([]byte(lines(r.stdout)[0]), &ev)
			if r.code != 0 || !strings.HasPrefix(ev.SessionID, "ses_") || len(ev.SessionID) != len(id) || ev.SessionID == id ||
				strings.ReplaceAll(r.stdout, ev.SessionID, id) != basic {
				t.Errorf("exit %d, session %q; want basic.jsonl in a new ses_ session", r.code, ev.SessionID)
			}
		}},
		{"gemini", "fake:session=0b3f5a52-3c2e-4a51-9d7e-1f0e5a6b7c8d fake:delay=10ms", func(t *testing.T, r fakeResult, basic string) {
			want := strings.ReplaceAll(basic, cliNamed(t, "gemini").session, "0b3f5a52-3c2e-4a51-9d7e-1f0e5a6b7c8d")
			if r.code != 0 || r.stdout != want {
				t.Errorf("exit %d, stderr %q; want basic.jsonl in the given session", r.code, r.stderr)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.engine+"/"+tt.prompt, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{name: tt.engine, args: cliNamed(t, tt.engine).newRun(tt.prompt)}.run(t)
			tt.check(t, r, fixtureOf(t, tt.engine, "basic"))
		})
	}
}

func TestEngineSigterm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		engine string
		code   int
		more   func(c cli) string // stdout after the first line
	}{
		{"pi", 143, func(cli) string { return "" }},
		{"codex", 143, func(cli) string { return "" }},
		// amp reports the cancelled run and exits 0.
		{"amp", 0, func(c cli) string {
			return strings.ReplaceAll(lines(fixtureOf(t, "amp", "sigterm"))[2], "T-01a21cac-6dba-77fe-bd17-7777beba6a78", c.session) + "\n"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.engine, func(t *testing.T) {
			t.Parallel()
			c := cliNamed(t, tt.engine)
			f := fakeCmd{name: tt.engine, args: c.newRun("fake:sleep=1m")}.start(t)
			first := f.readLine(t)
			if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			code, rest := f.wait(t, 10*time.Second)
			if want := lines(fixtureOf(t, tt.engine, "basic"))[0] + "\n" + tt.more(c); code != tt.code || first+rest != want {
				t.Errorf("exit %d, stdout %.300q; want %d, %.300q", code, first+rest, tt.code, want)
			}
		})
	}
}

func TestAmpIgnoreTerm(t *testing.T) {
	t.Parallel()
	f := fakeCmd{name: "amp", args: cliNamed(t, "amp").newRun("fake:ignore-term fake:sleep=1m")}.start(t)
	f.readLine(t)
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // long enough for a handled SIGTERM to end the run
	if err := f.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if code, rest := f.wait(t, 10*time.Second); code != -1 || rest != "" {
		t.Errorf("exit %d, more stdout %.80q; want killed by SIGKILL, nothing more", code, rest)
	}
}

// TestGeminiSignals checks the relaunch: SIGTERM to the pid is ignored, to
// the process group it ends the run with status 0; without the relaunch the
// pid is enough.
func TestGeminiSignals(t *testing.T) {
	t.Parallel()
	basic := fixtureOf(t, "gemini", "basic")
	t.Run("pid", func(t *testing.T) {
		t.Parallel()
		f := fakeCmd{name: "gemini", args: geminiArgv("fake:sleep=1s")}.start(t)
		first := f.readLine(t)
		if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, rest := f.wait(t, 20*time.Second); code != 0 || first+rest != basic {
			t.Errorf("exit %d, stdout %.200q; want the whole run", code, first+rest)
		}
	})
	t.Run("no relaunch", func(t *testing.T) {
		t.Parallel()
		env := []string{"PATH=" + binDir, "HOME=" + t.TempDir(), "GEMINI_CLI_NO_RELAUNCH=true"}
		f := fakeCmd{name: "gemini", args: geminiArgv("fake:sleep=1m"), env: env}.start(t)
		first := f.readLine(t)
		if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, rest := f.wait(t, 10*time.Second); code != 0 || first+rest != lines(basic)[0]+"\n" {
			t.Errorf("exit %d, stdout %.200q; want 0 after the first line", code, first+rest)
		}
	})
	t.Run("group", func(t *testing.T) {
		t.Parallel()
		f := fakeCmd{name: "gemini", args: geminiArgv("fake:sleep=1m"), setpgid: true}.start(t)
		first := f.readLine(t)
		if err := syscall.Kill(-f.cmd.Process.Pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, rest := f.wait(t, 10*time.Second); code != 0 || first+rest != lines(basic)[0]+"\n" {
			t.Errorf("exit %d, stdout %.200q; want 0 after the first line", code, first+rest)
		}
	})
}

func TestCodexOOMDirectiveAllocates(t *testing.T) {
	t.Parallel()
	f := fakeCmd{name: "codex", args: codexArgv("fake:oom")}.start(t)
	f.readLine(t)
	const enough = 64 << 10 // KiB
	deadline := time.Now().Add(20 * time.Second)
	for rss := 0; rss < enough; rss = residentKiB(t, f.cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("resident set %d KiB after 20s; want %d", rss, enough)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.wait(t, 10*time.Second); code != 143 {
		t.Errorf("exit %d; want 143", code)
	}
}

func TestOpencodeSpinDirective(t *testing.T) {
	// Not parallel: it measures CPU time (see TestSpinDirective).
	cmd := (&fakeCmd{name: "opencode", args: []string{"run", "--format", "json", "fake:spin fake:sleep=1s"}}).command(t)
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(); cpu < 100*time.Millisecond {
		t.Errorf("%s of CPU in 1s; want the fake to busy-loop", cpu)
	}
}

func TestPiRPC(t *testing.T) {
	t.Parallel()
	stdin := `{"id":"a","type":"prompt","message":"create hello.txt containing hello"}` + "\n" +
		`{"id":"b","type":"get_state"}` + "\n" +
		`{"id":"c","type":"prompt","message":"again"}` + "\n" +
		`{"type":"abort"}` + "\n"
	r := fakeCmd{name: "pi", args: []string{"--mode", "rpc", "--provider", "mock", "--model", "mock-model"}, stdin: stdin}.run(t)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := lines(fixtureOf(t, "pi", "rpc"))
	n := len(want)
	want[0] = strings.Replace(want[0], `"id":"req-1"`, `"id":"a"`, 1)
	want[n-1] = strings.Replace(want[n-1], `"id":"req-2"`, `"id":"b"`, 1)
	want = append(want,
		`{"id":"c","type":"response","command":"prompt","success":false,"error":"fakeengine: pi: one prompt per rpc process is faked"}`,
		`{"type":"response","command":"abort","success":false,"error":"fakeengine: pi: abort is not faked here"}`)
	if got := lines(r.stdout); !slices.Equal(got, want) {
		t.Errorf("stdout:\n%.2000s\nwant the rpc case answering a, then b's state, then two refusals", r.stdout)
	}
}
