package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
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
	model           string
	resume          string
	resumePicker    bool // --resume without a value: the interactive picker
	positional      []string
}

// claudeOption describes one option the way commander.js (the real CLI's
// parser) declares it; flags is how its error messages name the option.
type claudeOption struct {
	flags    string
	value    bool // takes a value
	optional bool // the value may be left out (commander's [value])
	choices  []string
	set      func(a *claudeArgs, v string)
}

func lookupClaudeOption(name string) (claudeOption, bool) {
	switch name {
	case "-p", "--print":
		return claudeOption{flags: "-p, --print", set: func(a *claudeArgs, _ string) { a.print = true }}, true
	case "--verbose":
		return claudeOption{flags: "--verbose", set: func(a *claudeArgs, _ string) { a.verbose = true }}, true
	case "--include-partial-messages":
		return claudeOption{flags: name, set: func(a *claudeArgs, _ string) { a.partial = true }}, true
	case "--dangerously-skip-permissions":
		return claudeOption{flags: name, set: func(a *claudeArgs, _ string) { a.skipPermissions = true }}, true
	case "-v", "--version":
		return claudeOption{flags: "-v, --version", set: func(a *claudeArgs, _ string) { a.version = true }}, true
	case "-h", "--help":
		return claudeOption{flags: "-h, --help", set: func(a *claudeArgs, _ string) { a.help = true }}, true
	case "--output-format":
		return claudeOption{flags: "--output-format <format>", value: true,
			choices: []string{"text", "json", "stream-json"},
			set:     func(a *claudeArgs, v string) { a.outputFormat = v }}, true
	case "--input-format":
		return claudeOption{flags: "--input-format <format>", value: true,
			choices: []string{"text", "stream-json"},
			set:     func(a *claudeArgs, v string) { a.inputFormat = v }}, true
	case "--permission-mode":
		return claudeOption{flags: "--permission-mode <mode>", value: true,
			choices: []string{"acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"},
			set:     func(a *claudeArgs, v string) { a.permissionMode = v }}, true
	case "--model":
		return claudeOption{flags: "--model <model>", value: true,
			set: func(a *claudeArgs, v string) { a.model = v }}, true
	case "-r", "--resume":
		return claudeOption{flags: "-r, --resume [value]", value: true, optional: true,
			set: func(a *claudeArgs, v string) { a.resume, a.resumePicker = v, v == "" }}, true
	}
	return claudeOption{}, false
}

// parseClaudeArgs parses argv (without the program name). Its errors read
// like commander.js's, without the "error: " prefix.
func parseClaudeArgs(args []string) (claudeArgs, error) {
	a := claudeArgs{outputFormat: "text", inputFormat: "text"}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			a.positional = append(a.positional, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			a.positional = append(a.positional, arg)
			continue
		}
		name, value, inline := arg, "", false
		if strings.HasPrefix(arg, "--") {
			name, value, inline = strings.Cut(arg, "=")
		}
		opt, ok := lookupClaudeOption(name)
		if !ok || (inline && !opt.value) {
			return a, fmt.Errorf("unknown option '%s'", arg)
		}
		if opt.value && !inline {
			switch {
			case opt.optional && (i+1 >= len(args) || strings.HasPrefix(args[i+1], "-")):
				// commander leaves an optional value out rather than eat an option.
			case i+1 >= len(args):
				return a, fmt.Errorf("option '%s' argument missing", opt.flags)
			default:
				i++
				value = args[i]
			}
		}
		if opt.choices != nil && !slices.Contains(opt.choices, value) {
			return a, fmt.Errorf("option '%s' argument '%s' is invalid. Allowed choices are %s.",
				opt.flags, value, strings.Join(opt.choices, ", "))
		}
		opt.set(&a, value)
	}
	if len(a.positional) > 1 {
		return a, fmt.Errorf("too many arguments. Expected 1 argument but got %d.", len(a.positional))
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
  -v, --version                   print the version
  -h, --help                      print this help

Directives in the prompt (fake:NAME or fake:NAME=VALUE) make it misbehave.
`
)

// readPrompt returns the prompt: the positional argument, else stdin (plain
// text, or the text blocks of stream-json user messages).
func (a claudeArgs) readPrompt(stdin io.Reader) (string, error) {
	if len(a.positional) == 1 && a.inputFormat == "text" {
		return a.positional[0], nil
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		return "", fmt.Errorf("fakeengine: claude: read stdin: %w", err)
	}
	prompt := string(data)
	if a.inputFormat == "stream-json" {
		if prompt, err = userText(data); err != nil {
			return "", err
		}
	}
	if strings.TrimSpace(prompt) == "" {
		return "", errors.New(claudeNoInput)
	}
	return prompt, nil
}

// userText joins the text of the user messages in stream-json input.
func userText(data []byte) (string, error) {
	var texts []string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var msg struct {
			Type    string `json:"type"`
			Message struct {
				Content json.RawMessage `json:"content"`
			} `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			return "", fmt.Errorf("Error parsing streaming input line: %s: %v", sc.Text(), err)
		}
		if msg.Type != "user" {
			continue
		}
		var s string
		if json.Unmarshal(msg.Message.Content, &s) == nil {
			texts = append(texts, s)
			continue
		}
		var blocks []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(msg.Message.Content, &blocks); err != nil {
			return "", fmt.Errorf("Error parsing streaming input line: %s: %v", sc.Text(), err)
		}
		for _, b := range blocks {
			if b.Type == "text" {
				texts = append(texts, b.Text)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("fakeengine: claude: read stdin: %w", err)
	}
	return strings.Join(texts, "\n"), nil
}
