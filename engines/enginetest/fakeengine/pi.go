package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// piExitError is pi's status for usage and runtime errors. API errors exit
// 0 in json mode (see the captured cases).
const piExitError = 1

// piEngine is pi's side of the replay (see
// engines/enginetest/captures/pi/README.md).
func piEngine() *engine {
	return &engine{
		name:         "pi",
		errorExit:    piExitError,
		caseExits:    map[string]int{"sigterm": 143},
		sessionDir:   underHome(".pi", "agent", "sessions"),
		sessionOf:    piSessionOf,
		newSessionID: randomUUID,
		setAnswer:    setPiAnswer,
		streamAnswer: streamPiAnswer,
		// The wording is the fake's: the README does not capture it.
		unknownSession: func(id string) error {
			return cliError(piExitError, "Error: No session found matching '%s'", id)
		},
		// --continue without a session starts a new one, as pi does.
	}
}

// piSessionOf finds the session id: the session line's in json mode, the
// get_state response's in rpc mode.
func piSessionOf(lines [][]byte) string {
	for _, line := range lines {
		var ev struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Command string `json:"command"`
			Data    struct {
				SessionID string `json:"sessionId"`
			} `json:"data"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "session" && ev.ID != "":
			return ev.ID
		case ev.Type == "response" && ev.Command == "get_state" && ev.Data.SessionID != "":
			return ev.Data.SessionID
		}
	}
	return ""
}

// piArgs is the part of pi's command line the fake understands.
type piArgs struct {
	mode, provider, model, session string
	cont, resumePicker, noSession  bool
	print, help, version           bool
	messages                       []string
}

// piDialect is pi's own parser: a value option without its value and an
// unknown mode are skipped silently. Unknown options are refused here;
// which pi versions do that is not captured.
type piDialect struct{}

func (piDialect) unknown(arg string) error {
	return cliError(piExitError, "Error: Unknown option: %s", arg)
}

func (piDialect) missing(option) error         { return nil }
func (piDialect) invalid(option, string) error { return nil }

func (a *piArgs) options() []option {
	ignore := func(string) {}
	nothing := func() {}
	return []option{
		flagOpt("--help", func() { a.help = true }, "-h", "--help"),
		flagOpt("--version", func() { a.version = true }, "-v", "--version"),
		{names: []string{"--mode"}, usage: "--mode", value: true, choices: []string{"text", "json", "rpc"},
			set: func(v string) { a.mode = v }},
		flagOpt("--print", func() { a.print = true }, "-p", "--print"),
		flagOpt("--continue", func() { a.cont = true }, "-c", "--continue"),
		flagOpt("--resume", func() { a.resumePicker = true }, "-r", "--resume"),
		flagOpt("--no-session", func() { a.noSession = true }, "--no-session"),
		valueOpt("--session", func(v string) { a.session = v }, "--session"),
		valueOpt("--provider", func(v string) { a.provider = v }, "--provider"),
		valueOpt("--model", func(v string) { a.model = v }, "--model"),
		valueOpt("--api-key", ignore, "--api-key"),
		valueOpt("--thinking", ignore, "--thinking"),
		valueOpt("--tools", ignore, "--tools"),
		valueOpt("--models", ignore, "--models"),
		valueOpt("--session-dir", ignore, "--session-dir"),
		valueOpt("--system-prompt", ignore, "--system-prompt"),
		valueOpt("--append-system-prompt", ignore, "--append-system-prompt"),
		flagOpt("--no-tools", nothing, "--no-tools"),
		flagOpt("--no-extensions", nothing, "--no-extensions"),
		flagOpt("--no-skills", nothing, "--no-skills"),
		flagOpt("--verbose", nothing, "--verbose"),
	}
}

const piHelp = `pi - AI coding assistant with read, bash, edit, write tools (untether fakeengine)

Usage:
  pi [options] [messages...]

Options:
  --provider <name>   Provider name
  --model <id>        Model ID
  --mode <mode>       Output mode: text (default), json, or rpc
  --print, -p         Non-interactive mode: process prompt and exit
  --continue, -c      Continue previous session
  --session <path>    Use specific session file
  --no-session        Don't save session (ephemeral)
`

// runPi answers as `pi`. It accepts:
//
//	pi [-p] --mode json [--provider P] [--model M] [--no-session] ... PROMPT
//	pi --mode json ... --session ID PROMPT
//	pi --mode json ... (-c|--continue) PROMPT
//	pi --mode rpc ... [--session ID|--continue]   (commands on stdin)
//
// In json mode stdin is not read (the captures ran with /dev/null); rpc
// mode takes its prompt from a prompt command on stdin (see runPiRPC).
// --continue without a session in the directory starts a new one.
func runPi(args []string) int {
	var a piArgs
	pos, _, err := parseOptions(args, a.options(), piDialect{}, false)
	a.messages = pos
	switch {
	case err != nil:
		return fail(err)
	case a.help:
		fmt.Print(piHelp)
		return 0
	case a.version:
		fmt.Println("0.73.1")
		return 0
	case a.resumePicker:
		return fail(fakeError(piExitError, "pi: --resume opens an interactive picker; give --session ID"))
	case a.mode == "rpc":
		return runPiRPC(a)
	case a.mode != "json":
		return fail(fakeError(piExitError, "pi: only --mode json and --mode rpc are faked"))
	case len(a.messages) != 1 || strings.HasPrefix(a.messages[0], "@"):
		// pi runs each message as a prompt of its own, @file arguments
		// become part of the first.
		return fail(fakeError(piExitError, "pi: exactly one message, not a file argument, is faked (got %q)", a.messages))
	}
	return piEngine().run(a.request(a.messages[0]))
}

func (a piArgs) request(prompt string) request {
	return request{prompt: prompt, resume: a.session, last: a.cont && a.session == "", ephemeral: a.noSession}
}

// piRPC is a command (in) or response (out) of pi's rpc mode. Field order
// is pi's.
type piRPC struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Command string          `json:"command,omitempty"`
	Success *bool           `json:"success,omitempty"`
	Error   string          `json:"error,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Message string          `json:"message,omitempty"`
}

// runPiRPC answers pi's rpc mode: commands on stdin, one JSON line each,
// until EOF. The first prompt replays the rpc case (its events, preceded by
// the prompt's response); get_state answers with the captured state of the
// session. Later prompts are refused: one run per process is faked.
func runPiRPC(a piArgs) int {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 64<<20)
	var state *piRPC
	for sc.Scan() {
		var cmd piRPC
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			piRespond(piRPC{Type: "parse"}, "Failed to parse command: "+err.Error(), nil)
			continue
		}
		switch {
		case cmd.Type == "prompt" && state == nil:
			p, err := piEngine().prepare(request{prompt: cmd.Message, resume: a.session,
				last: a.cont && a.session == "", ephemeral: a.noSession, newCase: "rpc", fixedCase: true})
			if err != nil {
				return fail(err)
			}
			state = piTakeState(p, cmd.ID)
			if code := p.run(); !p.completed {
				return code
			}
		case cmd.Type == "prompt":
			piRespond(cmd, "fakeengine: pi: one prompt per rpc process is faked", nil)
		case cmd.Type == "get_state" && state != nil:
			piRespond(cmd, "", state.Data)
		default:
			piRespond(cmd, "fakeengine: pi: "+cmd.Type+" is not faked here", nil)
		}
	}
	if err := sc.Err(); err != nil {
		return fail(cliError(piExitError, "Error: read stdin: %v", err))
	}
	return 0
}

