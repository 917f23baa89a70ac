package orchestrator

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/sandbox"
)

// Budgets are what runs may cost, in US dollars; 0 leaves a budget out.
// The day budgets need a CostLedger (Options.Ledger).
type Budgets struct {
	// PerRun cancels a run whose cost, estimated from the tokens it
	// reports as it goes (engines.UsageUpdate, priced with Prices), passes
	// it; a run whose cost is known only at its end is said over budget in
	// its final answer.
	PerRun float64
	// PerDay caps the instance's runs of a day, PerProjectDay each
	// project's: once spent, new runs are refused until the day ends.
	PerDay        float64
	PerProjectDay float64
	// WarnAt is the percentage of a day budget at which the answer that
	// reaches it carries a warning; 0 means 80.
	WarnAt int
	// Location is where a day ends (at midnight), and where /usage counts
	// weeks and months; nil means UTC.
	Location *time.Location
	// Prices are per model (see Budgets.price).
	Prices map[string]Price
}

// Price is what a model's tokens cost, in US dollars per million tokens.
type Price struct {
	Input, Output, Cached float64
}

// price returns model's price: its own entry, else the longest entry its
// name starts with.
func (b *Budgets) price(model string) (Price, bool) {
	if p, ok := b.Prices[model]; ok {
		return p, true
	}
	best, found := "", false
	for name := range b.Prices {
		if name != "" && strings.HasPrefix(model, name) && len(name) > len(best) {
			best, found = name, true
		}
	}
	return b.Prices[best], found
}

// estimate is what usage costs at model's price; ok is false when model
// has no price.
func (b *Budgets) estimate(model string, u engines.Usage) (usd float64, ok bool) {
	p, ok := b.price(model)
	if !ok {
		return 0, false
	}
	return (float64(u.InputTokens)*p.Input + float64(u.OutputTokens)*p.Output + float64(u.CachedTokens)*p.Cached) / 1e6, true
}

// micros turns dollars into millionths of a dollar: sums and comparisons
// are made in integers, so that 0.02 + 0.02 reaches 80% of 0.05.
func micros(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

// formatUSD shows an amount the way the footer does: cents for amounts of
// a dollar or more, else up to four decimals.
func formatUSD(usd float64) string {
	if usd >= 1 || usd == 0 {
		return fmt.Sprintf("$%.2f", usd)
	}
	s := strings.TrimRight(fmt.Sprintf("%.4f", usd), "0")
	if i := strings.IndexByte(s, '.'); len(s)-i < 3 {
		s += strings.Repeat("0", 3-(len(s)-i))
	}
	return "$" + s
}

// budget keeps the cost ledger and applies the budgets. Its state is the
// ledger's: what it says survives restarts, and each warning is given once
// a day because only one run's record can bring a day's total past a
// threshold. Safe for concurrent use.
type budget struct {
	b      *Budgets
	ledger CostLedger // nil: nothing is recorded, no day budget applies
	inst   string
	now    func() time.Time
}

func newBudget(opts *Options) *budget {
	if opts.Budgets.WarnAt <= 0 || opts.Budgets.WarnAt > 100 {
		opts.Budgets.WarnAt = 80
	}
	if opts.Budgets.Location == nil {
		opts.Budgets.Location = time.UTC
	}
	return &budget{b: &opts.Budgets, ledger: opts.Ledger, inst: opts.Instance, now: time.Now}
}

// day returns the start of t's day and of the next, in the budgets' zone.
func (g *budget) day(t time.Time) (start, next time.Time) {
	t = t.In(g.b.Location)
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, g.b.Location), time.Date(y, m, d+1, 0, 0, 0, 0, g.b.Location)
}

// dayScope is one day budget: the instance's, or a project's.
type dayScope struct {
	project string // "" for the instance
	limit   float64
}

func (s dayScope) matches(r CostRecord) bool { return s.project == "" || r.Project == s.project }

// what names the budget for users.
func (s dayScope) what() string {
	if s.project == "" {
		return "today's budget"
	}
	return "project " + s.project + "'s budget for today"
}

// scopes are the day budgets that apply to a run of project.
func (g *budget) scopes(project string) []dayScope {
	var out []dayScope
	if g.b.PerDay > 0 {
		out = append(out, dayScope{limit: g.b.PerDay})
	}
	if g.b.PerProjectDay > 0 {
		out = append(out, dayScope{project: project, limit: g.b.PerProjectDay})
	}
	return out
}

