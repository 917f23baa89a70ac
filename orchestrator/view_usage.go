package orchestrator

import (
	"fmt"
	"strings"
	"time"

	"github.com/untether-go/untether/internal/units"
	"github.com/untether-go/untether/sandbox"
)

// usageLine is the final answer's resource footer: what the run's
// container used, "⚙ 412 MiB / 2 GiB peak · 38 s CPU · 1m12s"; "" when
// the sandbox could not tell.
func usageLine(u *sandbox.Usage, wall time.Duration) string {
	if u == nil {
		return ""
	}
	mem := units.Bytes(u.PeakMemory)
	if u.MemoryLimit > 0 {
		mem += " / " + units.Bytes(u.MemoryLimit)
	}
	parts := []string{mem + " peak", cpuTime(u.CPU) + " CPU"}
	if wall > 0 {
		parts = append(parts, formatElapsed(wall))
	}
	return "⚙ " + strings.Join(parts, " · ")
}

// killedForMemory is the final answer's line for a run that went on after
// the OOM killer ended one of its processes (a build in the agent's shell
// tool, say): "⚠️ a process in this run was killed for memory (limit 2 GiB)".
// It is "" when none was, and for a run that itself ended out of memory:
// its error says so.
func killedForMemory(res sandbox.Result, limit int64) string {
	u := res.Usage
	if res.OOMKilled || u == nil || u.OOMKills == 0 {
		return ""
	}
	if u.MemoryLimit > 0 {
		limit = u.MemoryLimit
	}
	what := "a process in this run was"
	if u.OOMKills > 1 {
		what = fmt.Sprintf("%d processes in this run were", u.OOMKills)
	}
	if limit > 0 {
		return fmt.Sprintf("⚠️ %s killed for memory (limit %s)", what, units.Bytes(limit))
	}
	return "⚠️ " + what + " killed for memory"
}

// cpuTime is CPU time for people: "0.4 s", "38 s", "2m05s".
func cpuTime(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Round(time.Second).Seconds()))
	}
	return formatElapsed(d)
}

// liveUse is a running container's use as /status and a stall notice show
// it: "CPU 0% · 120 MiB".
func liveUse(u sandbox.Usage) string {
	return fmt.Sprintf("CPU %.0f%% · %s", u.CPUPercent, units.Bytes(u.Memory))
}

// stallNote is the progress message's line for a run whose engine has
// been silent for quiet: "⏳ no output for 5m · CPU 0% · 120 MiB"; the
// figures only when the sandbox has them.
func stallNote(quiet time.Duration, u sandbox.Usage, known bool) string {
	s := "⏳ no output for " + quietTime(quiet)
	if known {
		s += " · " + liveUse(u)
	}
	return s
}

// quietTime rounds down, so that the note changes at most once a minute
// past the first: "45s", "5m", "1h05m".
func quietTime(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
