package config

import (
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestExampleBudgets: the [budgets] example, commented out in the
// example configs, parses once uncommented (up to its first blank line).
func TestExampleBudgets(t *testing.T) {
	for _, file := range []string{"../../contrib/untether.example.toml", "../../contrib/untether-dev.example.toml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(string(data), "\n# [budgets]\n")
		if !ok {
			t.Fatalf("%s: no commented-out [budgets]", file)
		}
		setting := regexp.MustCompile(`^# (\[[a-z._"0-9-]+\]|[a-z_]+ = .*)$`)
		var b strings.Builder
		for _, line := range strings.Split("# [budgets]\n"+rest, "\n") {
			if line == "" { // the end of the example
				break
			}
			if m := setting.FindStringSubmatch(line); m != nil {
				b.WriteString(m[1] + "\n")
			}
		}
		c := mustParse(t, tg+b.String(), testPath, env())
		want := Budgets{
			PerRun: 2, PerDay: 20, PerProjectDay: 10, WarnAt: 80, Timezone: "Europe/Berlin",
			Prices: map[string]Price{"claude-sonnet-4-5": {Input: 3, Output: 15, Cached: 0.3}},
		}
		if !reflect.DeepEqual(c.Budgets, want) {
			t.Errorf("%s: [budgets] = %+v, want %+v", file, c.Budgets, want)
		}
	}
}

func TestBudgetsProblems(t *testing.T) {
	for _, tt := range []struct {
		toml, key, msg string
	}{
		{"[budgets]\nper_day = -1\n", "budgets.per_day", "above 0"},
		{"[budgets]\nwarn_at = 0\n", "budgets.warn_at", "from 1 to 100"},
		{"[budgets]\nwarn_at = 80.5\n", "budgets.warn_at", "must be an integer"},
		{"[budgets]\ntimezone = \"Local\"\n", "budgets.timezone", "depends on the host"},
		{"[budgets.prices.m]\ninput = 1\n", "budgets.prices.m.output", "required"},
		{"[budgets.prices.m]\ninput = 1\noutput = 2\ncache = 3\n", "budgets.prices.m.cache", "unknown key"},
		{"[budgets]\nprices = 3\n", "budgets.prices", "must be a table"},
	} {
		_, err := Parse([]byte(tg+tt.toml), testPath, env())
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: err = %v", tt.toml, err)
			continue
		}
		found := false
		for _, p := range ce.Problems {
			if p.Key == tt.key && strings.Contains(p.Msg, tt.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: problems %+v, want %s: …%s…", tt.toml, ce.Problems, tt.key, tt.msg)
		}
	}
}

// /usage and /stats are commands: no project may take their names.
func TestUsageAndStatsAreReserved(t *testing.T) {
	for _, name := range []string{"usage", "stats"} {
		_, err := Parse([]byte(tg+"[projects."+name+"]\npath = '/p'\n"), testPath, env())
		if err == nil || !strings.Contains(err.Error(), "taken by the /"+name+" command") {
			t.Errorf("project %s: err = %v", name, err)
		}
	}
}
