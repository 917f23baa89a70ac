package deptest

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/untether-go/untether"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

// listModule returns every package of the module with its imports and
// transitive dependencies, as the daemon's build sees them.
func listModule(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
	}
	return pkgs
}

// Each third-party client is imported by exactly one package.
var owners = map[string]string{
	"github.com/mymmrac/telego":    "orchestrator/telegram",
	"github.com/BurntSushi/toml":   "orchestrator/config",
	"github.com/spf13/cobra":       "cmd/untether",
	"github.com/spf13/pflag":       "cmd/untether",
	"github.com/coreos/go-systemd": "cmd/untether",
	"golang.org/x/time/rate":       "orchestrator/telegram",
}

// The Podman service is spoken to over its REST API by sandbox/podman
// itself: Podman's Go libraries need cgo, btrfs and gpgme headers and build
// tags, which a plain `go build` or `go install` must not.
func TestNoPodmanLibraries(t *testing.T) {
	forbidden := []string{"github.com/containers/", "github.com/opencontainers/", "go.podman.io/"}
	for name, p := range listModule(t) {
		for _, dep := range p.Deps {
			for _, prefix := range forbidden {
				if strings.HasPrefix(dep, prefix) {
					t.Errorf("%s depends on %s", name, dep)
				}
			}
		}
	}
}

func TestClientsHaveOneOwner(t *testing.T) {
	for name, p := range listModule(t) {
		for _, imp := range p.Imports {
			for prefix, owner := range owners {
				if strings.HasPrefix(imp, prefix) && name != owner {
					t.Errorf("%s imports %s; only %s may", name, imp, owner)
				}
			}
		}
	}
}

func TestParentsDoNotImportChildren(t *testing.T) {
	for name, p := range listModule(t) {
		if name == "" || strings.HasPrefix(name, "cmd/") {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/"+name+"/") {
				t.Errorf("%s imports its child %s", name, imp)
			}
		}
	}
}

// Vocabulary packages and pure adapters depend on the standard library
// (and their parent) only.
func TestVocabulariesArePure(t *testing.T) {
	pkgs := listModule(t)
	allowed := map[string][]string{
		"sandbox":             nil,
		"engines":             nil,
		"engines/claude":      {module + "/engines"},
		"sandbox/podman":      {module + "/sandbox"},
		"orchestrator/state":  nil,
		"orchestrator/config": {"github.com/BurntSushi/toml", "github.com/BurntSushi/toml/internal"},
		// Test kits: the standard library only, so tests stay cheap to build.
		"orchestrator/telegram/telegramtest": nil,
		"engines/enginetest":                 nil,
		"internal/podmantest":                nil,
		"internal/mockapi":                   nil,
		"images":                             nil,
		"engines/enginetest/conformance":     {module + "/engines"},
	}
	for name, extra := range allowed {
		p, ok := pkgs[name]
		if !ok {
			t.Errorf("package %s not found", name)
			continue
		}
		for _, dep := range p.Deps {
			if isStd(dep) || slices.Contains(extra, dep) {
				continue
			}
			t.Errorf("%s depends on %s", name, dep)
		}
	}
}

// The orchestrator meets no adapter: only cmd/untether wires them.
func TestOrchestratorImportsNoAdapter(t *testing.T) {
	p := listModule(t)["orchestrator"]
	for _, dep := range p.Deps {
		if isStd(dep) {
			continue
		}
		if !slices.Contains([]string{module + "/engines", module + "/sandbox"}, dep) {
			t.Errorf("orchestrator depends on %s", dep)
		}
	}
}

// Test kits never reach the daemon's binary.
func TestKitsStayInTests(t *testing.T) {
	kits := []string{"orchestrator/telegram/telegramtest", "engines/enginetest", "internal/podmantest", "internal/mockapi"}
	p := listModule(t)["cmd/untether"]
	for _, dep := range p.Deps {
		for _, k := range kits {
			if strings.HasPrefix(dep, module+"/"+k) {
				t.Errorf("the untether binary depends on the test kit %s", dep)
			}
		}
	}
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
