package conformance

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// impure are the standard packages that reach the process, the file
// system or the network, which a pure package never does.
var impure = []string{"os", "os/exec", "net", "net/http", "io/fs", "syscall"}

// Imports keeps the package in the current directory pure: its non-test
// files import only the standard library and the allowed import paths,
// and none of the standard packages that exec, touch the file system or
// the network.
func Imports(t *testing.T, allowed ...string) {
	t.Helper()
	checkImports(t, allowed, impure)
}

// checkImports fails the test for each import of the current directory's
// non-test files that is neither standard nor allowed, or that is
// forbidden.
func checkImports(t *testing.T, allowed, forbidden []string) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		pkg := parsed.Name.Name
		for _, imp := range parsed.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			std := !strings.Contains(strings.Split(p, "/")[0], ".")
			if !std && !slices.Contains(allowed, p) {
				t.Errorf("%s imports %s; package %s may import only the standard library and %s", f, p, pkg, strings.Join(allowed, ", "))
			}
			if slices.Contains(forbidden, p) {
				t.Errorf("%s imports %s; package %s must stay pure", f, p, pkg)
			}
		}
	}
}
