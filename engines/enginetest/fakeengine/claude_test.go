package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

const basicSession = "ca28b1b9-709d-454a-8bc1-33169420ef03"

func TestArgvErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stderr string // whole stderr
	}{
		{"unknown long option", argv("--x", "--", "hi"), "error: unknown option '--x'\n"},
		{"unknown short option", argv("-x", "hi"), "error: unknown option '-x'\n"},
		{"value on a boolean", argv("--verbose=yes", "hi"), "error: unknown option '--verbose=yes'\n"},
		{"missing value", argv("hi", "--model"), "error: option '--model <model>' argument missing\n"},
		{"bad choice", []string{"-p", "--output-format", "xml", "hi"},
			"error: option '--output-format <format>' argument 'xml' is invalid. Allowed choices are text, json, stream-json.\n"},
		{"two prompts", argv("a", "b"), "error: too many arguments. Expected 1 argument but got 2.\n"},
		{"stream-json without verbose", []string{"-p", "--output-format", "stream-json", "--", "hi"},
			"Error: When using --print, --output-format=stream-json requires --verbose\n"},
		{"not headless", []string{"--output-format", "stream-json", "--verbose", "--", "hi"},
			"fakeengine: claude: only the headless mode (-p, --print) is faked; the interactive UI needs a terminal\n"},
		{"no prompt", argv(), claudeNoInput + "\n"},
		{"resume without id", argv("--resume", "--model", "m", "--", "hi"),
			"fakeengine: claude: --resume needs a session id in -p mode (the picker is interactive)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{args: tt.args}.run(t)
			if r.code != 1 || r.stderr != tt.stderr || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %.80q; want exit 1, stderr %q, no stdout", r.code, r.stderr, r.stdout, tt.stderr)
			}
		})
	}
}

func TestAcceptedArgv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // fixture
	}{
		{"daemon argv", argv("--model", "claude-sonnet-4-5", "--", "hi"), "basic"},
		{"positional prompt", argv("hi"), "basic"},
		{"prompt first", append([]string{"hi"}, headless...), "basic"},
		{"inline values", []string{"-p", "--output-format=stream-json", "--verbose", "--permission-mode=bypassPermissions", "--model=x", "hi"}, "basic"},
		{"dangerously skip permissions", []string{"--print", "--dangerously-skip-permissions", "--output-format", "stream-json", "--verbose", "hi"}, "basic"},
		{"dash prompt after --", argv("--", "--not-an-option"), "basic"},
		{"partial messages", argv("--include-partial-messages", "--", "hi"), "partial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{args: tt.args}.run(t)
			if r.code != 0 || r.stdout != fixture(t, tt.want) {
				t.Errorf("exit %d, stderr %q; stdout equals %s.jsonl: %v", r.code, r.stderr, tt.want, r.stdout == fixture(t, tt.want))
			}
		})
	}
}

func TestUnknownEngine(t *testing.T) {
	t.Parallel()
	r := fakeCmd{name: "aider", args: argv("hi")}.run(t)
	if r.code != exitUnknownEngine || !strings.Contains(r.stderr, `"aider"`) || r.stdout != "" {
		t.Errorf("exit %d, stderr %q, stdout %q; want exit 127 naming aider", r.code, r.stderr, r.stdout)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: []string{"--version"}}.run(t)
	if r.code != 0 || r.stdout != claudeVersion+"\n" {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestRootRefusal(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("the refusal is for root; run the tests as root to check it")
	}
	home := t.TempDir()
	env := []string{"PATH=" + binDir, "HOME=" + home}
	tests := []struct {
		name string
		args []string
		env  []string
		code int
	}{
		{"bypass as root", argv("hi"), env, 1},
		{"skip permissions as root", []string{"-p", "--dangerously-skip-permissions", "hi"}, env, 1},
		{"sandbox declared", argv("hi"), append(env, "IS_SANDBOX=1"), 0},
		{"sandbox not 1", argv("hi"), append(env, "IS_SANDBOX=true"), 1},
		{"no bypass", []string{"-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits", "hi"}, env, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{args: tt.args, env: tt.env}.run(t)
			if r.code != tt.code {
				t.Fatalf("exit %d, stderr %q; want %d", r.code, r.stderr, tt.code)
			}
			if tt.code == 1 && (r.stderr != claudeRootRefusal+"\n" || r.stdout != "") {
				t.Errorf("stderr %q, stdout %.80q; want only the refusal", r.stderr, r.stdout)
			}
		})
	}
}

