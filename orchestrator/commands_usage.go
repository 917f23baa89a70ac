package orchestrator

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The commands about what runs cost and how they went, read from the cost
// ledger: /usage and /stats.

// period is a span of time /usage and /stats sum over.
type period struct {
	name  string
	start time.Time
}

// periods are today, this week (from Monday) and this month, in the
// budgets' zone.
func (g *budget) periods(now time.Time) []period {
	today, _ := g.day(now)
	local := now.In(g.b.Location)
	y, m, d := today.Date()
	back := (int(local.Weekday()) + 6) % 7 // days since Monday
	return []period{
		{"Today", today},
		{"This week", time.Date(y, m, d-back, 0, 0, 0, 0, g.b.Location)},
		{"This month", time.Date(y, m, 1, 0, 0, 0, 0, g.b.Location)},
	}
}

// usage answers /usage: what runs cost today, this week and this month,
// by project and by engine.
func (c *commands) usage() string {
	g := c.bud
	if g.ledger == nil {
		return "This bridge keeps no cost ledger."
	}
	now := g.now()
	ps := g.periods(now)
	recs := g.ledger.Since(earliest(ps))
	var b strings.Builder
	fmt.Fprintf(&b, "Usage (days in %s):", g.b.Location)
	for _, p := range ps {
		var total int64
		runs := 0
		byProject, byEngine := map[string]int64{}, map[string]int64{}
		estimated := false
		for _, r := range recs {
			if r.Time.Before(p.start) {
				continue
			}
			runs++
			cost := micros(r.CostUSD)
			total += cost
			byProject[r.Project] += cost
			byEngine[r.Engine] += cost
			estimated = estimated || r.Estimated
		}
		fmt.Fprintf(&b, "\n\n%s: %s · %d %s", p.name, formatMicros(total), runs, plural(runs, "run", "runs"))
		if estimated {
			b.WriteString(" (part estimated from tokens)")
		}
		if runs == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n  projects: %s", costList(byProject))
		fmt.Fprintf(&b, "\n  engines: %s", costList(byEngine))
	}
	if lines := c.budgetLines(recs, now); lines != "" {
		b.WriteString("\n\n" + lines)
	}
	return b.String()
}

// budgetLines shows the budgets in force and what today used of the day
// budgets; "" when there are none.
func (c *commands) budgetLines(recs []CostRecord, now time.Time) string {
	g := c.bud
	start, _ := g.day(now)
	var today int64
	for _, r := range recs {
		if !r.Time.Before(start) {
			today += micros(r.CostUSD)
		}
	}
	var parts []string
	if g.b.PerDay > 0 {
		parts = append(parts, fmt.Sprintf("per day %s of %s", formatMicros(today), formatUSD(g.b.PerDay)))
	}
	if g.b.PerProjectDay > 0 {
		parts = append(parts, fmt.Sprintf("per project and day %s", formatUSD(g.b.PerProjectDay)))
	}
	if g.b.PerRun > 0 {
		parts = append(parts, fmt.Sprintf("per run %s", formatUSD(g.b.PerRun)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Budgets: " + strings.Join(parts, " · ")
}

// stats answers /stats: runs, failures by cause and median durations,
// today, this week and this month.
func (c *commands) stats() string {
	g := c.bud
	if g.ledger == nil {
		return "This bridge keeps no cost ledger, so it has no run statistics."
	}
	ps := g.periods(g.now())
	recs := g.ledger.Since(earliest(ps))
	var b strings.Builder
	fmt.Fprintf(&b, "Runs (days in %s):", g.b.Location)
	for _, p := range ps {
		var in []CostRecord
		for _, r := range recs {
			if !r.Time.Before(p.start) {
				in = append(in, r)
			}
		}
		fmt.Fprintf(&b, "\n\n%s: %s", p.name, runSummary(in))
		if len(in) == 0 {
			continue
		}
		byEngine := map[string][]CostRecord{}
		for _, r := range in {
			byEngine[r.Engine] = append(byEngine[r.Engine], r)
		}
		for _, e := range slices.Sorted(maps.Keys(byEngine)) {
			fmt.Fprintf(&b, "\n  %s: %s", e, runSummary(byEngine[e]))
		}
	}
	return b.String()
}

// failureCauses are the outcomes /stats counts as failures, in its order.
var failureCauses = []string{OutcomeOOM, OutcomeTimeout, OutcomeCrash, OutcomeError, OutcomeCancelled}

// runSummary is "N runs · M ok · failed: 1 oom, 2 error · median 12s".
func runSummary(recs []CostRecord) string {
	if len(recs) == 0 {
		return "no runs"
	}
	counts := map[string]int{}
	durations := make([]int64, 0, len(recs))
	for _, r := range recs {
		counts[r.Outcome]++
		durations = append(durations, r.DurationMS)
	}
	s := fmt.Sprintf("%d %s · %d ok", len(recs), plural(len(recs), "run", "runs"), counts[OutcomeOK])
	var failed []string
	for _, cause := range failureCauses {
		if n := counts[cause]; n > 0 {
			failed = append(failed, fmt.Sprintf("%d %s", n, cause))
		}
	}
	if len(failed) > 0 {
		s += " · failed: " + strings.Join(failed, ", ")
	}
	return s + " · median " + formatElapsed(time.Duration(median(durations))*time.Millisecond)
}

// median of xs (not empty); xs is sorted in place.
func median(xs []int64) int64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// costList is "web $0.04, api $0.02": the dearest first.
func costList(m map[string]int64) string {
	names := slices.Collect(maps.Keys(m))
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+" "+formatMicros(m[n]))
	}
	return strings.Join(parts, ", ")
}

func formatMicros(n int64) string { return formatUSD(float64(n) / 1e6) }

func earliest(ps []period) time.Time {
	t := ps[0].start
	for _, p := range ps[1:] {
		if p.start.Before(t) {
			t = p.start
		}
	}
	return t
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
