package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// claudeArgs is the part of Claude Code's command line the fake understands:
// the headless (-p) mode the daemon uses. Anything else is an unknown option,
// as it would be for a CLI version that lacks it.
type claudeArgs struct {
	print           bool
	verbose         bool
	partial         bool // --include-partial-messages
	skipPermissions bool // --dangerously-skip-permissions
	version         bool
	help            bool
	outputFormat    string
	inputFormat     string
	permissionMode  string
	promptTool      string // --permission-prompt-tool: "stdio" is the control protocol
	model           string
	resume          string
	resumePicker    bool // --resume without a value: the interactive picker
	cont            bool // --continue: the latest conversation in the directory
	positional      []string
}

// options declares the options the way commander.js (the real CLI's
// parser) does; usage is how its error messages name them.
func (a *claudeArgs) options() []option {
	return []option{
		flagOpt("-p, --print", func() { a.print = true }, "-p", "--print"),
		flagOpt("--verbose", func() { a.verbose = true }, "--verbose"),
		flagOpt("--include-partial-messages", func() { a.partial = true }, "--include-partial-messages"),
		flagOpt("--dangerously-skip-permissions", func() { a.skipPermissions = true }, "--dangerously-skip-permissions"),
		flagOpt("-v, --version", func() { a.version = true }, "-v", "--version"),
		flagOpt("-h, --help", func() { a.help = true }, "-h", "--help"),
		{names: []string{"--output-format"}, usage: "--output-format <format>", value: true,
			choices: []string{"text", "json", "stream-json"}, set: func(v string) { a.outputFormat = v }},
		{names: []string{"--input-format"}, usage: "--input-format <format>", value: true,
			choices: []string{"text", "stream-json"}, set: func(v string) { a.inputFormat = v }},
		{names: []string{"--permission-mode"}, usage: "--permission-mode <mode>", value: true,
			choices: []string{"acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"},
			set:     func(v string) { a.permissionMode = v }},
		valueOpt("--model <model>", func(v string) { a.model = v }, "--model"),
		valueOpt("--permission-prompt-tool <tool>", func(v string) { a.promptTool = v }, "--permission-prompt-tool"),
		{names: []string{"-r", "--resume"}, usage: "-r, --resume [value]", value: true, optional: true,
			set: func(v string) { a.resume, a.resumePicker = v, v == "" }},
		flagOpt("-c, --continue", func() { a.cont = true }, "-c", "--continue"),
	}
}

// parseClaudeArgs parses argv (without the program name). Its errors read
// like commander.js's.
func parseClaudeArgs(args []string) (claudeArgs, error) {
	a := claudeArgs{outputFormat: "text", inputFormat: "text"}
	pos, _, err := parseOptions(args, a.options(), commander{}, false)
	a.positional = pos
	if err != nil {
		return a, err
	}
	if len(a.positional) > 1 {
		return a, cliError(claudeExitError, "error: too many arguments. Expected 1 argument but got %d.", len(a.positional))
	}
	return a, nil
}

// checkMode returns the real CLI's complaint about a valid but unsupported
// combination of options, or "".
func (a claudeArgs) checkMode() string {
	switch {
	case !a.print:
		return "fakeengine: claude: only the headless mode (-p, --print) is faked; the interactive UI needs a terminal"
	case a.outputFormat == "stream-json" && !a.verbose:
		return "Error: When using --print, --output-format=stream-json requires --verbose"
	case a.inputFormat == "stream-json" && a.outputFormat != "stream-json":
		return "Error: --input-format=stream-json requires output-format=stream-json."
	case a.resumePicker:
		return "fakeengine: claude: --resume needs a session id in -p mode (the picker is interactive)"
	}
	return ""
}

// bypassesPermissions reports whether the run skips permission prompts, which
// the real CLI refuses to do as root outside a declared sandbox.
func (a claudeArgs) bypassesPermissions() bool {
	return a.skipPermissions || a.permissionMode == "bypassPermissions"
}

const (
	claudeVersion     = "2.1.332 (Claude Code)"
	claudeRootRefusal = "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons"
	claudeNoInput     = "Error: Input must be provided either through stdin or as a prompt argument when using --print"
	claudeUsage       = `Usage: claude [options] [prompt]

Fake Claude Code (untether fakeengine): replays captured headless streams.

Options:
  -p, --print                     print the response and exit
  --output-format <format>        "text", "json" or "stream-json"
  --input-format <format>         "text" or "stream-json"
  --verbose                       required with --output-format stream-json
  --include-partial-messages      replay the stream with partial messages
  --permission-mode <mode>        permission mode (bypassPermissions, ...)
  --dangerously-skip-permissions  same as --permission-mode bypassPermissions
  --model <model>                 accepted and recorded, not used
  -r, --resume [value]            continue the session with this id
  -c, --continue                  continue the latest session in the directory
  -v, --version                   print the version
  -h, --help                      print this help

Directives in the prompt (fake:NAME or fake:NAME=VALUE) make it misbehave.
`
)

// readPrompt returns the prompt: the positional argument, else stdin (plain
// text, or the text blocks of stream-json user messages).
func (a claudeArgs) readPrompt() (string, error) {
	if len(a.positional) == 1 && a.inputFormat == "text" {
		return a.positional[0], nil
	}
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		return "", fmt.Errorf("fakeengine: claude: read stdin: %w", err)
	}
	prompt := string(data)
	if a.inputFormat == "stream-json" {
		if prompt, err = userText(prompt); err != nil {
			return "", err
		}
	}
	if strings.TrimSpace(prompt) == "" {
		return "", errors.New(claudeNoInput)
	}
	return prompt, nil
}
