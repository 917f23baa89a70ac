package config

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestProblemsGolden pins the report a user reads for a config with many
// problems. Regenerate with: go test ./orchestrator/config -run Golden -update
func TestProblemsGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/problems.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data, "/home/u/.untether/untether.toml", env())
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	got := err.Error() + "\n"
	const golden = "testdata/problems.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("report differs from %s (run with -update to accept):\n%s", golden, got)
	}
}
