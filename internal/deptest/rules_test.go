package deptest

import (
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// importRule is a sentence of a package doc about what the package must
// not import, as a test on its direct imports.
type importRule struct {
	pkg string // relative to the module
	doc string // the sentence, as the package doc words it
	// forbid lists what pkg must not import: a package of the module,
	// relative to it, or a third-party import path; "x/..." is x and every
	// package below it, and "..." the whole module.
	forbid []string
	// except lists imports that forbid would catch but the doc allows.
	except []string
}

// chatTransport is what "the chat transport" means in a package doc.
var chatTransport = []string{"orchestrator/telegram/...", "github.com/mymmrac/telego/..."}

// importRules returns a row for each "must not import" of the package docs.
// The adapters of engines and sandbox are found by listing their parent's
// directory, so a new adapter gets the rows without opting in.
func importRules(t *testing.T) []importRule {
	rules := []importRule{
		{
			pkg:    "sandbox/podman",
			doc:    "must not import the orchestrator, the engines or any chat transport",
			forbid: append([]string{"orchestrator/...", "engines/..."}, chatTransport...),
		},
		{
			pkg:    "sandbox/process",
			doc:    "must not import the orchestrator, the engines or any chat transport",
			forbid: append([]string{"orchestrator/...", "engines/..."}, chatTransport...),
		},
		{
			pkg:    "orchestrator/telegram",
			doc:    "must not import the sandbox, the engines or the config",
			forbid: []string{"sandbox/...", "engines/...", "orchestrator/config/..."},
		},
		{
			pkg:    "orchestrator/render",
			doc:    "imports nothing of the orchestrator but its vocabulary (orchestrator.Text) and must not import the chat transport",
			forbid: append([]string{"orchestrator/..."}, chatTransport...),
			except: []string{"orchestrator"},
		},
		{
			pkg:    "orchestrator/config",
			doc:    "imports nothing else of this module",
			forbid: []string{"..."},
		},
	}
	rules = append(rules, importRule{
		pkg:    "orchestrator/ledger",
		doc:    "imports the standard library and its parent orchestrator only (for the record type)",
		forbid: []string{"..."},
		except: []string{"orchestrator"},
	})
	engines := adapters(t)
	for _, a := range engines {
		rules = append(rules, importRule{
			pkg:    a,
			doc:    "must not import the orchestrator, a sandbox, another adapter or any third-party module",
			forbid: append([]string{"orchestrator/...", "sandbox/..."}, others(engines, a)...),
		})
	}
	rules = append(rules, importRule{
		pkg:    acpCodec,
		doc:    "must not import the orchestrator, a sandbox, an engine adapter or any third-party module",
		forbid: append([]string{"orchestrator/...", "sandbox/..."}, engines...),
	})
	sandboxes := children(t, "sandbox")
	for _, s := range sandboxes {
		rules = append(rules, importRule{
			pkg:    s,
			doc:    "adapts the vocabulary of package sandbox, never another backend",
			forbid: others(sandboxes, s),
		})
	}
	return rules
}

// others returns the names but name.
func others(names []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == name })
}

func TestImportRules(t *testing.T) {
	pkgs := listModule(t)
	for _, r := range importRules(t) {
		p, ok := pkgs[r.pkg]
		if !ok {
			t.Errorf("package %s not found", r.pkg)
			continue
		}
		for _, imp := range p.Imports {
			if slices.ContainsFunc(r.except, func(e string) bool { return matches(e, imp) }) {
				continue
			}
			if slices.ContainsFunc(r.forbid, func(f string) bool { return matches(f, imp) }) {
				t.Errorf("%s imports %s; its doc says it %s", r.pkg, imp, r.doc)
			}
		}
	}
}

// matches reports whether the import path imp is what pattern names (see
// importRule.forbid).
func matches(pattern, imp string) bool {
	if pattern == "..." {
		return imp == module || strings.HasPrefix(imp, module+"/")
	}
	if first, _, _ := strings.Cut(pattern, "/"); !strings.Contains(first, ".") {
		pattern = module + "/" + pattern
	}
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return imp == tree || strings.HasPrefix(imp, tree+"/")
	}
	return imp == pattern
}

func TestMatches(t *testing.T) {
	tests := []struct {
		pattern, imp string
		want         bool
	}{
		{"orchestrator/...", module + "/orchestrator", true},
		{"orchestrator/...", module + "/orchestrator/telegram", true},
		{"orchestrator/...", module + "/orchestratorx", false},
		{"orchestrator", module + "/orchestrator/telegram", false},
		{"engines/claude", module + "/engines/claude", true},
		{"...", module + "/sandbox", true},
		{"...", module, true},
		{"...", "github.com/untether-go/other", false},
		{"...", "fmt", false},
		{"github.com/mymmrac/telego/...", "github.com/mymmrac/telego/telegoapi", true},
		{"github.com/mymmrac/telego/...", "github.com/mymmrac/telegoutil", false},
	}
	for _, tt := range tests {
		if got := matches(tt.pattern, tt.imp); got != tt.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tt.pattern, tt.imp, got, tt.want)
		}
	}
}

// docRule finds the sentences of a package doc that say who may import
// what.
var docRule = regexp.MustCompile(`(?i)must\s+not\s+import|imports\s+nothing|only\s+package\s+(?:of\s+this\s+module\s+)?that\s+imports|only\s+importer`)

// TestDocRulesHaveRows keeps the package docs and this package in step:
// each doc that says what the package must not import has a row in
// importRules, and each that says it is the only importer of a module owns
// one in owners.
func TestDocRulesHaveRows(t *testing.T) {
	ruled := map[string]bool{}
	for _, r := range importRules(t) {
		ruled[r.pkg] = true
	}
	found := 0
	for name, p := range listModule(t) {
		doc := packageDoc(t, p)
		for _, m := range docRule.FindAllString(doc, -1) {
			found++
			m = strings.ToLower(strings.Join(strings.Fields(m), " "))
			switch {
			case strings.HasPrefix(m, "only"):
				if !slices.Contains(slices.Collect(maps.Values(owners)), name) {
					t.Errorf("the doc of %s says it is the only importer of a module, but owners has no entry for %s", name, name)
				}
			case !ruled[name]:
				t.Errorf("the doc of %s says what it must not import, but importRules has no row for %s", name, name)
			}
		}
	}
	if found == 0 {
		t.Error("no package doc states an import rule; is the doc parsing broken?")
	}
}

// packageDoc returns the package comment of p's non-test files.
func packageDoc(t *testing.T, p pkg) string {
	t.Helper()
	var docs []string
	for _, f := range p.GoFiles {
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if file.Doc != nil {
			docs = append(docs, file.Doc.Text())
		}
	}
	return strings.Join(docs, "\n")
}