// refusal is why a new run of project may not start (a day budget is
// spent), or "".
func (g *budget) refusal(project string) string {
	if g.ledger == nil {
		return ""
	}
	now := g.now()
	start, next := g.day(now)
	today := within(g.ledger.Since(start), next)
	for _, s := range g.scopes(project) {
		var spent int64
		for _, r := range today {
			if s.matches(r) {
				spent += micros(r.CostUSD)
			}
		}
		if spent >= micros(s.limit) {
			return fmt.Sprintf("Not run: %s is spent (%s of %s). It resets at midnight %s, in %s.",
				s.what(), formatUSD(float64(spent)/1e6), formatUSD(s.limit), g.b.Location, formatElapsed(next.Sub(now)))
		}
	}
	return ""
}

// dayNotes are what the answer of run id, recorded in the ledger, says of
// the day budgets of its record's day: a warning when its record brought a
// total to warn_at, a notice when it spent a budget. The same record gives
// the same notes, so an answer concluded again after a restart says the
// same (unless its day is over by then: its budgets no longer matter).
func (g *budget) dayNotes(id, project string) []string {
	if g.ledger == nil {
		return nil
	}
	now := g.now()
	var ended time.Time
	for _, r := range g.ledger.Since(now.Add(-48 * time.Hour)) {
		if r.Run == id {
			ended = r.Time
			break
		}
	}
	start, next := g.day(ended)
	if ended.IsZero() || !next.After(now) {
		return nil
	}
	today := within(g.ledger.Since(start), next)
	var notes []string
	for _, s := range g.scopes(project) {
		var before, cost int64
		found := false
		for _, r := range today {
			if r.Run == id {
				cost, found = micros(r.CostUSD), true
				break
			}
			if s.matches(r) {
				before += micros(r.CostUSD)
			}
		}
		if !found || cost == 0 {
			continue
		}
		limit := micros(s.limit)
		warn := limit * int64(g.b.WarnAt) / 100
		after := before + cost
		switch {
		case after >= limit && before < limit:
			notes = append(notes, fmt.Sprintf("⛔ Budget: %s is spent (%s of %s). New runs are refused until midnight %s, in %s.",
				s.what(), formatUSD(float64(after)/1e6), formatUSD(s.limit), g.b.Location, formatElapsed(next.Sub(now))))
		case after >= warn && before < warn:
			notes = append(notes, fmt.Sprintf("⚠ Budget: %s of %s used (%d%%).",
				formatUSD(float64(after)/1e6), s.what(), after*100/limit))
		}
	}
	return notes
}

// within returns the records of recs before end.
func within(recs []CostRecord, end time.Time) []CostRecord {
	out := recs[:0:0]
	for _, r := range recs {
		if r.Time.Before(end) {
			out = append(out, r)
		}
	}
	return out
}

// runMeter follows what a run spends as its engine reports usage, and
// stops the run once its estimated cost passes the per-run budget. Safe
// for concurrent use.
type runMeter struct {
	mu      sync.Mutex
	model   string
	usage   engines.Usage
	stopped string // why the budget stopped the run, "" while it did not
}

// observeUsage follows the usage in evs; called with every batch of the
// run's events.
func (r *run) observeUsage(evs []engines.Event) {
	m := &r.meter
	g := r.sup.bud
	for _, ev := range evs {
		m.mu.Lock()
		switch e := ev.(type) {
		case engines.Started:
			if e.Model != "" {
				m.model = e.Model
			}
		case engines.UsageUpdate:
			if e.Model != "" {
				m.model = e.Model
			}
			m.usage = e.Usage
		default:
			m.mu.Unlock()
			continue
		}
		stop := ""
		if g.b.PerRun > 0 && m.stopped == "" {
			stop = perRunStop(g.b, m.model, m.usage)
			m.stopped = stop
		}
		m.mu.Unlock()
		if stop != "" {
			r.logger().Info("run over its per-run budget: cancelling", "budget", g.b.PerRun)
			r.cancel()
		}
	}
}

