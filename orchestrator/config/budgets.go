package config

import "strings"

// Defaults of [budgets].
const (
	DefaultWarnAt         = 80
	DefaultBudgetTimezone = "UTC"
)

// Budgets is [budgets]: what runs may cost, in US dollars. A budget left
// out (0) does not apply. Every finished run's cost goes to the instance's
// cost ledger whatever the budgets.
type Budgets struct {
	// PerRun (key `per_run`): a run that passes it is cancelled as soon as
	// the bridge knows (engines that report usage as they go, priced with
	// Prices); for engines that report their cost only at the end, the
	// final answer says the run went over.
	PerRun float64
	// PerDay (key `per_day`) caps the instance's runs of a day, and
	// PerProjectDay (key `per_project_day`) each project's: once spent,
	// new runs are refused until the day ends.
	PerDay        float64
	PerProjectDay float64
	// WarnAt (key `warn_at`, percent, default DefaultWarnAt, 1..100): the
	// answer that brings a day budget's spending to it carries a warning.
	WarnAt int
	// Timezone (key `timezone`, default DefaultBudgetTimezone) is the IANA
	// zone whose midnight ends a day (and whose weeks and months /usage
	// shows).
	Timezone string
	// Prices (tables `[budgets.prices."MODEL"]`) are per model, in US
	// dollars per million tokens; a model is priced by its own entry, else
	// by the longest entry its name starts with
	// ("claude-sonnet-4-5" prices "claude-sonnet-4-5-20250929").
	Prices map[string]Price
}

// Price is what a model's tokens cost, in US dollars per million: keys
// `input` and `output` (required), `cached` (cache reads; default: input).
type Price struct {
	Input, Output, Cached float64
}

// budgets reads [budgets].
func (p *parser) budgets(t *table) Budgets {
	b := Budgets{WarnAt: DefaultWarnAt, Timezone: DefaultBudgetTimezone}
	b.PerRun = budgetAmount(t, "per_run")
	b.PerDay = budgetAmount(t, "per_day")
	b.PerProjectDay = budgetAmount(t, "per_project_day")
	if n, ok := t.integer("warn_at"); ok {
		if n < 1 || n > 100 {
			t.problem("warn_at", "must be a percentage from 1 to 100, not %d", n)
		} else {
			b.WarnAt = int(n)
		}
	}
	if s, ok := t.str("timezone"); ok {
		if msg := checkTimezone(s); msg != "" {
			t.problem("timezone", "%s", msg)
		} else {
			b.Timezone = s
		}
	}
	if pt, ok := t.table("prices"); ok {
		b.Prices = map[string]Price{}
		for _, model := range pt.keys() {
			mt, ok := pt.table(model)
			if !ok {
				continue
			}
			if strings.TrimSpace(model) == "" {
				pt.problem(model, "a model name must not be empty")
			}
			b.Prices[model] = price(mt)
		}
	}
	t.done()
	return b
}

// budgetAmount reads an amount in US dollars: a positive number, 0 when
// absent.
func budgetAmount(t *table, k string) float64 {
	v, ok := t.number(k)
	if !ok {
		return 0
	}
	if v <= 0 {
		t.problem(k, "must be an amount of US dollars above 0, not %v (remove it for no budget)", v)
		return 0
	}
	return v
}

// price reads one model's prices.
func price(t *table) Price {
	var pr Price
	read := func(k string, required bool) (float64, bool) {
		v, ok := t.number(k)
		switch {
		case !ok && required && !t.has(k):
			t.problem(k, "required: US dollars per million %s tokens", k)
		case ok && v < 0:
			t.problem(k, "must not be negative")
			return 0, false
		}
		return v, ok
	}
	pr.Input, _ = read("input", true)
	pr.Output, _ = read("output", true)
	pr.Cached = pr.Input
	if v, ok := read("cached", false); ok {
		pr.Cached = v
	}
	t.done()
	return pr
}
