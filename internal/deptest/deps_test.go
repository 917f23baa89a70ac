package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/untether-go/untether"

// root is the module's directory, from this package's.
var root = filepath.Join("..", "..")

type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
	Standard   bool
	Module     *goModule
}

type goModule struct {
	Path    string
	Version string
	Main    bool
	Replace *goModule
}

// goList lists every package of the module and every package they depend
// on, by import path, as the daemon's release build sees them: linux/amd64,
// no cgo, no workspace. It reads module metadata and
// sources only, compiling nothing, and runs once per test binary.
var goList = sync.OnceValues(func() (map[string]pkg, error) {
	cmd := exec.Command("go", "list", "-deps",
		"-json=ImportPath,Dir,GoFiles,Imports,Deps,Standard,Module", "./...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("go list: %w", err)
		}
		pkgs[p.ImportPath] = p
	}
})

// listAll returns every package goList reaches, by import path.
func listAll(t *testing.T) map[string]pkg {
	t.Helper()
	pkgs, err := goList()
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// listModule returns every package of the module, by its path relative to
// the module ("" for the root, "engines/claude"), with its imports and
// transitive dependencies.
func listModule(t *testing.T) map[string]pkg {
	t.Helper()
	pkgs := map[string]pkg{}
	for path, p := range listAll(t) {
		if rel, ok := relPath(path); ok {
			pkgs[rel] = p
		}
	}
	return pkgs
}

// relPath returns path relative to the module, and whether it is in it.
func relPath(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// Each third-party client is imported by exactly one package.
var owners = map[string]string{
	"github.com/mymmrac/telego":     "orchestrator/telegram",
	"github.com/BurntSushi/toml":    "orchestrator/config",
	"github.com/spf13/cobra":        "cmd/untether",
	"github.com/spf13/pflag":        "cmd/untether",
	"github.com/coreos/go-systemd":  "cmd/untether",
	"github.com/blang/semver":       "cmd/untether",
	"golang.org/x/time/rate":        "orchestrator/telegram",
	"github.com/yuin/goldmark":      "orchestrator/render",
	"github.com/robfig/cron":        "orchestrator/schedule",
	"github.com/bmatcuk/doublestar": "internal/projectfs",
	"golang.org/x/crypto":           "sandbox/podman",
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
// (and what is listed) only.
func TestVocabulariesArePure(t *testing.T) {
	pkgs := listModule(t)
	for name, extra := range pureAllowed(t) {
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

// pureAllowed returns the packages whose docs say they import the standard
// library only, each with the few packages it may depend on besides.
func pureAllowed(t *testing.T) map[string][]string {
	t.Helper()
	allowed := map[string][]string{
		"sandbox":         nil,
		"sandbox/process": {module + "/sandbox"},
		"sandbox/podman": {module + "/sandbox",
			"golang.org/x/crypto/ssh", "golang.org/x/crypto/ssh/knownhosts", "golang.org/x/crypto/ssh/internal/bcrypt_pbkdf",
			"golang.org/x/crypto/blowfish", "golang.org/x/crypto/chacha20", "golang.org/x/crypto/curve25519",
			"golang.org/x/crypto/internal/alias", "golang.org/x/crypto/internal/poly1305"},
		"engines":               nil,
		"orchestrator/state":    {module + "/internal/atomicfile"},
		"orchestrator/config":   {"github.com/BurntSushi/toml", "github.com/BurntSushi/toml/internal"},
		"images":                nil,
		"internal/atomicfile":   nil,
		"internal/gitwt":        nil,
		"internal/units":        nil,
		"orchestrator/webhook":  nil,
		"orchestrator/schedule": {module + "/internal/atomicfile", "github.com/robfig/cron/v3"},
		// Test kits: the standard library only, so tests stay cheap to build.
		"orchestrator/telegram/telegramtest": nil,
		"engines/enginetest":                 nil,
		"engines/enginetest/captures":        nil,
		"engines/enginetest/fakeengine":      {module + "/engines/enginetest/captures"},
		"internal/podmantest":                nil,
		"internal/mockapi":                   nil,
		"engines/enginetest/conformance":     {module + "/engines"},
	}
	for _, a := range adapters(t) {
		allowed[a] = []string{module + "/engines"}
	}
	// The adapters of ACP agents share its codec, which is as pure as they.
	allowed[acpCodec] = []string{module + "/engines"}
	for _, a := range acpAdapters {
		allowed[a] = append(allowed[a], module+"/"+acpCodec)
	}
	return allowed
}

// The orchestrator meets no adapter: only cmd/untether wires them. Besides
// the contracts it drives (engines, sandbox) it uses two libraries of its
// own: internal/projectfs, the rules of files in project folders (with its
// glob matcher), and internal/units.
func TestOrchestratorImportsNoAdapter(t *testing.T) {
	p := listModule(t)["orchestrator"]
	allowed := []string{
		module + "/engines", module + "/sandbox",
		module + "/internal/projectfs", "github.com/bmatcuk/doublestar/v4", module + "/internal/units",
	}
	for _, dep := range p.Deps {
		if isStd(dep) {
			continue
		}
		if !slices.Contains(allowed, dep) {
			t.Errorf("orchestrator depends on %s", dep)
		}
	}
}

// kits are the packages only tests (and test tools) may import: no other
// package of the module depends on them, so they never reach the daemon.
var kits = []string{"orchestrator/telegram/telegramtest", "engines/enginetest", "internal/podmantest", "internal/mockapi",
	"vmtest"} // vmtest: the tools of the guest test (make vmtest)

func TestKitsStayInTests(t *testing.T) {
	pkgs := listModule(t)
	if _, ok := pkgs["cmd/untether"]; !ok {
		t.Fatal("package cmd/untether not found")
	}
	for name, p := range pkgs {
		if slices.ContainsFunc(kits, func(k string) bool { return under(name, k) }) {
			continue
		}
		for _, dep := range p.Deps {
			rel, ok := relPath(dep)
			if ok && slices.ContainsFunc(kits, func(k string) bool { return under(rel, k) }) {
				t.Errorf("%s depends on the test kit %s", name, rel)
			}
		}
	}
}

// children returns the packages in the module directory dir's
// subdirectories, relative to the module, leaving out the names in skip:
// the adapters of a vocabulary.
// acpCodec is the client of the Agent Client Protocol, shared by the
// adapters of the agents that speak it (acpAdapters): a child of engines,
// but not an adapter.
const acpCodec = "engines/acp"

var acpAdapters = []string{"engines/opencode", "engines/gemini"}

// adapters lists the engine adapters: the children of engines but its test
// kit and the shared ACP codec.
func adapters(t *testing.T) []string {
	return children(t, "engines", "enginetest", "acp")
}

func children(t *testing.T, dir string, skip ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := listModule(t)
	var names []string
	for _, e := range entries {
		if !e.IsDir() || slices.Contains(skip, e.Name()) {
			continue
		}
		name := dir + "/" + e.Name()
		if _, ok := pkgs[name]; !ok {
			t.Errorf("%s is not a package; adapters of %s are", name, dir)
			continue
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		t.Fatalf("no adapters found in %s", dir)
	}
	return names
}

// under reports whether the module-relative package name is tree or below
// it.
func under(name, tree string) bool {
	return name == tree || strings.HasPrefix(name, tree+"/")
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
