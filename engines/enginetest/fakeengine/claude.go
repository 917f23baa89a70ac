package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// claudeExitError is the real CLI's exit status for usage errors, refusals
// and API errors.
const claudeExitError = 1

// claudeCaseExit is the real CLI's exit status in each captured case (see
// the table in shared/fixtures/engines/claude/README.md).
func claudeCaseExit(name string) int {
	switch name {
	case "error_401", "error_500":
		return 1
	case "sigterm":
		return 143
	}
	return 0
}

// runClaude answers as `claude`.
func runClaude(args []string) int {
	a, err := parseClaudeArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		return claudeExitError
	}
	switch {
	case a.version:
		fmt.Println(claudeVersion)
		return 0
	case a.help:
		fmt.Print(claudeUsage)
		return 0
	}
	if msg := a.checkMode(); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		return claudeExitError
	}
	if os.Getuid() == 0 && os.Getenv("IS_SANDBOX") != "1" && a.bypassesPermissions() {
		fmt.Fprintln(os.Stderr, claudeRootRefusal)
		return claudeExitError
	}
	prompt, err := a.readPrompt(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return claudeExitError
	}
	d, err := parseDirectives(prompt)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeengine: %v\n", err)
		return exitBadDirective
	}
	if a.resume != "" && d.session != "" {
		fmt.Fprintln(os.Stderr, "fakeengine: directive fake:session is for new runs, not --resume")
		return exitBadDirective
	}
	s, err := claudeStream(a, d)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeengine: %v\n", err)
		return exitBadDirective
	}
	if err := claudeSession(a, d, &s, prompt); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return claudeExitError
	}

	ctx, stop := watchSignals(d.ignoreTerm)
	defer stop()
	p := player{
		out:    &output{w: os.Stdout, format: a.outputFormat},
		stderr: os.Stderr,
		stream: s,
		d:      d,
	}
	code := p.play(ctx)
	if sig := signalled(ctx); sig != 0 {
		return 128 + sig
	}
	return code
}

// claudeReplay is a stream and the exit status that ends its replay.
type claudeReplay struct {
	stream
	exitCode int
}

// claudeStream picks the captured stream for the run and applies the answer
// directives.
func claudeStream(a claudeArgs, d directives) (claudeReplay, error) {
	name := d.caseName
	if name == "" {
		switch {
		case a.resume != "":
			name = "resume"
		case a.inputFormat == "stream-json":
			name = "stdin_stream"
		case a.partial:
			name = "partial"
		default:
			name = "basic"
		}
	}
	s, err := loadStream("claude", name)
	if err != nil {
		return claudeReplay{}, err
	}
	if answer, ok := d.finalAnswer(); ok {
		if err := s.setAnswer(answer); err != nil {
			return claudeReplay{}, fmt.Errorf("case %s: %w", name, err)
		}
	}
	return claudeReplay{stream: s, exitCode: claudeCaseExit(name)}, nil
}

// claudeSession checks and records the session the way the real CLI keeps
// state under $HOME/.claude: --resume of a session this home never saw
// fails, so a test proves the engine's home survives between runs. It sets
// the stream's session id. Its errors are what the CLI prints.
func claudeSession(a claudeArgs, d directives, s *claudeReplay, prompt string) error {
	home := os.Getenv("HOME")
	if home == "" {
		return errors.New("fakeengine: claude: HOME is not set; the CLI keeps its sessions under $HOME/.claude")
	}
	id := s.sessionID
	switch {
	case a.resume != "":
		id = a.resume
		if !validSessionID(id) || !fileExists(sessionPath(home, id)) {
			return fmt.Errorf("No conversation found with session ID: %s", a.resume)
		}
	case d.session == "random":
		id = randomUUID()
	case d.session != "":
		id = d.session
	}
	s.setSessionID(id)
	if err := saveSession(home, id, prompt, a.resume != ""); err != nil {
		return fmt.Errorf("fakeengine: claude: save session: %w", err)
	}
	return nil
}

// validSessionID accepts ids that are safe as a file name.
func validSessionID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, "/\\\x00")
}

