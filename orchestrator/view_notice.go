package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/untether-go/untether/internal/units"
	"github.com/untether-go/untether/sandbox"
)

// The notices: short texts a run's placeholder or a reply shows outside
// the progress and final views. Pure functions, so that each reads as the
// user sees it.

// Fixed notices.
const (
	// notRunShutdown tells the user a message never ran because the
	// bridge is shutting down.
	notRunShutdown = "The bridge is shutting down: this message was not run. Send it again in a moment."
	// restarting is the reply to a message that arrives during a drain and
	// cannot be kept for the next bridge (a command, or no RunStore).
	restarting = "The bridge is restarting: this message was not run. Try again shortly."
	// cancelledBeforeStart ends a run cancelled before its container ran.
	cancelledBeforeStart = "Cancelled before it started."
	// detachedNote ends the progress message of a run left to the next
	// bridge.
	detachedNote = "↻ The bridge is restarting; this run carries on and its answer will follow."
)

// placeholderText is the first message of an accepted run, which later
// becomes its progress message.
func placeholderText(engine string, ahead int) Text {
	if ahead > 0 {
		return plainText(fmt.Sprintf("queued · %s · %d ahead", engine, ahead))
	}
	return plainText(fmt.Sprintf("starting · %s", engine))
}

// slotWaitText is the placeholder of a run waiting for a free run slot.
func slotWaitText(engine string, limit int) Text {
	return plainText(fmt.Sprintf("queued · %s · waiting for a free slot (%d runs at the limit)", engine, limit))
}

// heldText is the placeholder of a message kept for the next bridge.
func heldText(engine string) Text {
	return plainText(fmt.Sprintf("queued · %s · the bridge is restarting; this message runs once it is back", engine))
}

// drainWaitNote is the note a DrainWait adds to the running runs.
func drainWaitNote(left time.Duration) string {
	return fmt.Sprintf("↻ The bridge is restarting: it waits up to %s for this run to finish.", formatElapsed(left))
}

// undeliveredNote replaces the progress of a run whose answer Telegram
// refused.
func undeliveredNote(runID string) string {
	return fmt.Sprintf("✗ The answer could not be delivered: Telegram refused it. Ask again, or look for run %s in the bridge's log.", runID)
}

// missedText answers a message that waited age while the bridge was down.
func missedText(age time.Duration) string {
	return fmt.Sprintf("Missed while offline: this message arrived %s ago, while the bridge was down, and was not run. Send it again if it still matters.",
		formatElapsed(age))
}

// cause explains, in the user's words, why the sandbox ended a run early;
// "" when it did not. shuttingDown tells a cancel by the bridge's stop from
// one by the user.
func cause(res sandbox.Result, limits sandbox.Limits, shuttingDown bool) string {
	switch {
	case res.OOMKilled:
		return fmt.Sprintf("Out of memory: the run used up its %s memory limit and was stopped.",
			units.Bytes(limits.MemoryBytes))
	case res.TimedOut:
		return fmt.Sprintf("Timed out: the run went past its %s time limit and was stopped.", limits.Timeout)
	case res.Cancelled && shuttingDown:
		return "Stopped: the bridge is shutting down. Send the message again in a moment."
	case res.Cancelled:
		return "Cancelled."
	case res.Gone:
		return "Ended: the run's container was removed from outside the bridge while the run lasted."
	case res.Killed:
		return fmt.Sprintf("Killed: the run's container was stopped from outside the bridge (signal %d).", res.ExitCode-128)
	}
	return ""
}

// sandboxError is the chat text for a run that could not start.
func sandboxError(err error, image, engine string) string {
	var limits *sandbox.LimitsError
	var lost *sandbox.HostLostError
	switch {
	case errors.As(err, &lost):
		return fmt.Sprintf("The run ended: the host %s became unreachable. Send the message again; it goes to a host that is up.", lost.Host)
	case errors.As(err, &limits):
		return fmt.Sprintf("Not run: the sandbox cannot enforce this run's memory and pids limits (%s), and the bridge never runs an agent without them. The host's admin sees the fix with `untether doctor`.", limits.Reason)
	case errors.Is(err, sandbox.ErrImageNotFound):
		return fmt.Sprintf("The %s image %s is missing. Build it on the host with `untether images build %s`.", engine, image, engine)
	case errors.Is(err, sandbox.ErrEngineNotFound):
		return fmt.Sprintf("The %s CLI is not installed on the bridge's host (sandbox = \"process\"): install it there, or use the podman backend.", engine)
	case errors.Is(err, sandbox.ErrUnavailable):
		return "Podman is not reachable, so this run could not be carried out. The bridge keeps running; try again once Podman is back."
	case errors.Is(err, context.Canceled):
		return "Stopped: the bridge is shutting down. Send the message again in a moment."
	}
	return "The run's container could not be started."
}

func formatElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// triggerText is the message a triggered run answers.
func triggerText(t Trigger) string {
	switch t.Kind {
	case "webhook":
		return "⚡ webhook " + t.ID
	case "cron":
		return "⏰ cron " + t.ID
	}
	return "⏰ " + t.Kind + " " + t.ID
}
