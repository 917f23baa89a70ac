// Command fakeengine stands in for the coding-agent CLIs in tests: claude,
// codex, opencode, pi, gemini and amp. Installed (or linked) under a CLI's
// name, it answers like that CLI: it accepts the CLI's headless argv (see
// each engine's file), refuses what the real CLI refuses with the CLI's
// wording and status, keeps the CLI's sessions under $HOME, and replays the
// real streams, stdout and stderr, that package captures
// (engines/enginetest/captures) embeds. On request, through directives in
// the prompt (see directives.go), it misbehaves the ways a real agent can:
// it allocates until the OOM killer comes, forks until the pids limit stops
// it, spins the CPUs, hangs, crashes, prints garbage or ignores SIGTERM.
//
// Every invocation is appended to .fakeengine-calls.jsonl in the working
// directory before anything else, so tests can check the argv, user and
// environment the daemon really used.
//
// It is built statically (CGO_ENABLED=0) into the offline test image
// (images/testengine, see enginetest.BuildImage) and by its own tests. Only
// tests use it. It imports the standard library and package captures only.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Exit codes of the fake itself. Each engine answers its own argv errors with
// the codes of the CLI it imitates.
const (
	exitUnknownEngine = 127 // like a shell that cannot find the command
	exitBadDirective  = 2   // a test asked for something the fake cannot do
)

// childRoleEnv marks a re-executed copy of the fake; its value says what the
// copy is for.
const childRoleEnv = "FAKEENGINE_ROLE"

func main() {
	os.Exit(run())
}

func run() int {
	switch os.Getenv(childRoleEnv) {
	case forkbombChildRole:
		return forkbombChild()
	case geminiChildRole:
		return runGeminiChild(os.Args[1:])
	case oomChildRole:
		allocateUntilKilled(context.Background(), os.Stderr)
		return 0
	}
	name := filepath.Base(os.Args[0])
	if name == stdinHelperName {
		// Not an engine: the engine it runs records its own call.
		return runStdinHelper(os.Args[1:])
	}
	recordCall()
	engine := lookupEngine(name)
	if engine == nil {
		fmt.Fprintf(os.Stderr, "fakeengine: no fake engine is called %q (known: %s)\n", name, strings.Join(engineNames(), ", "))
		return exitUnknownEngine
	}
	return engine(os.Args[1:])
}

// engineNames returns the CLIs the fake answers as; the test image installs
// it under each name (enginetest.EngineNames).
func engineNames() []string {
	return []string{"claude", "codex", "opencode", "pi", "gemini", "amp"}
}

// lookupEngine returns the entry point of the engine answering to name, or
// nil.
func lookupEngine(name string) func(args []string) int {
	switch name {
	case "claude":
		return runClaude
	case "codex":
		return runCodex
	case "opencode":
		return runOpencode
	case "pi":
		return runPi
	case "gemini":
		return runGemini
	case "amp":
		return runAmp
	}
	return nil
}
