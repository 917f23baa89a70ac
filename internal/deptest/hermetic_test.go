package deptest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// outside names the folder beside the checkout that tests used to read the
// captured streams from, and that users, packagers and contributors do not
// have. The brackets keep this line from matching itself.
var outside = regexp.MustCompile(`\.\.[/\\]shared\b|\bshared[/]fixtures\b`)

// TestPathsStayInTheModule keeps the repository standing alone: no Go file
// names the shared folder beside the checkout, even in a comment, and no
// relative path written in one (a string literal, or the literal leading
// arguments of filepath.Join and path.Join) climbs out of the module from
// the file's directory.
func TestPathsStayInTheModule(t *testing.T) {
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(abs, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			base := d.Name()
			if name != abs && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") || isModule(name)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		files++
		rel, _ := filepath.Rel(abs, name)
		checkPaths(t, abs, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Errorf("walked %d Go files of the module, want the whole module", files)
	}
}

// isModule reports whether dir holds a module of its own.
func isModule(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "go.mod"))
	return err == nil
}

// checkPaths fails the test for each line of the Go file rel (relative to
// the module root) that names the outside folder or a path out of the
// module.
func checkPaths(t *testing.T, root, rel string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if outside.MatchString(line) {
			t.Errorf("%s:%d names the folder beside the checkout: %s", rel, i+1, strings.TrimSpace(line))
		}
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, rel, data, parser.SkipObjectResolution)
	if err != nil {
		t.Errorf("parse %s: %v", rel, err)
		return
	}
	dir := filepath.Dir(rel)
	ast.Inspect(file, func(n ast.Node) bool {
		var p string
		switch n := n.(type) {
		case *ast.CallExpr:
			p = joinedLiterals(n)
		case *ast.BasicLit:
			p, _ = strconv.Unquote(n.Value)
		}
		if p == "" || filepath.IsAbs(p) {
			return true
		}
		if outside.MatchString(p) {
			t.Errorf("%s: %q names the folder beside the checkout", fset.Position(n.Pos()), p)
		}
		if to := filepath.Join(dir, filepath.FromSlash(path.Clean(p))); to == ".." || strings.HasPrefix(to, ".."+string(filepath.Separator)) {
			t.Errorf("%s: %q leads out of the module", fset.Position(n.Pos()), p)
		}
		return true
	})
}

// joinedLiterals returns the join of the leading string-literal arguments
// of a call to filepath.Join or path.Join, or "" for any other call.
func joinedLiterals(call *ast.CallExpr) string {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Join" {
		return ""
	}
	if x, ok := sel.X.(*ast.Ident); !ok || (x.Name != "filepath" && x.Name != "path") {
		return ""
	}
	var parts []string
	for _, arg := range call.Args {
		lit, ok := arg.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			break
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			break
		}
		parts = append(parts, s)
	}
	return path.Join(parts...)
}
