package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	systemd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/untether-go/untether/orchestrator/telegram"
)

// notifier tells systemd how the daemon is doing (Type=notify units). Each
// call is a silent no-op outside systemd, where NOTIFY_SOCKET is unset.
type notifier struct {
	log *slog.Logger
	// pollWithin is how recent the last successful getUpdates must be for
	// the watchdog to be pinged: the longest a getUpdates may take (its
	// timeout plus the client's margin), so a poll loop that is stuck or
	// keeps failing lets systemd restart the daemon.
	pollWithin time.Duration
	ready      sync.Once

	mu       sync.Mutex
	polled   time.Time // the last successful getUpdates; zero before
	stopping bool
}

// newNotifier returns a notifier for a client polling with pollTimeout and
// telegram.DefaultPollMargin.
func newNotifier(log *slog.Logger, pollTimeout time.Duration) *notifier {
	return &notifier{log: log, pollWithin: pollTimeout + telegram.DefaultPollMargin}
}

func (n *notifier) send(state string) {
	if _, err := systemd.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify", "state", state, "err", err)
	}
}

// Polled is called after each successful getUpdates: it keeps the
// watchdog fed, and the first one tells systemd the service is up.
func (n *notifier) Polled() {
	n.mu.Lock()
	n.polled = time.Now()
	n.mu.Unlock()
	n.ready.Do(func() { n.send(systemd.SdNotifyReady + "\nSTATUS=polling Telegram") })
}

// Stopping tells systemd the drain has begun. The watchdog is pinged from
// then on whatever polling does: the drain has its own timeout, and
// systemd's stop timeout bounds it.
func (n *notifier) Stopping() {
	n.mu.Lock()
	n.stopping = true
	n.mu.Unlock()
	n.send(systemd.SdNotifyStopping + "\nSTATUS=stopping: finishing runs")
}

// alive reports whether the watchdog may be pinged at now: the daemon is
// stopping, or getUpdates succeeded within pollWithin.
func (n *notifier) alive(now time.Time) (ok bool, lastPoll time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopping || !n.polled.IsZero() && now.Sub(n.polled) <= n.pollWithin, n.polled
}

// statusInterval is how often STATUS= reports the runs.
const statusInterval = 5 * time.Second

// run reports the runs in flight as STATUS= and, when the unit sets
// WatchdogSec, pings the watchdog while alive says so, until ctx ends.
func (n *notifier) run(ctx context.Context, stats func() (running, queued int)) {
	interval := statusInterval
	watchdog, err := systemd.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("sd_notify watchdog", "err", err)
	}
	if watchdog > 0 && watchdog/2 < interval {
		interval = watchdog / 2
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	last := ""
	withheld := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if watchdog > 0 {
			switch ok, lastPoll := n.alive(time.Now()); {
			case ok:
				n.send(systemd.SdNotifyWatchdog)
				withheld = false
			case !withheld && !lastPoll.IsZero():
				n.log.Warn("sd_notify watchdog withheld: no successful getUpdates lately", "last_poll", lastPoll)
				withheld = true
			}
		}
		running, queued := stats()
		status := fmt.Sprintf("STATUS=%d runs in flight, %d queued", running, queued)
		if status != last {
			n.send(status)
			last = status
		}
	}
}
