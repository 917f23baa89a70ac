package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// codexExitError is codex's status for runtime errors (clap's usage errors
// exit 2).
const codexExitError = 1

// codexEngine is the Codex CLI's side of the replay (see
// engines/enginetest/captures/codex/README.md).
func codexEngine() *engine {
	return &engine{
		name:         "codex",
		errorExit:    codexExitError,
		caseExits:    map[string]int{"error_401": 1, "error_500": 1, "sigterm": 143},
		sessionDir:   codexSessionDir,
		sessionOf:    sessionKey("thread_id"),
		newSessionID: randomUUID,
		setAnswer:    setCodexAnswer,
		// The real `codex exec resume <unknown id>` starts a new thread
		// without a word; the fake refuses, so a test sees a lost session.
		unknownSession: func(id string) error {
			return cliError(codexExitError, "Error: thread/resume: no rollout found for thread id %s", id)
		},
	}
}

// codexSessionDir is $CODEX_HOME/sessions, $CODEX_HOME defaulting to
// $HOME/.codex.
func codexSessionDir() (string, error) {
	if dir := os.Getenv("CODEX_HOME"); dir != "" {
		return filepath.Join(dir, "sessions"), nil
	}
	return underHome(".codex", "sessions")()
}

// codexArgs is the part of `codex exec` the fake understands.
type codexArgs struct {
	json, skipGitCheck, bypass, ephemeral bool
	model, lastMessageFile, cd            string
	resume, last, all                     bool   // exec resume [--last [--all]]
	session                               string // exec resume SESSION_ID
	prompt                                string
	hasPrompt                             bool
}

const (
	codexExecUsage   = "codex exec [OPTIONS] [PROMPT]\n       codex exec [OPTIONS] <COMMAND> [ARGS]"
	codexResumeUsage = "codex exec resume [OPTIONS] [SESSION_ID] [PROMPT]"
	codexVersion     = "codex-cli 0.171.0"
)

// options declares the options of `codex exec` (resume false) or of
// `codex exec resume`: the global ones and each command's own.
func (a *codexArgs) options(resume bool) []option {
	ignore := func(string) {}
	opts := []option{
		flagOpt("--json", func() { a.json = true }, "--json", "--experimental-json"),
		flagOpt("--skip-git-repo-check", func() { a.skipGitCheck = true }, "--skip-git-repo-check"),
		flagOpt("--dangerously-bypass-approvals-and-sandbox", func() { a.bypass = true },
			"--dangerously-bypass-approvals-and-sandbox", "--yolo"),
		flagOpt("--ephemeral", func() { a.ephemeral = true }, "--ephemeral"),
		flagOpt("--ignore-user-config", func() {}, "--ignore-user-config"),
		flagOpt("--ignore-rules", func() {}, "--ignore-rules"),
		valueOpt("--model <MODEL>", func(v string) { a.model = v }, "-m", "--model"),
		valueOpt("--output-last-message <FILE>", func(v string) { a.lastMessageFile = v }, "-o", "--output-last-message"),
		valueOpt("--config <key=value>", ignore, "-c", "--config"),
		valueOpt("--image <FILE>", ignore, "-i", "--image"),
	}
	if resume {
		return append(opts,
			flagOpt("--last", func() { a.last = true }, "--last"),
			flagOpt("--all", func() { a.all = true }, "--all"))
	}
	return append(opts,
		option{names: []string{"-s", "--sandbox"}, usage: "--sandbox <SANDBOX_MODE>", value: true,
			choices: []string{"read-only", "workspace-write", "danger-full-access"}, set: ignore},
		option{names: []string{"--color"}, usage: "--color <COLOR>", value: true,
			choices: []string{"always", "never", "auto"}, set: ignore},
		valueOpt("--profile <CONFIG_PROFILE>", ignore, "-p", "--profile"),
		valueOpt("--cd <DIR>", func(v string) { a.cd = v }, "-C", "--cd"),
		valueOpt("--add-dir <DIR>", ignore, "--add-dir"),
		valueOpt("--output-schema <FILE>", ignore, "--output-schema"),
		valueOpt("--local-provider <OSS_PROVIDER>", ignore, "--local-provider"),
		flagOpt("--oss", func() {}, "--oss"),
		flagOpt("--full-auto", func() {}, "--full-auto"),
	)
}

// parseCodexArgs parses argv (without the program name) the way clap
// parses `codex exec [OPTIONS] [PROMPT]` and `codex exec resume [OPTIONS]
// [SESSION_ID] [PROMPT]`.
func parseCodexArgs(args []string) (codexArgs, error) {
	var a codexArgs
	if len(args) == 0 || (args[0] != "exec" && args[0] != "e") {
		return a, fakeError(codexExitError, "codex: only `codex exec` is faked; the interactive TUI needs a terminal")
	}
	execDialect := clap{codexExecUsage}
	pos, rest, err := parseOptions(args[1:], a.options(false), execDialect, true)
	if err != nil {
		return a, err
	}
	if len(pos) == 1 && pos[0] == "resume" && rest != nil {
		return a, a.parseResume(rest)
	}
	if len(pos) == 1 && pos[0] == "review" && rest != nil {
		return a, fakeError(codexExitError, "codex: `codex exec review` is not faked")
	}
	more, _, err := parseOptions(rest, a.options(false), execDialect, false)
	if err != nil {
		return a, err
	}
	pos = append(pos, more...)
	if len(pos) > 1 {
		return a, execDialect.extra(pos[1])
	}
	if len(pos) == 1 {
		a.prompt, a.hasPrompt = pos[0], true
	}
	return a, nil
}

