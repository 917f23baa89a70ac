package enginetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDeps keeps enginetest and the fake on the standard library (and the
// fake on the captures it replays, themselves standard library only), so
// that any test may import enginetest and the fake builds statically
// anywhere.
func TestDeps(t *testing.T) {
	t.Parallel()
	ours := []string{
		modulePath + "/engines/enginetest",
		modulePath + "/engines/enginetest/fakeengine",
		modulePath + "/engines/enginetest/captures",
	}
	for _, pkg := range []string{".", "./fakeengine", "./captures"} {
		out, err := exec.CommandContext(t.Context(), "go", "list", "-deps",
			"-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if !slices.Contains(ours, dep) {
				t.Errorf("%s imports %s; only the standard library and package captures are allowed", pkg, dep)
			}
		}
	}
}

func TestModuleRoot(t *testing.T) {
	t.Parallel()
	root, err := moduleRoot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, containerfile)); err != nil {
		t.Errorf("module root %s has no %s: %v", root, containerfile, err)
	}
}

func TestIsModuleRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, gomod string
		want        bool
	}{
		{"this module", "module github.com/untether-go/untether\n\ngo 1.26\n", true},
		{"quoted", "// comment\nmodule \"github.com/untether-go/untether\"\n", true},
		{"another module", "module example.com/other\n", false},
		{"no module line", "go 1.26\n", false},
	}
	for _, tt := range tests {
		name := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".mod")
		if err := os.WriteFile(name, []byte(tt.gomod), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := isModuleRoot(name); got != tt.want {
			t.Errorf("%s: isModuleRoot = %v; want %v", tt.name, got, tt.want)
		}
	}
	if isModuleRoot(filepath.Join(dir, "missing")) {
		t.Error("a missing go.mod is a module root")
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		out  string
		n    int
		want string
	}{
		{"short", "  one\ntwo\n", 100, "one\ntwo"},
		{"cut at a line start", "first line\nsecond\nthird\n", 12, "...\nthird"},
		{"empty", "", 10, ""},
	}
	for _, tt := range tests {
		if got := tail([]byte(tt.out), tt.n); got != tt.want {
			t.Errorf("%s: tail = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestReadCallsAndProbe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if calls, err := ReadCalls(dir); err != nil || calls != nil {
		t.Fatalf("no log: %v, %v; want none and no error", calls, err)
	}
	log := `{"argv":["claude","-p"],"cwd":"/workspace","uid":0,"gid":0,"env_keys":["HOME"]}` + "\n" +
		`{"argv":["claude"],"cwd":"/w","uid":1,"gid":2,"env_keys":[]}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, CallsFile), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	calls, err := ReadCalls(dir)
	if err != nil || len(calls) != 2 || calls[0].Cwd != "/workspace" || calls[1].GID != 2 {
		t.Fatalf("calls %+v, %v", calls, err)
	}
	if err := os.WriteFile(filepath.Join(dir, CallsFile), []byte("{\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCalls(dir); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("broken log: err %v; want the line named", err)
	}

	probe := `{"uid":1000,"mounts":[{"path":"/","fstype":"overlay","options":"rw"},{"path":"/","fstype":"overlay","options":"ro"}]}`
	if err := os.WriteFile(filepath.Join(dir, ProbeFile), []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := ReadProbe(dir)
	if err != nil || p.UID != 1000 {
		t.Fatalf("probe %+v, %v", p, err)
	}
	if m, ok := p.MountAt("/"); !ok || m.Options != "ro" {
		t.Errorf("MountAt(/) = %+v, %v; want the last mount", m, ok)
	}
	if _, ok := p.MountAt("/nowhere"); ok {
		t.Error("MountAt found a mount that is not there")
	}
}
