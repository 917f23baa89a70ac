package config

import (
	"os/exec"
	"strings"
	"testing"
)

const tomlPkg = "github.com/BurntSushi/toml"

// goList runs `go list` with args and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goBin, append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestDeps checks what config may depend on: the standard library and the
// TOML library, nothing of this module (config is a leaf that cmd/untether
// translates into each package's Options).
func TestDeps(t *testing.T) {
	for _, pkg := range goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".") {
		switch {
		case pkg == "", pkg == "github.com/untether-go/untether/orchestrator/config":
		case pkg == tomlPkg, strings.HasPrefix(pkg, tomlPkg+"/"):
		default:
			t.Errorf("config depends on %s; it may import only the standard library and %s", pkg, tomlPkg)
		}
	}
}

// TestOnlyTOMLImporter checks that no other package of the module imports
// the TOML library: the config schema stays here. internal/warm is exempt:
// it only pre-fetches modules for the build cache.
func TestOnlyTOMLImporter(t *testing.T) {
	lines := goList(t, "-e", "-find", "-f",
		`{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`,
		"github.com/untether-go/untether/...")
	for _, line := range lines {
		pkg, imports, _ := strings.Cut(line, " ")
		switch pkg {
		case "github.com/untether-go/untether/orchestrator/config", "github.com/untether-go/untether/internal/warm":
			continue
		}
		for imp := range strings.FieldsSeq(imports) {
			if imp == tomlPkg || strings.HasPrefix(imp, tomlPkg+"/") {
				t.Errorf("%s imports %s; only orchestrator/config may", pkg, imp)
			}
		}
	}
}
