package captures

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
)

// TestEmbedsTheWholeFolder keeps the go:embed list and the folder in step:
// a capture added on disk but not embedded would be missed by the fake
// engine and by every test.
func TestEmbedsTheWholeFolder(t *testing.T) {
	embedded := regularFiles(t, FS())
	for _, name := range regularFiles(t, os.DirFS(".")) {
		if path.Dir(name) == "." && path.Ext(name) == ".go" {
			continue // the package itself
		}
		if !slices.Contains(embedded, name) {
			t.Errorf("%s is not embedded: add its folder to the go:embed line", name)
		}
	}
}

// TestEveryCaseIsDocumented checks that each engine's folder says where its
// captures come from: a README naming every case, and the stderr of every
// case beside its stdout.
func TestEveryCaseIsDocumented(t *testing.T) {
	entries, err := fs.ReadDir(FS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	engines := 0
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "mockapi" {
			continue
		}
		engines++
		t.Run(e.Name(), func(t *testing.T) {
			fsys := Engine(e.Name())
			readme, err := fs.ReadFile(fsys, "README.md")
			if err != nil {
				t.Fatalf("no README: %v", err)
			}
			cases, err := fs.Glob(fsys, "*.jsonl")
			if err != nil || len(cases) == 0 {
				t.Fatalf("no captured *.jsonl streams (%v)", err)
			}
			for _, c := range cases {
				if !bytes.Contains(readme, []byte("`"+c+"`")) {
					t.Errorf("README.md does not name %s", c)
				}
				if _, err := fs.Stat(fsys, strings.TrimSuffix(c, ".jsonl")+".stderr.txt"); err != nil {
					t.Errorf("%s has no stderr capture: %v", c, err)
				}
			}
		})
	}
	if engines != 6 {
		t.Errorf("captures of %d engines, want 6 (amp, claude, codex, gemini, opencode, pi)", engines)
	}
}

func TestEngine(t *testing.T) {
	got, err := fs.ReadFile(Engine("claude"), "basic.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := fs.ReadFile(FS(), "claude/basic.jsonl"); len(got) == 0 || !bytes.Equal(got, want) {
		t.Errorf("Engine(claude)/basic.jsonl = %d bytes, want claude/basic.jsonl's %d", len(got), len(want))
	}
	if _, err := fs.ReadFile(Engine("aider"), "basic.jsonl"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading a capture of an engine never captured: err = %v, want fs.ErrNotExist", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Engine(..) did not panic")
		}
	}()
	Engine("..")
}

// regularFiles returns the slash-separated paths of the regular files in
// fsys, sorted.
func regularFiles(t *testing.T, fsys fs.FS) []string {
	t.Helper()
	var names []string
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			names = append(names, path.Clean(name))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}
