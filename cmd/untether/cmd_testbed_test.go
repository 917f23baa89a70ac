package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/orchestrator/config"
)

func TestTestbedInit(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	root := filepath.Join(home, "untether", "test-projects")

	code, out, errOut := runCLI(t, "testbed", "init")
	if code != exitOK {
		t.Fatalf("testbed init: exit %d: %s", code, errOut)
	}
	var names []string
	for _, e := range testbedEngines() {
		names = append(names, e.name)
		dir := filepath.Join(root, "test-"+e.name)
		for _, f := range e.files() {
			path := filepath.Join(dir, f.name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%s: %v", e.name, err)
			}
			if strings.HasSuffix(f.name, ".json") && !json.Valid(data) {
				t.Errorf("%s is not valid JSON:\n%s", path, data)
			}
		}
		for _, want := range []string{"README.md", "TASK.md", e.instructions} {
			if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
				t.Errorf("%s: %v", e.name, err)
			}
		}
	}
	if !slices.Equal(names, config.EngineNames()) {
		t.Errorf("test projects for %v, want the config's engines %v", names, config.EngineNames())
	}
	for e, file := range map[string]string{"claude": "CLAUDE.md", "codex": "AGENTS.md", "opencode": "AGENTS.md",
		"pi": "AGENTS.md", "gemini": "GEMINI.md", "amp": "AGENTS.md"} {
		if _, err := os.Stat(filepath.Join(root, "test-"+e, file)); err != nil {
			t.Errorf("%s's instructions: %v", e, err)
		}
	}
	checkTestbedRoutes(t, out, home, root)

	// Idempotent: a second run creates nothing and keeps edited files.
	edited := filepath.Join(root, "test-codex", "AGENTS.md")
	os.WriteFile(edited, []byte("my own instructions\n"), 0o644)
	code, out2, _ := runCLI(t, "testbed", "init")
	if code != exitOK || strings.Contains(out2, "created ") || !strings.Contains(out2, "kept ") || !strings.Contains(out2, edited) {
		t.Fatalf("second testbed init: exit %d\n%s", code, out2)
	}
	if data, _ := os.ReadFile(edited); string(data) != "my own instructions\n" {
		t.Errorf("an existing file was overwritten: %q", data)
	}
	// A deleted file comes back, alone.
	os.Remove(filepath.Join(root, "test-pi", "hello.txt"))
	_, out3, _ := runCLI(t, "testbed", "init")
	if strings.Count(out3, "created ") != 1 || !strings.Contains(out3, filepath.Join(root, "test-pi", "hello.txt")) {
		t.Errorf("third testbed init:\n%s", out3)
	}
}

// checkTestbedRoutes parses the printed routes with the config's parser,
// and compares them with the dev example config's test projects.
func checkTestbedRoutes(t *testing.T, out, home, root string) {
	t.Helper()
	i := strings.Index(out, "[projects.")
	if i < 0 {
		t.Fatalf("no routes printed:\n%s", out)
	}
	routes := out[i:]
	head := "[transports.telegram]\nbot_token = \"123:ABC\"\nallowed_user_ids = [1]\n\n"
	path := filepath.Join(home, ".untether-dev", "untether.toml")
	cfg, err := config.Parse([]byte(head+routes), path, func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	})
	if err != nil {
		t.Fatalf("printed routes do not parse: %v\n%s", err, routes)
	}
	if problems := cfg.CheckPaths(); len(problems) > 0 {
		t.Errorf("routes point to missing directories: %v", problems)
	}
	if len(cfg.Projects) != 6 {
		t.Fatalf("%d projects, want 6", len(cfg.Projects))
	}
	example, err := os.ReadFile("../../contrib/untether-dev.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range config.EngineNames() {
		p, ok := cfg.Project("test-" + e)
		if !ok || p.Path != filepath.Join(root, "test-"+e) || p.DefaultEngine != e {
			t.Errorf("project test-%s: %+v", e, p)
		}
		table := "[projects.test-" + e + "]\npath = \"~/untether/test-projects/test-" + e + "\"\n"
		if !strings.Contains(routes, table) || !strings.Contains(string(example), table) {
			t.Errorf("route of test-%s differs from contrib/untether-dev.example.toml's; want %q in both", e, table)
		}
	}
}

func TestTestbedInitDir(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	dir := filepath.Join(t.TempDir(), "bed")
	code, out, errOut := runCLI(t, "testbed", "init", dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `path = "` + filepath.Join(dir, "test-projects", "test-gemini") + `"`
	if !strings.Contains(out, want) {
		t.Errorf("routes lack %s:\n%s", want, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "test-projects", "test-gemini", ".gemini", "settings.json")); err != nil {
		t.Error(err)
	}
}
