package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// testbedFile is one file of a test project, relative to its directory.
type testbedFile struct {
	name string
	body string
}

// testbedEngine is what differs between the engines' test projects: the
// instructions file the CLI reads, and its project settings, if any.
type testbedEngine struct {
	name         string
	title        string // as people write it
	instructions string // CLAUDE.md, AGENTS.md or GEMINI.md
	settings     []testbedFile
}

// testbedEngines follow config.EngineNames' order. Settings stay minimal:
// the sandbox, not the engine's settings, is what keeps a run in bounds.
func testbedEngines() []testbedEngine {
	return []testbedEngine{
		{name: "claude", title: "Claude Code", instructions: "CLAUDE.md", settings: []testbedFile{{".claude/settings.json", `{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "permissions": {
    "deny": ["Read(./.env)", "Read(./.env.*)"]
  }
}
`}}},
		{name: "codex", title: "Codex", instructions: "AGENTS.md", settings: []testbedFile{{".codex/config.toml",
			`# Codex reads this project config only once the project is trusted.
model_reasoning_effort = "low"
`}}},
		{name: "opencode", title: "OpenCode", instructions: "AGENTS.md", settings: []testbedFile{{"opencode.json", `{
  "$schema": "https://opencode.ai/config.json",
  "autoupdate": false,
  "share": "disabled"
}
`}}},
		{name: "pi", title: "Pi", instructions: "AGENTS.md", settings: []testbedFile{{".pi/settings.json", `{
  "defaultThinkingLevel": "low"
}
`}}},
		{name: "gemini", title: "Gemini CLI", instructions: "GEMINI.md", settings: []testbedFile{{".gemini/settings.json", `{
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false}
}
`}}},
		{name: "amp", title: "Amp", instructions: "AGENTS.md", settings: []testbedFile{{".amp/settings.json", `{
  "amp.updates.mode": "disabled"
}
`}}},
	}
}

// files are the test project's files: instructions, settings, a README and
// a task small enough to finish in one run.
func (e testbedEngine) files() []testbedFile {
	project := "test-" + e.name
	out := []testbedFile{
		{e.instructions, fmt.Sprintf(`# %s

A scratch project for trying %s through Untether's dev instance.

- Work only inside this directory.
- Keep answers short: they are read in a Telegram chat.
- When asked for the task, do what TASK.md says.
`, project, e.title)},
		{"README.md", fmt.Sprintf(`# %s

Made by `+"`untether testbed init`"+`. Messages in the %s group run %s here, in a
container that mounts only this directory. Send "do the task in TASK.md" to
check that a run edits files and answers; reply to the answer to check resume.
To start over, delete hello.txt and run `+"`untether testbed init`"+` again.
`, project, project, e.title)},
		{"TASK.md", `# Task

hello.txt has two typos. Fix them, then answer with the corrected line.
`},
		{"hello.txt", "helo, wrold\n"},
	}
	return append(out, e.settings...)
}

func newTestbedCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "testbed",
		Short: "Set up test projects for trying each engine on the dev instance",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "init [DIR]",
		Short: "Create DIR/test-projects/test-<engine> for the six engines (default DIR ~/untether) and print their config routes",
		Long: `Create DIR/test-projects/test-<engine> for each engine: its instructions
file, its project settings, a README and a tiny task. Existing files are
never overwritten. Then print the [projects.test-<engine>] tables to paste
into the dev config (~/.untether-dev/untether.toml).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			return runTestbedInit(dir, cmd.OutOrStdout())
		},
	})
	return cmd
}

func runTestbedInit(dir string, out io.Writer) error {
	home, _ := os.UserHomeDir()
	if dir == "" {
		if home == "" {
			return &exitError{exitConfig, errors.New("untether: no home directory: pass DIR")}
		}
		dir = filepath.Join(home, "untether")
	}
	root, err := filepath.Abs(filepath.Join(dir, "test-projects"))
	if err != nil {
		return &exitError{exitConfig, fmt.Errorf("untether: %w", err)}
	}
	var skipped []string
	for _, e := range testbedEngines() {
		s, err := writeTestProject(filepath.Join(root, "test-"+e.name), e.files(), out)
		if err != nil {
			return &exitError{exitFailure, fmt.Errorf("untether: testbed init: %w", err)}
		}
		skipped = append(skipped, s...)
	}
	if len(skipped) > 0 {
		fmt.Fprintf(out, "kept %d existing files as they were:\n  %s\n", len(skipped), strings.Join(skipped, "\n  "))
	}
	fmt.Fprintf(out, "\nAdd these routes to the dev config (%s),\nwith each chat_id set to that engine's Telegram group:\n\n",
		filepath.Join("~", unitFor(true).StateDir, "untether.toml"))
	fmt.Fprint(out, testbedRoutes(root, home))
	return nil
}

// writeTestProject creates the files of one project that are missing and
// returns those it left alone.
func writeTestProject(dir string, files []testbedFile, out io.Writer) (skipped []string, err error) {
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return skipped, err
		}
		// O_EXCL: a file that exists, even one made a moment ago, is kept.
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			skipped = append(skipped, path)
			continue
		}
		if err != nil {
			return skipped, err
		}
		_, err = io.WriteString(w, f.body)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return skipped, fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Fprintf(out, "created %s\n", path)
	}
	return skipped, nil
}

// testbedRoutes is the TOML of the test projects' routes. chat_id 0 routes
// nothing until it is set, and parses, so a pasted block never breaks the
// config.
func testbedRoutes(root, home string) string {
	var b strings.Builder
	for _, e := range testbedEngines() {
		name := "test-" + e.name
		fmt.Fprintf(&b, "[projects.%s]\npath = %s\nchat_id = 0  # the %s group's id (negative)\ndefault_engine = %s\n\n",
			name, strconv.Quote(tildePath(filepath.Join(root, name), home)), name, strconv.Quote(e.name))
	}
	return b.String()
}

// tildePath writes a path under home as ~/..., as the example configs do.
func tildePath(path, home string) string {
	if home != "" && home != "/" {
		if rel, err := filepath.Rel(home, path); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return "~/" + filepath.ToSlash(rel)
		}
	}
	return path
}