func sessionPath(home, id string) string {
	return filepath.Join(home, ".claude", "sessions", id)
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// saveSession appends one line about this run to the session's file.
func saveSession(home, id, prompt string, resumed bool) error {
	name := sessionPath(home, id)
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	line, err := json.Marshal(struct {
		Time    time.Time `json:"time"`
		Resumed bool      `json:"resumed"`
		Prompt  string    `json:"prompt"`
	}{time.Now().UTC(), resumed, prompt})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// randomUUID returns a version 4 UUID.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// output writes what the run prints in the requested --output-format:
// stream-json prints every line as it comes; json prints the result event
// at the end, text its result string.
type output struct {
	w      io.Writer
	format string
	result []byte
}

// line prints one event. Each line goes out in one write, unbuffered, so a
// signal that ends the run never leaves a line half printed or unflushed.
func (o *output) line(l []byte) error {
	if o.format == "stream-json" {
		_, err := o.w.Write(append(l[:len(l):len(l)], '\n'))
		return err
	}
	if lineType(l) == "result" {
		o.result = l
	}
	return nil
}

// garbage prints a line that is not an event; only streams carry them.
func (o *output) garbage(l []byte) error {
	if o.format != "stream-json" {
		return nil
	}
	_, err := o.w.Write(append(l[:len(l):len(l)], '\n'))
	return err
}

// finish prints what json and text formats print at the end.
func (o *output) finish() error {
	if o.result == nil {
		return nil
	}
	switch o.format {
	case "json":
		_, err := o.w.Write(append(o.result[:len(o.result):len(o.result)], '\n'))
		return err
	case "text":
		var ev struct {
			Result string `json:"result"`
		}
		_ = json.Unmarshal(o.result, &ev)
		_, err := io.WriteString(o.w, ev.Result+"\n")
		return err
	}
	return nil
}

// player replays one stream with the misbehaviour the directives ask for.
type player struct {
	out    *output
	stderr io.Writer
	stream claudeReplay
	d      directives
}

// play runs the phases described on directives and returns the exit status.
// When ctx ends (a signal) it returns at once; the caller turns the signal
// into the status.
func (p *player) play(ctx context.Context) int {
	lines := p.stream.lines
	head := p.stream.headLen()
	for i := range head {
		if err := p.emit(ctx, i); err != nil {
			return p.stopped(err)
		}
	}
	for _, name := range p.d.writes {
		if err := os.WriteFile(name, []byte("hello\n"), 0o644); err != nil {
			fmt.Fprintf(p.stderr, "fakeengine: write %s: %v\n", name, err)
		}
	}
	if p.d.probe {
		if err := writeProbe(probeFile); err != nil {
			fmt.Fprintf(p.stderr, "fakeengine: probe: %v\n", err)
		}
	}
	// Spin first: at a pids limit the runtime could not start its threads.
	if p.d.spin {
		stopSpin := spin()
		defer stopSpin()
	}
	if p.d.forkbomb > 0 {
		forkbomb(ctx, p.d.forkbomb, p.stderr)
	}
	if p.d.sleep > 0 && !wait(ctx, p.d.sleep) {
		return 0
	}
	switch {
	case p.d.oom:
		allocateUntilKilled(ctx, p.stderr)
		return 0
	case p.d.exit:
		crash(p.stderr, p.d.exitCode)
		return p.d.exitCode
	}
	for i := head; i < len(lines); i++ {
		if err := p.emit(ctx, i); err != nil {
			return p.stopped(err)
		}
	}
	if err := p.out.finish(); err != nil {
		fmt.Fprintf(p.stderr, "fakeengine: write stdout: %v\n", err)
		return claudeExitError
	}
	return p.stream.exitCode
}

// emit prints line i, after the delay and the garbage that go before it. It
// returns ctx's error when a signal ends the run, else a write error.
func (p *player) emit(ctx context.Context, i int) error {
	if i > 0 && p.d.delay > 0 {
		if !wait(ctx, p.d.delay) {
			return ctx.Err()
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	if i > 0 && p.d.garbage {
		if err := p.out.garbage(garbageLine(i - 1)); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
	}
	if err := p.out.line(p.stream.lines[i]); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

// stopped returns the exit status of a replay that emit stopped: the caller
// replaces it with the signal's status when a signal ended the run.
func (p *player) stopped(err error) int {
	if errors.Is(err, context.Canceled) {
		return 0
	}
	fmt.Fprintf(p.stderr, "fakeengine: %v\n", err)
	return claudeExitError
}

// wait sleeps for d and reports whether the run may go on.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
