package telegramtest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps checks that the package and its tests import only the standard
// library: a fake that shared a client library could share its mistakes.
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-test", "-f",
		"{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const self = "github.com/untether-go/untether/orchestrator/telegram/telegramtest"
	for pkg := range strings.Lines(string(out)) {
		pkg = strings.TrimSpace(pkg)
		if pkg == "" || pkg == self || pkg == self+".test" || strings.HasPrefix(pkg, self+" [") {
			continue
		}
		t.Errorf("telegramtest depends on %s; it may import only the standard library", pkg)
	}
}
