package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

const (
	geminiExitError = 1
	// geminiExitInput is gemini's status for bad input it finds after
	// parsing argv, such as an unknown session (FatalInputError).
	geminiExitInput = 42
	// geminiStdinWait is how long gemini waits for piped input to start.
	geminiStdinWait = 500 * time.Millisecond
	// geminiChildRole is childRoleEnv's value in the child that runs the
	// replay (see runGemini).
	geminiChildRole = "gemini-child"
)

// geminiEngine is the Gemini CLI's side of the replay (see
// engines/enginetest/captures/gemini/README.md).
func geminiEngine() *engine {
	return &engine{
		name:      "gemini",
		errorExit: geminiExitError,
		// The status is the HTTP status & 255.
		caseExits:    map[string]int{"error_401": 145, "error_500": 244},
		sessionDir:   underHome(".gemini", "sessions"),
		sessionOf:    sessionKey("session_id"),
		newSessionID: randomUUID,
		setAnswer:    setGeminiAnswer,
		streamAnswer: streamGeminiAnswer,
		unknownSession: func(id string) error {
			return &usageError{fmt.Sprintf("Error resuming session: Invalid session identifier %q.\n"+
				"  Use --list-sessions to see available sessions, then use --resume {number}, --resume {uuid}, or --resume latest.\n", id),
				geminiExitInput}
		},
		noLatest: cliError(geminiExitInput, "No previous sessions found for this project."),
		// The child stops on SIGTERM and exits 0, as captured.
		interrupted: func(*player, int) int { return 0 },
	}
}

// geminiArgs is the part of gemini's command line the fake understands.
type geminiArgs struct {
	prompt, model, outputFormat, approvalMode, resume string
	promptSet, resumeSet, yolo, interactive           bool
	listSessions, help, version                       bool
	query                                             []string
}

const geminiHelp = `Usage: gemini [options] [command]

Gemini CLI - Launch an interactive CLI, use -p/--prompt for non-interactive mode (untether fakeengine)

Options:
  -m, --model          Model                                                    [string]
  -p, --prompt         Prompt. Appended to input on stdin (if any).             [string]
  -y, --yolo           Automatically accept all actions                         [boolean]
  -r, --resume         Resume a previous session. Use "latest" for most recent   [string]
  -o, --output-format  The format of the CLI output.
                                    [string] [choices: "text", "json", "stream-json"]
      --skip-trust     Trust the current workspace for this session.            [boolean]
`

func (a *geminiArgs) options() []option {
	ignore := func(string) {}
	nothing := func() {}
	return []option{
		flagOpt("help", func() { a.help = true }, "-h", "--help"),
		flagOpt("version", func() { a.version = true }, "-v", "--version"),
		valueOpt("prompt", func(v string) { a.prompt, a.promptSet = v, true }, "-p", "--prompt"),
		valueOpt("model", func(v string) { a.model = v }, "-m", "--model"),
		{names: []string{"-o", "--output-format"}, usage: "output-format", value: true,
			choices: []string{"text", "json", "stream-json"}, set: func(v string) { a.outputFormat = v }},
		flagOpt("yolo", func() { a.yolo = true }, "-y", "--yolo"),
		{names: []string{"--approval-mode"}, usage: "approval-mode", value: true,
			choices: []string{"default", "auto_edit", "yolo", "plan"}, set: func(v string) { a.approvalMode = v }},
		{names: []string{"-r", "--resume"}, usage: "resume", value: true, optional: true,
			set: func(v string) { a.resume, a.resumeSet = v, true }},
		valueOpt("prompt-interactive", func(string) { a.interactive = true }, "-i", "--prompt-interactive"),
		flagOpt("list-sessions", func() { a.listSessions = true }, "--list-sessions"),
		flagOpt("skip-trust", nothing, "--skip-trust"),
		flagOpt("debug", nothing, "-d", "--debug"),
		flagOpt("sandbox", nothing, "-s", "--sandbox"),
		flagOpt("screen-reader", nothing, "--screen-reader"),
		flagOpt("raw-output", nothing, "--raw-output"),
		flagOpt("accept-raw-output-risk", nothing, "--accept-raw-output-risk"),
		valueOpt("include-directories", ignore, "--include-directories"),
		valueOpt("extensions", ignore, "-e", "--extensions"),
		valueOpt("allowed-tools", ignore, "--allowed-tools"),
		valueOpt("allowed-mcp-server-names", ignore, "--allowed-mcp-server-names"),
	}
}