func TestNonRootSkipsRefusal(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("needs root to run the fake as another user")
	}
	dir, err := os.MkdirTemp("", "fakeengine-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	r := fakeCmd{
		args: argv("hi"),
		dir:  dir,
		env:  []string{"PATH=" + binDir, "HOME=" + dir},
		cred: &syscall.Credential{Uid: 65534, Gid: 65534},
	}.run(t)
	if r.code != 0 || r.stdout != fixture(t, "basic") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	calls := readCalls(t, dir)
	if len(calls) != 1 || calls[0].UID != 65534 || calls[0].GID != 65534 {
		t.Errorf("calls %+v; want one by 65534:65534", calls)
	}
}

func TestReplayBasicByteForByte(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: argv("--model", "claude-sonnet-4-5", "--", "create hello.txt containing hello")}.run(t)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if want := fixture(t, "basic"); r.stdout != want {
		t.Errorf("stdout differs from basic.jsonl (%d bytes, want %d)", len(r.stdout), len(want))
	}
	if !fileExists(filepath.Join(r.home, ".claude", "sessions", basicSession)) {
		t.Errorf("no session file for %s under HOME", basicSession)
	}
}

func TestResume(t *testing.T) {
	t.Parallel()
	home := t.TempDir()

	r := fakeCmd{args: argv("--resume", basicSession, "--", "again"), home: home}.run(t)
	want := "No conversation found with session ID: " + basicSession + "\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Fatalf("resume in a fresh home: exit %d, stderr %q, stdout %.80q; want exit 1, %q", r.code, r.stderr, r.stdout, want)
	}

	if r := (fakeCmd{args: argv("hi"), home: home}).run(t); r.code != 0 {
		t.Fatalf("new run: exit %d, stderr %q", r.code, r.stderr)
	}
	r = fakeCmd{args: argv("-r", basicSession, "--", "again"), home: home}.run(t)
	if r.code != 0 || r.stdout != fixture(t, "resume") {
		t.Fatalf("resume after a new run: exit %d, stderr %q, stdout equals resume.jsonl: %v", r.code, r.stderr, r.stdout == fixture(t, "resume"))
	}

	// A session of another id: every line carries that id.
	const other = "0b3f5a52-3c2e-4a51-9d7e-1f0e5a6b7c8d"
	if r := (fakeCmd{args: argv("fake:session=" + other), home: home}).run(t); r.code != 0 {
		t.Fatalf("new run with fake:session: exit %d, stderr %q", r.code, r.stderr)
	}
	r = fakeCmd{args: argv("--resume="+other, "--", "again"), home: home}.run(t)
	if r.code != 0 {
		t.Fatalf("resume %s: exit %d, stderr %q", other, r.code, r.stderr)
	}
	if got := strings.ReplaceAll(r.stdout, other, basicSession); got != fixture(t, "resume") || strings.Contains(r.stdout, basicSession) {
		t.Errorf("resume %s: stdout is not resume.jsonl with the session id replaced", other)
	}
	for _, line := range lines(r.stdout) {
		var ev struct {
			SessionID string `json:"session_id"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.SessionID != other {
			t.Fatalf("line has session %q (err %v); want %s", ev.SessionID, err, other)
		}
	}
}

func TestRandomSession(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: argv("fake:session=random")}.run(t)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var ev struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal([]byte(lines(r.stdout)[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.SessionID == basicSession || len(ev.SessionID) != 36 {
		t.Fatalf("session id %q; want a new UUID", ev.SessionID)
	}
	if !fileExists(filepath.Join(r.home, ".claude", "sessions", ev.SessionID)) {
		t.Errorf("no session file for %s", ev.SessionID)
	}
}

func TestCases(t *testing.T) {
	t.Parallel()
	for _, name := range streamCases("claude") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{args: argv("fake:case=" + name)}.run(t)
			if want := claudeEngine().caseExits[name]; r.code != want || r.stderr != "" {
				t.Errorf("exit %d, stderr %q; want exit %d, no stderr", r.code, r.stderr, want)
			}
			if r.stdout != fixture(t, name) {
				t.Errorf("stdout differs from %s.jsonl", name)
			}
		})
	}
	r := fakeCmd{args: argv("fake:case=nope")}.run(t)
	if r.code != exitBadDirective || !strings.Contains(r.stderr, "basic") {
		t.Errorf("unknown case: exit %d, stderr %q; want exit 2 listing the cases", r.code, r.stderr)
	}
}

func TestBadDirectives(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: argv("fake:nope fake:delay=soon please")}.run(t)
	if r.code != exitBadDirective || !strings.Contains(r.stderr, "fake:nope") || !strings.Contains(r.stderr, "fake:delay=soon") || r.stdout != "" {
		t.Errorf("exit %d, stderr %q, stdout %.80q; want exit 2 naming both directives", r.code, r.stderr, r.stdout)
	}
}

func TestExitDirective(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: argv("do it fake:exit=3")}.run(t)
	if r.code != 3 {
		t.Errorf("exit %d; want 3", r.code)
	}
	if want := lines(fixture(t, "basic"))[0] + "\n"; r.stdout != want {
		t.Errorf("stdout %.100q; want the init line only", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "fake: crashing on request\n") || strings.Count(r.stderr, "\n") < 3 {
		t.Errorf("stderr %q; want the crash message and a few more lines", r.stderr)
	}
}

func TestAnswerDirectives(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		prompt string
		answer string
		code   int
	}{
		{"text", "fake:answer=Hello_<big>_&_world", "Hello <big> & world", 0},
		{"empty", "fake:answer=", "", 0},
		{"bytes", "fake:answer-bytes=100000", lorem(100000), 0},
		{"error case", "fake:case=error_401 fake:answer=Bad_key", "Bad key", 1},
		{"resume case", "fake:case=resume fake:answer=Appended", "Appended", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{args: argv(tt.prompt)}.run(t)
			if r.code != tt.code {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			result, text := finalAnswers(t, r.stdout)
			if result != tt.answer || text != tt.answer {
				t.Errorf("result %.60q, last assistant text %.60q; want %.60q", result, text, tt.answer)
			}
		})
	}
}

func TestGarbageDirective(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: argv("fake:garbage")}.run(t)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var events []string
	var garbage, invalidUTF8, truncated int
	for _, line := range lines(r.stdout) {
		if json.Valid([]byte(line)) && strings.HasPrefix(line, "{") {
			events = append(events, line)
			continue
		}
		garbage++
		if !utf8.ValidString(line) {
			invalidUTF8++
		}
		if strings.HasPrefix(line, `{"type":`) {
			truncated++
		}
	}
	if !slices.Equal(events, lines(fixture(t, "basic"))) {
		t.Errorf("the JSON lines are not basic.jsonl's")
	}
	if garbage != len(events)-1 || invalidUTF8 == 0 || truncated == 0 {
		t.Errorf("%d garbage lines (%d invalid UTF-8, %d truncated JSON); want %d, with both kinds", garbage, invalidUTF8, truncated, len(events)-1)
	}
}

func TestDelayDirective(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := fakeCmd{args: argv("fake:delay=30ms")}.run(t)
	elapsed := time.Since(start)
	if r.code != 0 || r.stdout != fixture(t, "basic") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if min := 8 * 30 * time.Millisecond; elapsed < min {
		t.Errorf("took %s; want at least %s for 8 delays", elapsed, min)
	}
}

func TestSigterm(t *testing.T) {
	t.Parallel()
	f := fakeCmd{args: argv("fake:sleep=1m")}.start(t)
	init := f.readLine(t)
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, rest := f.wait(t, 10*time.Second)
	if code != 143 || init+rest != lines(fixture(t, "basic"))[0]+"\n" {
		t.Errorf("exit %d, stdout %.100q; want 143 after the init line", code, init+rest)
	}
}

func TestSleepThenReplay(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := fakeCmd{args: argv("fake:sleep=200ms")}.run(t)
	if r.code != 0 || r.stdout != fixture(t, "basic") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if elapsed := time.Since(start); elapsed < 200*time.Millisecond {
		t.Errorf("took %s; want at least the sleep", elapsed)
	}
}

func TestIgnoreTerm(t *testing.T) {
	t.Parallel()
	f := fakeCmd{args: argv("fake:ignore-term fake:sleep=1m")}.start(t)
	f.readLine(t)
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // long enough for a handled SIGTERM to end the run
	if err := f.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("fake ended after SIGTERM: %v", err)
	}
	if err := f.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.wait(t, 10*time.Second); code != -1 {
		t.Errorf("exit %d; want killed by SIGKILL", code)
	}
}

func TestOOMDirectiveAllocates(t *testing.T) {
	t.Parallel()
	f := fakeCmd{args: argv("fake:oom")}.start(t)
	if init := f.readLine(t); init != lines(fixture(t, "basic"))[0]+"\n" {
		t.Fatalf("first line %.100q; want the init line", init)
	}
	// Stop it well before it hurts the host: seeing the resident set grow
	// past 64 MiB is enough; the test image's test sees the OOM kill.
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
	if code, rest := f.wait(t, 10*time.Second); code != 143 || rest != "" {
		t.Errorf("exit %d, more stdout %.80q; want 143 and nothing more", code, rest)
	}
	if !strings.Contains(f.stderr.String(), "allocating") {
		t.Errorf("stderr %q", f.stderr)
	}
}

// residentKiB returns VmRSS of pid.
func residentKiB(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

func TestSpinDirective(t *testing.T) {
	// Not parallel: it measures CPU time. Idle, the fake uses a few
	// milliseconds in a second; spinning, up to a second per CPU. The bar
	// is low because the machine may be busy with other work.
	r := fakeCmd{args: argv("fake:spin fake:sleep=1s")}
	cmd := r.command(t)
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(); cpu < 100*time.Millisecond {
		t.Errorf("%s of CPU in 1s; want the fake to busy-loop", cpu)
	}
}

func TestForkbombDirective(t *testing.T) {
	t.Parallel()
	f := fakeCmd{args: argv("fake:forkbomb=5 fake:sleep=1m")}.start(t)
	f.readLine(t)
	pid := f.cmd.Process.Pid
	waitCopies(t, pid, 5)
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.wait(t, 10*time.Second); code != 143 {
		t.Errorf("exit %d; want 143", code)
	}
	if want := "started 5 copies in 5 attempts"; !strings.Contains(f.stderr.String(), want) {
		t.Errorf("stderr %q; want %q", f.stderr, want)
	}
	waitCopies(t, pid, 0) // they die with the fake
}

func TestForkbombFinishesReplay(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: argv("fake:forkbomb=3")}.run(t)
	if r.code != 0 || r.stdout != fixture(t, "basic") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// waitCopies waits until exactly n forkbomb copies of parent run.
func waitCopies(t *testing.T, parent, n int) {
	t.Helper()
	want := forkbombChildArg0 + "\x00" + strconv.Itoa(parent) + "\x00"
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		found := 0
		for _, p := range procs {
			if b, err := os.ReadFile(p); err == nil && string(b) == want {
				found++
			}
		}
		if found == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d copies of the fake; want %d", found, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWriteDirective(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: argv("fake:write=hello.txt fake:write=new/dir.txt fake:write=hello.txt/under-a-file.txt")}.run(t)
	if r.code != 0 || r.stdout != fixture(t, "basic") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for _, name := range []string{"hello.txt", "new/dir.txt"} {
		if b, err := os.ReadFile(filepath.Join(r.dir, name)); err != nil || string(b) != "hello\n" {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	if !strings.Contains(r.stderr, "hello.txt/under-a-file.txt") {
		t.Errorf("stderr %q; want the failed write reported", r.stderr)
	}
}

func TestProbeDirective(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: argv("fake:probe")}.run(t)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(r.dir, probeFile))
	if err != nil {
		t.Fatal(err)
	}
	var p probe
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.UID != os.Getuid() || p.GID != os.Getgid() || p.CapEff == "" || !p.TmpWritable {
		t.Errorf("probe %+v", p)
	}
	if !slices.ContainsFunc(p.Mounts, func(m mount) bool { return m.Path == "/" }) {
		t.Errorf("mounts %+v lack /", p.Mounts)
	}
	if !slices.Equal(p.EnvKeys, []string{"HOME", "IS_SANDBOX", "PATH"}) {
		t.Errorf("env keys %v", p.EnvKeys)
	}
}

func TestCallsLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"PATH=" + binDir, "HOME=" + t.TempDir(), "IS_SANDBOX=1", "ANTHROPIC_API_KEY=sk-secret"}
	first := argv("--model", "m", "--", "one")
	fakeCmd{args: first, dir: dir, env: env}.run(t)
	fakeCmd{args: []string{"--bogus"}, dir: dir, env: env}.run(t) // recorded before the argv is checked
	calls := readCalls(t, dir)
	if len(calls) != 2 {
		t.Fatalf("%d calls; want 2", len(calls))
	}
	want := call{
		Argv:    append([]string{filepath.Join(binDir, "claude")}, first...),
		Cwd:     dir,
		UID:     os.Getuid(),
		GID:     os.Getgid(),
		EnvKeys: []string{"ANTHROPIC_API_KEY", "HOME", "IS_SANDBOX", "PATH"},
	}
	got := calls[0]
	if !slices.Equal(got.Argv, want.Argv) || got.Cwd != want.Cwd || got.UID != want.UID || got.GID != want.GID || !slices.Equal(got.EnvKeys, want.EnvKeys) {
		t.Errorf("call %+v; want %+v", got, want)
	}
	if calls[1].Argv[1] != "--bogus" {
		t.Errorf("second call %+v", calls[1])
	}
	if b, _ := os.ReadFile(filepath.Join(dir, callsFile)); strings.Contains(string(b), "sk-secret") {
		t.Errorf("the calls log holds an environment value")
	}
}

func TestOutputFormats(t *testing.T) {
	t.Parallel()
	result := lines(fixture(t, "basic"))[8]
	tests := []struct {
		format string
		want   string
	}{
		{"json", result + "\n"},
		{"text", "Done. Created hello.txt.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{args: []string{"-p", "--output-format", tt.format, "--permission-mode", "bypassPermissions", "hi"}}.run(t)
			if r.code != 0 || r.stdout != tt.want {
				t.Errorf("exit %d, stdout %.100q; want %.100q", r.code, r.stdout, tt.want)
			}
		})
	}
}

func TestStdinPrompt(t *testing.T) {
	t.Parallel()
	const user = `{"type":"user","message":{"role":"user","content":[{"type":"text","text":"create hello.txt containing hello"}]}}` + "\n"
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"stream-json input", argv("--input-format", "stream-json"), user, "stdin_stream"},
		{"text input", argv(), "create hello.txt fake:case=tool_error\n", "tool_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := fakeCmd{args: tt.args, stdin: tt.stdin}.run(t)
			if r.code != 0 || r.stdout != fixture(t, tt.want) {
				t.Errorf("exit %d, stderr %q; stdout equals %s.jsonl: %v", r.code, r.stderr, tt.want, r.stdout == fixture(t, tt.want))
			}
		})
	}
}

// lines splits output into lines without their newlines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<30)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// finalAnswers returns the result line's result and the last assistant
// text of a stream.
func finalAnswers(t *testing.T, stream string) (result, text string) {
	t.Helper()
	for _, line := range lines(stream) {
		var ev struct {
			Type    string `json:"type"`
			Result  string `json:"result"`
			Message struct {
				Content []struct{ Type, Text string } `json:"content"`
			} `json:"message"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %.80q: %v", line, err)
		}
		switch ev.Type {
		case "result":
			result = ev.Result
		case "assistant":
			for _, c := range ev.Message.Content {
				if c.Type == "text" {
					text = c.Text
				}
			}
		}
	}
	return result, text
}

