package main

import (
	"fmt"
	"os"
)

// claudeExitError is the real CLI's exit status for usage errors, refusals
// and API errors.
const claudeExitError = 1

// claudeEngine is Claude Code's side of the replay (see
// engines/enginetest/captures/claude/README.md).
func claudeEngine() *engine {
	return &engine{
		name:         "claude",
		errorExit:    claudeExitError,
		caseExits:    map[string]int{"error_401": 1, "error_500": 1, "sigterm": 143},
		sessionDir:   underHome(".claude", "sessions"),
		sessionOf:    sessionKey("session_id"),
		newSessionID: randomUUID,
		setAnswer:    setResultAnswer,
		streamAnswer: streamClaudeAnswer,
		unknownSession: func(id string) error {
			return cliError(claudeExitError, "No conversation found with session ID: %s", id)
		},
		noLatest: cliError(claudeExitError, "No conversation found to continue"),
	}
}

// runClaude answers as `claude`. It accepts, the way commander.js parses
// them:
//
//	claude -p PROMPT --output-format stream-json --verbose [--permission-mode M] [--model M] [--include-partial-messages]
//	claude -p ... (-r|--resume) ID PROMPT
//	claude -p ... (-c|--continue) PROMPT
//	claude -p --input-format stream-json --output-format stream-json --verbose   (prompt: user messages on stdin)
//	claude -p --input-format stream-json ... --permission-prompt-tool stdio   (the control protocol: claude_control.go)
//
// Without a prompt argument the prompt is stdin's text; --output-format
// json and text print the result at the end.
func runClaude(args []string) int {
	a, err := parseClaudeArgs(args)
	if err != nil {
		return fail(err)
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
	if a.inputFormat == "stream-json" && a.promptTool == "stdio" {
		return runClaudeControl(os.Stdin, os.Stdout)
	}
	prompt, err := a.readPrompt()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return claudeExitError
	}
	req := request{prompt: prompt, resume: a.resume, last: a.cont && a.resume == "", format: a.outputFormat}
	switch {
	case a.inputFormat == "stream-json":
		req.newCase = "stdin_stream"
	case a.partial:
		req.newCase = "partial"
	}
	return claudeEngine().run(req)
}