// perRunStop is why a run that spent u on model so far must stop, "" while
// it is within the per-run budget (or its cost cannot be known): the cost
// the engine reports, else the one estimated with the model's price.
func perRunStop(b *Budgets, model string, u engines.Usage) string {
	if u.CostUSD > 0 {
		if micros(u.CostUSD) <= micros(b.PerRun) {
			return ""
		}
		return fmt.Sprintf("Stopped: this run passed its per-run budget of %s (%s so far, as the engine reports).",
			formatUSD(b.PerRun), formatUSD(u.CostUSD))
	}
	est, ok := b.estimate(model, u)
	if !ok || micros(est) <= micros(b.PerRun) {
		return ""
	}
	return fmt.Sprintf("Stopped: this run passed its per-run budget of %s (about %s so far, estimated from %d input and %d output tokens of %s).",
		formatUSD(b.PerRun), formatUSD(est), u.InputTokens, u.OutputTokens, model)
}

// budgetStop is why the per-run budget stopped r, "" when it did not.
func (r *run) budgetStop() string {
	r.meter.mu.Lock()
	defer r.meter.mu.Unlock()
	return r.meter.stopped
}

// outcome classifies how r ended for the ledger: res is its container's
// result, own whether the engine gave its own Completed (not one made up
// from its exit), c the Completed.
func outcome(res sandbox.Result, own bool, c engines.Completed) string {
	switch {
	case res.OOMKilled:
		return OutcomeOOM
	case res.TimedOut:
		return OutcomeTimeout
	case res.Cancelled:
		return OutcomeCancelled
	case c.OK:
		return OutcomeOK
	case !own && res.ExitCode != 0:
		return OutcomeCrash
	}
	return OutcomeError
}

// account records r, which ended with c, in the ledger and returns what
// its answer says about the budgets. A run that never started is not
// recorded.
func (r *run) account(c engines.Completed, log *slog.Logger) []string {
	g := r.sup.bud
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if started.IsZero() {
		return nil
	}
	rec := r.costRecord(c, started)
	var notes []string
	stop := r.budgetStop()
	if g.b.PerRun > 0 && stop == "" && micros(rec.CostUSD) > micros(g.b.PerRun) {
		notes = append(notes, fmt.Sprintf("⚠ This run cost %s, over its per-run budget of %s.", formatUSD(rec.CostUSD), formatUSD(g.b.PerRun)))
	}
	if g.ledger == nil {
		return notes
	}
	added, err := g.ledger.Record(rec)
	if err != nil {
		log.Error("record the run's cost", "err", err)
		return notes
	}
	if !added {
		log.Info("run's cost recorded already (concluded again after a restart)")
	}
	return append(notes, g.dayNotes(r.id, r.project.Name)...)
}

// costRecord is r's ledger record: the cost the engine reported, else the
// one estimated from its tokens (the final ones, else the last reported
// while it ran).
func (r *run) costRecord(c engines.Completed, started time.Time) CostRecord {
	g := r.sup.bud
	r.meter.mu.Lock()
	model, usage := r.meter.model, r.meter.usage
	r.meter.mu.Unlock()
	if c.Model != "" {
		model = c.Model
	}
	if c.Usage.InputTokens+c.Usage.OutputTokens+c.Usage.CachedTokens > 0 || c.Usage.CostUSD > 0 {
		usage = c.Usage
	}
	now := g.now()
	rec := CostRecord{
		Time: now, Run: r.id, Instance: g.inst, ChatID: r.msg.ChatID, ThreadID: r.msg.ThreadID,
		Project: r.project.Name, Engine: r.engine.Name(), Model: model, CostUSD: usage.CostUSD,
		InputTokens: usage.InputTokens, OutputTokens: usage.OutputTokens, CachedTokens: usage.CachedTokens,
		DurationMS: now.Sub(started).Milliseconds(), Outcome: r.outcome,
	}
	if rec.Outcome == "" {
		rec.Outcome = OutcomeError
		if c.OK {
			rec.Outcome = OutcomeOK
		}
	}
	if rec.CostUSD <= 0 {
		if est, ok := g.b.estimate(model, usage); ok && est > 0 {
			rec.CostUSD, rec.Estimated = est, true
		}
	}
	if r.budgetStop() != "" {
		rec.Reason = "per_run budget"
	}
	return rec
}

// engineCompleted reports whether the engine's own Completed event came.
func (v *progressView) engineCompleted() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.completed != nil
}
