package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// opencodeExitError is opencode's status for usage and runtime errors.
const opencodeExitError = 1

// opencodeEngine is opencode's side of the replay (see
// engines/enginetest/captures/opencode/README.md).
func opencodeEngine() *engine {
	return &engine{
		name:         "opencode",
		errorExit:    opencodeExitError,
		caseExits:    map[string]int{"error_401": 1, "error_500": 1, "sigterm": 143},
		sessionDir:   opencodeSessionDir,
		sessionOf:    sessionKey("sessionID"),
		newSessionID: opencodeSessionID,
		setAnswer:    setOpencodeAnswer,
		unknownSession: func(string) error {
			return cliError(opencodeExitError, "Error: Session not found")
		},
		// --continue without a session starts a new one, as opencode does.
	}
}

// opencodeSessionDir is under $XDG_DATA_HOME/opencode, $XDG_DATA_HOME
// defaulting to $HOME/.local/share.
func opencodeSessionDir() (string, error) {
	if dir := os.Getenv("XDG_DATA_HOME"); dir != "" {
		return filepath.Join(dir, "opencode", "sessions"), nil
	}
	return underHome(".local", "share", "opencode", "sessions")()
}

// opencodeSessionID makes an id like ses_de361666cffeAGnfWJW8bMzObK.
func opencodeSessionID() string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [20]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	tail := make([]byte, 14)
	for i := range tail {
		tail[i] = base62[int(b[6+i])%len(base62)]
	}
	return "ses_" + hex.EncodeToString(b[:6]) + string(tail)
}

// opencodeArgs is the part of `opencode run` the fake understands.
type opencodeArgs struct {
	format, session, model, attach, command string
	cont, fork, help, version               bool
	message                                 []string
}

const opencodeHelp = `opencode run [message..]

run opencode with a message

Positionals:
  message  message to send                                        [array] [default: []]

Options:
  -h, --help        show help                                                  [boolean]
  -v, --version     show version number                                        [boolean]
  -c, --continue    continue the last session                                  [boolean]
  -s, --session     session id to continue                                      [string]
  -m, --model       model to use in the format of provider/model                [string]
      --format      format: default (formatted) or json (raw JSON events)
                                  [string] [choices: "default", "json"] [default: "default"]
      --thinking    show thinking blocks                                       [boolean]
`

func (a *opencodeArgs) options() []option {
	ignore := func(string) {}
	nothing := func() {}
	return []option{
		flagOpt("help", func() { a.help = true }, "-h", "--help"),
		flagOpt("version", func() { a.version = true }, "-v", "--version"),
		flagOpt("continue", func() { a.cont = true }, "-c", "--continue"),
		valueOpt("session", func(v string) { a.session = v }, "-s", "--session"),
		valueOpt("model", func(v string) { a.model = v }, "-m", "--model"),
		{names: []string{"--format"}, usage: "format", value: true, choices: []string{"default", "json"},
			set: func(v string) { a.format = v }},
		flagOpt("fork", func() { a.fork = true }, "--fork"),
		valueOpt("attach", func(v string) { a.attach = v }, "--attach"),
		valueOpt("command", func(v string) { a.command = v }, "--command"),
		flagOpt("thinking", nothing, "--thinking"),
		flagOpt("share", nothing, "--share"),
		flagOpt("auto", nothing, "--auto"),
		flagOpt("dangerously-skip-permissions", nothing, "--dangerously-skip-permissions"),
		flagOpt("print-logs", nothing, "--print-logs"),
		{names: []string{"--log-level"}, usage: "log-level", value: true,
			choices: []string{"DEBUG", "INFO", "WARN", "ERROR"}, set: ignore},
		valueOpt("agent", ignore, "--agent"),
		valueOpt("file", ignore, "-f", "--file"),
		valueOpt("title", ignore, "--title"),
		valueOpt("variant", ignore, "--variant"),
		valueOpt("dir", ignore, "--dir"),
		valueOpt("port", ignore, "--port"),
	}
}

// parseOpencodeArgs parses argv (without the program name) the way yargs
// parses `opencode run`.
func parseOpencodeArgs(args []string) (opencodeArgs, error) {
	a := opencodeArgs{format: "default"}
	if len(args) == 0 || args[0] != "run" {
		return a, fakeError(opencodeExitError, "opencode: only `opencode run` is faked; the TUI needs a terminal")
	}
	pos, _, err := parseOptions(args[1:], a.options(), yargs{opencodeHelp}, false)
	a.message = pos
	return a, err
}

// runOpencode answers as `opencode`. It accepts, the way yargs parses them
// (usage errors print the message and the help, exit 1):
//
//	opencode run --format json [-m M] [--thinking] [--agent A] ... MESSAGE...
//	opencode run --format json (-s|--session) ID MESSAGE...
//	opencode run --format json (-c|--continue) MESSAGE...
//
// The words of the message are joined with spaces; piped stdin is read to
// its end and appended on a line of its own. --continue without a session
// in the directory starts a new one, as opencode does.
func runOpencode(args []string) int {
	a, err := parseOpencodeArgs(args)
	switch {
	case err != nil:
		return fail(err)
	case a.help:
		os.Stdout.WriteString(opencodeHelp)
		return 0
	case a.version:
		os.Stdout.WriteString("1.18.33\n")
		return 0
	case a.format != "json":
		return fail(fakeError(opencodeExitError, "opencode: only --format json is faked"))
	case a.attach != "" || a.command != "" || a.fork:
		return fail(fakeError(opencodeExitError, "opencode: --attach, --command and --fork are not faked"))
	}
	message := strings.Join(a.message, " ")
	// opencode appends piped stdin to the message, reading it to its end.
	piped, err := readStdin()
	if err != nil {
		return fail(cliError(opencodeExitError, "Error: %v", err))
	}
	switch {
	case piped == "":
	case message == "":
		message = piped
	default:
		message += "\n" + piped
	}
	if strings.TrimSpace(message) == "" {
		return fail(cliError(opencodeExitError, "Error: You must provide a message or a command"))
	}
	req := request{prompt: message, resume: a.session, last: a.cont && a.session == ""}
	return opencodeEngine().run(req)
}

// setOpencodeAnswer replaces the final answer: part.text of the last text
// event.
func setOpencodeAnswer(s *stream, answer string) error {
	var sites []answerSite
	for i, line := range s.lines {
		var ev struct {
			Type string `json:"type"`
			Part struct {
				Text json.RawMessage `json:"text"`
			} `json:"part"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Type == "text" && isJSONString(ev.Part.Text) {
			sites = []answerSite{{i, "text", ev.Part.Text}}
		}
	}
	return s.replace(sites, jsonJS(answer))
}