// piTakeState answers the prompt with id in the stream's first line and
// takes the captured get_state response out of it; it returns the state of
// the session, with its id.
func piTakeState(p *player, id string) *piRPC {
	lines := p.stream.lines
	var first piRPC
	if len(lines) > 0 && json.Unmarshal(lines[0], &first) == nil && first.Type == "response" && first.Command == "prompt" {
		first.ID = id
		lines[0] = jsonJS(first)
	}
	var last piRPC
	if n := len(lines); n > 0 && json.Unmarshal(lines[n-1], &last) == nil && last.Command == "get_state" {
		p.stream.lines = lines[:n-1]
	}
	var state piRPC
	if s, err := loadStream(piEngine(), "rpc"); err == nil && len(s.lines) > 0 {
		s.setSessionID(p.stream.sessionID)
		_ = json.Unmarshal(s.lines[len(s.lines)-1], &state)
	}
	return &state
}

// piRespond writes the response to cmd: success, or the error message.
func piRespond(cmd piRPC, errMsg string, data json.RawMessage) {
	ok := errMsg == ""
	resp := piRPC{ID: cmd.ID, Type: "response", Command: cmd.Type, Success: &ok, Error: errMsg, Data: data}
	os.Stdout.Write(append(jsonJS(resp), '\n'))
}

// setPiAnswer replaces the final answer: the text of the last assistant
// message_end that stopped normally, and the same text where turn_end and
// agent_end repeat that message. message_update deltas keep the captured
// text.
func setPiAnswer(s *stream, answer string) error {
	var sites []answerSite
	for i, line := range s.lines {
		var ev struct {
			Type    string `json:"type"`
			Message struct {
				Role       string `json:"role"`
				StopReason string `json:"stopReason"`
				Content    []struct {
					Type string          `json:"type"`
					Text json.RawMessage `json:"text"`
				} `json:"content"`
			} `json:"message"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.Type != "message_end" ||
			ev.Message.Role != "assistant" || ev.Message.StopReason != "stop" {
			continue
		}
		for _, c := range ev.Message.Content {
			if c.Type == "text" && isJSONString(c.Text) {
				sites = []answerSite{{i, "text", c.Text}}
			}
		}
	}
	if len(sites) == 0 {
		return nil
	}
	end := sites[0]
	needle := append([]byte(`"text":`), end.old...)
	for i := end.line + 1; i < len(s.lines); i++ {
		if t := lineType(s.lines[i]); (t == "turn_end" || t == "agent_end") && bytes.Contains(s.lines[i], needle) {
			sites = append(sites, answerSite{i, "text", end.old})
		}
	}
	return s.replace(sites, jsonJS(answer))
}
