package main

import (
	"fmt"
	"strings"
)

// ampExitError is amp's status for usage and startup errors; runs exit 0
// even on API errors and signals (see the captured cases).
const ampExitError = 1

// ampEngine is Amp's side of the replay (see
// engines/enginetest/captures/amp/README.md: the old local-agent version).
func ampEngine() *engine {
	return &engine{
		name:         "amp",
		errorExit:    ampExitError,
		sessionDir:   underHome(".local", "share", "amp", "threads"),
		sessionOf:    sessionKey("session_id"),
		newSessionID: func() string { return "T-" + randomUUID() },
		setAnswer:    setResultAnswer,
		// The wording of the refusals is the fake's: the README does not
		// capture them.
		unknownSession: func(id string) error {
			return cliError(ampExitError, "Error: Thread %s not found", id)
		},
		noLatest:    cliError(ampExitError, "Error: No thread to continue"),
		interrupted: ampInterrupted,
	}
}

// ampInterrupted ends a run a signal stopped the way amp does: it prints
// the result of a cancelled run and exits 0.
func ampInterrupted(p *player, _ int) int {
	s, err := loadStream(ampEngine(), "sigterm")
	if err != nil || len(s.lines) == 0 {
		return 0
	}
	s.setSessionID(p.stream.sessionID)
	if err := p.out.line(s.lines[len(s.lines)-1]); err != nil {
		fmt.Fprintf(p.stderr, "fakeengine: write stdout: %v\n", err)
	}
	return 0
}

// ampArgs is the part of amp's command line the fake understands:
// `amp [options]` and `amp threads continue [thread] [options]`.
type ampArgs struct {
	execute, mode, thread                    string
	executeSet, streamJSON, streamJSONInput  bool
	allowAll, threadsContinue, help, version bool
}

const (
	ampVersion = "0.0.1767830505-ga62310"
	ampHelp    = `Usage: amp [options] [command]

Amp CLI (untether fakeengine)

Options:
  -x, --execute [message]   Execute a prompt and print the result
  --stream-json             Print Claude Code-compatible stream JSON (with --execute)
  --stream-json-input       Read stream JSON user messages from stdin
  --dangerously-allow-all   Allow all tool calls without asking
  -m, --mode <mode>         Agent mode
  -V, --version             output the version number
  -h, --help                display help for command

Commands:
  threads continue [threadId]   Continue an existing thread
`
)

func (a *ampArgs) options() []option {
	ignore := func(string) {}
	nothing := func() {}
	return []option{
		{names: []string{"-x", "--execute"}, usage: "-x, --execute [message]", value: true, optional: true,
			set: func(v string) { a.execute, a.executeSet = v, true }},
		flagOpt("--stream-json", func() { a.streamJSON = true }, "--stream-json"),
		flagOpt("--stream-json-input", func() { a.streamJSONInput = true }, "--stream-json-input"),
		flagOpt("--dangerously-allow-all", func() { a.allowAll = true }, "--dangerously-allow-all"),
		valueOpt("-m, --mode <mode>", func(v string) { a.mode = v }, "-m", "--mode"),
		flagOpt("-V, --version", func() { a.version = true }, "-V", "--version"),
		flagOpt("-h, --help", func() { a.help = true }, "-h", "--help"),
		valueOpt("--visibility <visibility>", ignore, "--visibility"),
		valueOpt("--settings-file <path>", ignore, "--settings-file"),
		valueOpt("--log-level <level>", ignore, "--log-level"),
		valueOpt("--log-file <path>", ignore, "--log-file"),
		valueOpt("--mcp-config <config>", ignore, "--mcp-config"),
		flagOpt("--no-notifications", nothing, "--no-notifications"),
		flagOpt("--no-color", nothing, "--no-color"),
		flagOpt("--no-ide", nothing, "--no-ide"),
	}
}

// parseAmpArgs parses argv (without the program name) the way commander.js
// parses amp's.
func parseAmpArgs(args []string) (ampArgs, error) {
	var a ampArgs
	if len(args) > 0 && args[0] == "threads" {
		if len(args) < 2 || args[1] != "continue" {
			return a, fakeError(ampExitError, "amp: of the threads commands only `threads continue` is faked")
		}
		a.threadsContinue, args = true, args[2:]
	}
	pos, _, err := parseOptions(args, a.options(), commander{}, false)
	switch {
	case err != nil:
		return a, err
	case a.threadsContinue && len(pos) > 1:
		return a, cliError(ampExitError, "error: too many arguments for 'continue'. Expected 1 argument but got %d.", len(pos))
	case a.threadsContinue && len(pos) == 1:
		a.thread = pos[0]
	case !a.threadsContinue && len(pos) > 0:
		return a, cliError(ampExitError, "error: unknown command '%s'", pos[0])
	}
	return a, nil
}

// runAmp answers as `amp`. It accepts, the way commander.js parses them:
//
//	amp -x PROMPT --stream-json [--dangerously-allow-all] [-m MODE] ...
//	amp -x --stream-json ...                       (prompt: stdin text)
//	amp -x --stream-json --stream-json-input ...   (prompt: stream-json user messages on stdin)
//	amp threads continue [THREAD_ID] -x PROMPT --stream-json ...
//
// threads continue without an id continues the directory's latest thread.
func runAmp(args []string) int {
	a, err := parseAmpArgs(args)
	switch {
	case err != nil:
		return fail(err)
	case a.version:
		fmt.Println(ampVersion)
		return 0
	case a.help:
		fmt.Print(ampHelp)
		return 0
	case !a.executeSet:
		return fail(fakeError(ampExitError, "amp: only the execute mode (-x) is faked; the interactive UI needs a terminal"))
	case !a.streamJSON:
		return fail(fakeError(ampExitError, "amp: only --stream-json output is faked"))
	}
	req := request{resume: a.thread, last: a.threadsContinue && a.thread == ""}
	switch {
	case a.streamJSONInput:
		data, err := readStdin()
		if err == nil {
			req.prompt, err = userText(data)
		}
		if err != nil {
			return fail(cliError(ampExitError, "Error: %v", err))
		}
		req.newCase = "stdin_stream"
	case a.execute != "":
		req.prompt = a.execute
	default:
		// -x without a message takes the prompt from stdin.
		if req.prompt, err = readStdin(); err != nil {
			return fail(cliError(ampExitError, "Error: %v", err))
		}
	}
	if strings.TrimSpace(req.prompt) == "" {
		return fail(cliError(ampExitError, "Error: No prompt given: pass it to --execute or on stdin"))
	}
	return ampEngine().run(req)
}