// parseResume parses what follows `codex exec ... resume`. With --last a
// lone positional is the prompt, not a session id.
func (a *codexArgs) parseResume(args []string) error {
	a.resume = true
	dl := clap{codexResumeUsage}
	pos, _, err := parseOptions(args, a.options(true), dl, false)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 2:
		return dl.extra(pos[2])
	case len(pos) == 2:
		a.session, a.prompt, a.hasPrompt = pos[0], pos[1], true
	case len(pos) == 1 && a.last:
		a.prompt, a.hasPrompt = pos[0], true
	case len(pos) == 1:
		a.session = pos[0]
	}
	return nil
}

// readPrompt returns the prompt as codex exec builds it: the argument, with
// piped stdin appended as a <stdin> block; stdin alone when the argument is
// "-" or absent.
func (a codexArgs) readPrompt() (string, error) {
	if a.hasPrompt && a.prompt != "-" {
		extra, err := readStdin()
		if err != nil {
			return "", cliError(codexExitError, "Failed to read prompt from stdin: %v", err)
		}
		if strings.TrimSpace(extra) == "" {
			return a.prompt, nil
		}
		return a.prompt + "\n\n<stdin>\n" + strings.TrimSuffix(extra, "\n") + "\n</stdin>", nil
	}
	if !a.hasPrompt && isTerminal(os.Stdin) {
		return "", cliError(codexExitError, "No prompt provided. Either specify one as an argument or pipe the prompt into stdin.")
	}
	prompt, err := readStdin()
	if err != nil {
		return "", cliError(codexExitError, "Failed to read prompt from stdin: %v", err)
	}
	if strings.TrimSpace(prompt) == "" {
		return "", cliError(codexExitError, "No prompt provided via stdin.")
	}
	return prompt, nil
}

// runCodex answers as `codex`. It accepts, the way clap parses them
// (options anywhere, --name=value and -xVALUE too; usage errors exit 2):
//
//	codex exec --json [--skip-git-repo-check] [--dangerously-bypass-approvals-and-sandbox] [-m M] [-c K=V] [-o FILE] [-C DIR] ... [PROMPT|-]
//	codex exec resume --json ... SESSION_ID [PROMPT|-]
//	codex exec resume --json ... --last [--all] [PROMPT|-]
//
// The prompt is the argument with piped stdin appended as a <stdin> block,
// or stdin alone when the argument is "-" or absent. Outside a git work
// tree it needs --skip-git-repo-check or the bypass, as codex does. Human
// output (no --json) and the other commands are not faked.
func runCodex(args []string) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-V") {
		fmt.Println(codexVersion)
		return 0
	}
	a, err := parseCodexArgs(args)
	if err != nil {
		return fail(err)
	}
	if !a.json {
		return fail(fakeError(codexExitError, "codex: only --json output is faked"))
	}
	if a.cd != "" {
		if err := os.Chdir(a.cd); err != nil {
			return fail(cliError(codexExitError, "Error: %v", err))
		}
	}
	if cwd, _ := os.Getwd(); !a.skipGitCheck && !a.bypass && !inGitRepo(cwd) {
		return fail(cliError(codexExitError, "Not inside a trusted directory and --skip-git-repo-check was not specified."))
	}
	prompt, err := a.readPrompt()
	if err != nil {
		return fail(err)
	}
	req := request{prompt: prompt, ephemeral: a.ephemeral}
	switch {
	case a.resume && a.last:
		req.last, req.anyDir = true, a.all
	case a.resume:
		req.resume = a.session
	}
	p, err := codexEngine().prepare(req)
	if err != nil {
		return fail(err)
	}
	code := p.run()
	if a.lastMessageFile != "" && p.completed {
		text, _ := codexFinalText(p.stream.lines)
		if err := os.WriteFile(a.lastMessageFile, []byte(text), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "Failed to write last message file %q: %v\n", a.lastMessageFile, err)
		}
	}
	return code
}

// inGitRepo reports whether dir is inside a git work tree.
func inGitRepo(dir string) bool {
	for {
		if fileExists(filepath.Join(dir, ".git")) {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

// codexAgentMessage finds the site of the final answer: the text of the last
// completed agent_message item.
func codexAgentMessage(lines [][]byte) []answerSite {
	var sites []answerSite
	for i, line := range lines {
		var ev struct {
			Type string `json:"type"`
			Item struct {
				Type string          `json:"type"`
				Text json.RawMessage `json:"text"`
			} `json:"item"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Type == "item.completed" &&
			ev.Item.Type == "agent_message" && isJSONString(ev.Item.Text) {
			sites = []answerSite{{i, "text", ev.Item.Text}}
		}
	}
	return sites
}

func setCodexAnswer(s *stream, answer string) error {
	return s.replace(codexAgentMessage(s.lines), jsonJS(answer))
}

// codexFinalText returns the final answer of a stream, what codex writes to
// --output-last-message.
func codexFinalText(lines [][]byte) (string, bool) {
	sites := codexAgentMessage(lines)
	if len(sites) == 0 {
		return "", false
	}
	var text string
	_ = json.Unmarshal(sites[0].old, &text)
	return text, true
}
