package orchestrator

import "time"

// CostRecord is one finished run in the cost ledger: what it cost, what it
// used and how it ended.
type CostRecord struct {
	// Time is when the run ended.
	Time     time.Time `json:"time"`
	Run      string    `json:"run"`
	Instance string    `json:"instance"`
	ChatID   int64     `json:"chat"`
	ThreadID int64     `json:"topic,omitempty"`
	Project  string    `json:"project"`
	Engine   string    `json:"engine"`
	Model    string    `json:"model,omitempty"`
	CostUSD  float64   `json:"cost_usd"`
	// Estimated marks a cost the bridge estimated from the tokens with
	// the configured prices, because the engine reported none.
	Estimated    bool  `json:"estimated,omitempty"`
	InputTokens  int64 `json:"tokens_in"`
	OutputTokens int64 `json:"tokens_out"`
	CachedTokens int64 `json:"tokens_cached"`
	// DurationMS is the run's wall time, from its container's start.
	DurationMS int64 `json:"duration_ms"`
	// Outcome is how the run ended: OutcomeOK, OutcomeError, OutcomeOOM,
	// OutcomeTimeout, OutcomeCrash or OutcomeCancelled.
	Outcome string `json:"outcome"`
	// Reason says more about a cancelled run ("per_run budget"), "" else.
	Reason string `json:"reason,omitempty"`
}

// How a run ended, in a CostRecord.
const (
	OutcomeOK        = "ok"
	OutcomeError     = "error"     // the engine reported a failure
	OutcomeOOM       = "oom"       // killed at its memory limit
	OutcomeTimeout   = "timeout"   // stopped at its time limit
	OutcomeCrash     = "crash"     // the engine's process died without an answer
	OutcomeCancelled = "cancelled" // by a user, a budget or the bridge's stop
)

// CostLedger keeps the finished runs' records across restarts. Safe for
// concurrent use.
type CostLedger interface {
	// Record appends rec durably, unless a record of the same run (Run)
	// is there already: added is false then, and nothing is written.
	Record(rec CostRecord) (added bool, err error)
	// Since returns the records whose Time is t or later, in the order
	// they were recorded.
	Since(t time.Time) []CostRecord
}
