package config

import "time"

// Defaults and bounds of [sandbox]'s keys about runs in flight.
const (
	defaultStallAfter = 5 * time.Minute
	minStallAfter     = time.Second
)

// sandboxExtras reads [sandbox]'s keys about what users see of runs in
// flight and how their containers are made ahead: footer, stall_after,
// warm.
func sandboxExtras(t *table, sb *Sandbox) {
	if b, ok := t.boolean("footer"); ok {
		sb.Footer = b
	}
	if d, ok := t.duration("stall_after"); ok {
		switch {
		case d == 0:
			sb.StallAfter = 0
		case d < minStallAfter:
			t.problem("stall_after", "must be 0s (never) or at least %s, not %s", minStallAfter, d)
		default:
			sb.StallAfter = d
		}
	}
	if b, ok := t.boolean("warm"); ok {
		sb.Warm = b
		if b && len(sb.Hosts) > 0 {
			t.problem("warm", "warm start is not available with [sandbox.hosts] yet: set warm = false, or run on one host")
		}
	}
}
