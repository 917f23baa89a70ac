package deptest

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/modules.txt from go list")

// modulesFile lists every module the untether binary is built from, one
// "path version" per line, sorted by path.
const modulesFile = "testdata/modules.txt"

// TestBinaryModules keeps the daemon's dependency set under review: a change
// to the modules the binary links, or to their versions, shows in the diff of
// testdata/modules.txt, which go test ./internal/deptest -update rewrites.
func TestBinaryModules(t *testing.T) {
	got := binaryModules(t)
	if *update {
		if err := os.WriteFile(modulesFile, formatModules(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(modulesFile)
	if err != nil {
		t.Fatalf("read the module list (go test ./internal/deptest -update writes it): %v", err)
	}
	want, err := parseModules(data)
	if err != nil {
		t.Fatalf("%s: %v", modulesFile, err)
	}
	if diff := diffModules(want, got); diff != "" {
		t.Errorf("the untether binary's modules differ from %s; if that is intended, go test ./internal/deptest -update accepts them:\n%s", modulesFile, diff)
	}
}

// binaryModules returns the version of each module that provides a package
// of the untether binary, by module path, leaving out the standard library
// and this module. A replaced module's version names its replacement.
func binaryModules(t *testing.T) map[string]string {
	t.Helper()
	all := listAll(t)
	bin, ok := all[module+"/cmd/untether"]
	if !ok {
		t.Fatal("package cmd/untether not found")
	}
	mods := map[string]string{}
	for _, dep := range bin.Deps {
		p, ok := all[dep]
		switch {
		case !ok:
			t.Fatalf("go list did not describe %s, a dependency of cmd/untether", dep)
		case p.Standard:
			continue
		case p.Module == nil:
			t.Fatalf("%s is in no module", dep)
		case p.Module.Main:
			continue
		}
		version := p.Module.Version
		if r := p.Module.Replace; r != nil {
			version = strings.TrimSpace(version + " => " + r.Path + " " + r.Version)
		}
		if version == "" {
			t.Fatalf("module %s of %s has no version", p.Module.Path, dep)
		}
		mods[p.Module.Path] = version
	}
	return mods
}

// formatModules renders mods as the lines of modulesFile.
func formatModules(mods map[string]string) []byte {
	var b bytes.Buffer
	for _, path := range slices.Sorted(maps.Keys(mods)) {
		fmt.Fprintf(&b, "%s %s\n", path, mods[path])
	}
	return b.Bytes()
}

// parseModules reads the lines of modulesFile.
func parseModules(data []byte) (map[string]string, error) {
	mods := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		path, version, ok := strings.Cut(line, " ")
		version = strings.TrimSpace(version)
		if !ok || version == "" {
			return nil, fmt.Errorf("line %d: %q is not \"path version\"", n, line)
		}
		if _, dup := mods[path]; dup {
			return nil, fmt.Errorf("line %d: %s is listed twice", n, path)
		}
		mods[path] = version
	}
	return mods, sc.Err()
}

// diffModules describes how got differs from want, one module a line:
// "+ path version" for an added module, "- path version" for a removed one,
// "~ path old -> new" for a changed version. It is empty when they agree.
func diffModules(want, got map[string]string) string {
	paths := slices.Sorted(maps.Keys(want))
	for path := range got {
		if _, ok := want[path]; !ok {
			paths = append(paths, path)
		}
	}
	slices.Sort(paths)
	var b strings.Builder
	for _, path := range paths {
		w, inWant := want[path]
		g, inGot := got[path]
		switch {
		case !inWant:
			fmt.Fprintf(&b, "+ %s %s\n", path, g)
		case !inGot:
			fmt.Fprintf(&b, "- %s %s\n", path, w)
		case w != g:
			fmt.Fprintf(&b, "~ %s %s -> %s\n", path, w, g)
		}
	}
	return b.String()
}

func TestDiffModules(t *testing.T) {
	tests := []struct {
		name      string
		want, got map[string]string
		diff      string
	}{
		{"same", map[string]string{"a.org/x": "v1.0.0"}, map[string]string{"a.org/x": "v1.0.0"}, ""},
		{"added", map[string]string{}, map[string]string{"a.org/x": "v1.0.0"}, "+ a.org/x v1.0.0\n"},
		{"removed", map[string]string{"a.org/x": "v1.0.0"}, map[string]string{}, "- a.org/x v1.0.0\n"},
		{"changed", map[string]string{"a.org/x": "v1.0.0"}, map[string]string{"a.org/x": "v1.1.0"}, "~ a.org/x v1.0.0 -> v1.1.0\n"},
		{
			"sorted by path",
			map[string]string{"c.org/z": "v1.0.0", "b.org/y": "v1.0.0"},
			map[string]string{"a.org/x": "v0.1.0", "b.org/y": "v2.0.0"},
			"+ a.org/x v0.1.0\n~ b.org/y v1.0.0 -> v2.0.0\n- c.org/z v1.0.0\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := diffModules(tt.want, tt.got); got != tt.diff {
				t.Errorf("diff:\n%s\nwant:\n%s", got, tt.diff)
			}
		})
	}
}

func TestParseModules(t *testing.T) {
	mods := map[string]string{"a.org/x": "v1.0.0", "b.org/y": "v0.0.0-20250102033503-faa5f7b0171c", "c.org/z": "v1.2.0 => d.org/z v1.2.1"}
	got, err := parseModules(formatModules(mods))
	if err != nil || !maps.Equal(got, mods) {
		t.Errorf("parseModules(formatModules(m)) = %v, %v; want m = %v", got, err, mods)
	}
	for _, bad := range []string{"a.org/x\n", "a.org/x v1\na.org/x v2\n"} {
		if _, err := parseModules([]byte(bad)); err == nil {
			t.Errorf("parseModules(%q) succeeded, want an error", bad)
		}
	}
}