// parseGeminiArgs parses argv (without the program name) the way yargs
// parses gemini's, with gemini's own checks.
func parseGeminiArgs(args []string) (geminiArgs, error) {
	var a geminiArgs
	dl := yargs{geminiHelp}
	pos, _, err := parseOptions(args, a.options(), dl, false)
	a.query = pos
	switch {
	case err != nil:
		return a, err
	case a.promptSet && len(a.query) > 0:
		return a, dl.fail("Cannot use both a positional prompt and the --prompt (-p) flag together")
	case a.promptSet && a.interactive:
		return a, dl.fail("Cannot use both --prompt (-p) and --prompt-interactive (-i) together")
	case a.yolo && a.approvalMode != "":
		return a, dl.fail("Cannot use both --yolo (-y) and --approval-mode together. Use --approval-mode=yolo instead.")
	}
	if len(a.query) > 0 {
		a.prompt, a.promptSet = strings.Join(a.query, " "), true
	}
	return a, nil
}

// runGemini answers as `gemini`. It accepts, the way yargs parses them
// (usage errors print the message and the help, exit 1):
//
//	gemini -p PROMPT --output-format stream-json [--yolo] [--skip-trust] [-m M] ...
//	gemini PROMPT... -o stream-json ...
//	gemini ... --resume ID | --resume latest | --resume
//
// Piped stdin comes before the prompt, as gemini reads it: it gives up on a
// stdin where nothing arrives within half a second. Like the real CLI it
// relaunches itself: the launcher checks argv, starts a child that runs the
// replay, and ignores SIGTERM, SIGINT and SIGHUP sent to its own pid, so
// only a signal to the process group stops the run, with status 0 (see the
// README's SIGTERM section). GEMINI_CLI_NO_RELAUNCH set turns the relaunch
// off, as it does for gemini: the one process stops on a signal to its pid.
func runGemini(args []string) int {
	a, err := parseGeminiArgs(args)
	switch {
	case err != nil:
		return fail(err)
	case a.help:
		fmt.Print(geminiHelp)
		return 0
	case a.version:
		fmt.Println("0.61.0")
		return 0
	case a.interactive || a.listSessions:
		return fail(fakeError(geminiExitError, "gemini: --prompt-interactive and --list-sessions are not faked"))
	case a.outputFormat != "stream-json":
		return fail(fakeError(geminiExitError, "gemini: only --output-format stream-json is faked"))
	}
	if os.Getenv("GEMINI_CLI_NO_RELAUNCH") != "" {
		return runGeminiChild(args)
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(fakeError(geminiExitError, "gemini: relaunch: %v", err))
	}
	child := exec.Command(exe, args...)
	child.Args[0] = os.Args[0]
	child.Env = append(os.Environ(), childRoleEnv+"="+geminiChildRole)
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Ignored before the child starts, so no signal slips in between. The
	// child inherits the ignored dispositions, but the Go runtime installs
	// its SIGTERM handler regardless and the replay asks for SIGINT and
	// SIGTERM (watchSignals), so the child still stops on them.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := child.Start(); err != nil {
		return fail(fakeError(geminiExitError, "gemini: relaunch: %v", err))
	}
	var ee *exec.ExitError
	switch err := child.Wait(); {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		return fail(fakeError(geminiExitError, "gemini: wait for the relaunched child: %v", err))
	}
}

// runGeminiChild runs the replay in the relaunched child.
func runGeminiChild(args []string) int {
	a, err := parseGeminiArgs(args)
	if err != nil {
		return fail(err)
	}
	prompt := a.prompt
	stdin, err := readStdinPatiently(geminiStdinWait)
	if err != nil {
		return fail(cliError(geminiExitError, "Error reading from stdin: %v", err))
	}
	switch {
	case stdin == "":
	case a.promptSet:
		prompt = stdin + "\n\n" + prompt
	default:
		prompt = stdin
	}
	if !a.promptSet && stdin == "" {
		return fail(fakeError(geminiExitError, "gemini: no prompt (-p, a positional prompt or piped stdin); the interactive UI is not faked"))
	}
	req := request{prompt: prompt}
	switch {
	case a.resumeSet && (a.resume == "" || a.resume == "latest"):
		req.last = true
	case a.resumeSet:
		req.resume = a.resume
	}
	return geminiEngine().run(req)
}

// setGeminiAnswer replaces the final answer: the assistant message deltas
// after the last tool result share the answer out between them, so the
// concatenation is the answer.
func setGeminiAnswer(s *stream, answer string) error {
	var sites []answerSite
	for i, line := range s.lines {
		var ev struct {
			Type    string          `json:"type"`
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "tool_result":
			sites = nil
		case ev.Type == "message" && ev.Role == "assistant" && isJSONString(ev.Content):
			sites = append(sites, answerSite{i, "content", ev.Content})
		}
	}
	var values [][]byte
	for _, part := range splitAnswer(answer, len(sites)) {
		values = append(values, jsonJS(part))
	}
	return s.replace(sites, values...)
}

// splitAnswer cuts s into n pieces of about the same size, at rune
// boundaries.
func splitAnswer(s string, n int) []string {
	parts := make([]string, 0, n)
	for left := n; left > 0; left-- {
		cut := len(s) / left
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		parts = append(parts, s[:cut])
		s = s[cut:]
	}
	return parts
}