func readCalls(t *testing.T, dir string) []call {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, callsFile))
	if err != nil {
		t.Fatal(err)
	}
	var calls []call
	for _, line := range lines(string(b)) {
		var c call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("calls log line %q: %v", line, err)
		}
		calls = append(calls, c)
	}
	return calls
}

func TestCutDirective(t *testing.T) {
	t.Parallel()
	r := fakeCmd{args: argv("fake:cut")}.run(t)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	basic := fixture(t, "basic")
	all := strings.Split(strings.TrimSuffix(basic, "\n"), "\n")
	last := all[len(all)-1]
	want := strings.Join(all[:len(all)-1], "\n") + "\n" + last[:len(last)/2]
	if r.stdout != want {
		t.Errorf("stdout does not end halfway through the last line, without a newline")
	}
	if !strings.Contains(r.stderr, "cut the stream on request") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

// TestChildOOMDirective: the child allocates until killed (here by the
// test, in a container by the OOM killer), and the run goes on to its
// answer.
func TestChildOOMDirective(t *testing.T) {
	t.Parallel()
	f := fakeCmd{args: argv("fake:child-oom fake:answer=STILL_HERE")}.start(t)
	f.readLine(t)
	child := 0
	deadline := time.Now().Add(20 * time.Second)
	for child == 0 || residentKiB(t, child) < 64<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("no child of the fake holding 64 MiB after 20s (child %d)", child)
		}
		if child == 0 {
			child = childNamed(f.cmd.Process.Pid, "fakeengine-oom-child")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	code, rest := f.wait(t, 10*time.Second)
	if code != 0 || !strings.Contains(rest, "STILL HERE") {
		t.Errorf("exit %d, rest of stdout %.200q; want 0 and the answer", code, rest)
	}
	if !strings.Contains(f.stderr.String(), "the child ended: signal: killed") {
		t.Errorf("stderr %q", f.stderr)
	}
}

// childNamed is the pid of parent's child whose argv is just arg0, or 0.
func childNamed(parent int, arg0 string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err != nil || string(b) != arg0+"\x00" {
			continue
		}
		dir := filepath.Dir(p)
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so after ")".
		_, after, _ := strings.Cut(string(stat), ") ")
		if f := strings.Fields(after); len(f) > 1 && f[1] == strconv.Itoa(parent) {
			pid, _ := strconv.Atoi(filepath.Base(dir))
			return pid
		}
	}
	return 0
}
