package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	systemd "github.com/coreos/go-systemd/v22/daemon"
)

// notifier tells systemd how the daemon is doing (Type=notify units). Each
// call is a silent no-op outside systemd, where NOTIFY_SOCKET is unset.
type notifier struct {
	log   *slog.Logger
	ready sync.Once
}

func (n *notifier) send(state string) {
	if _, err := systemd.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify", "state", state, "err", err)
	}
}

// Ready is called after each successful getUpdates; only the first one
// tells systemd the service is up.
func (n *notifier) Ready() {
	n.ready.Do(func() { n.send(systemd.SdNotifyReady + "\nSTATUS=polling Telegram") })
}

// Stopping tells systemd the drain has begun.
func (n *notifier) Stopping() { n.send(systemd.SdNotifyStopping + "\nSTATUS=stopping: finishing runs") }

// statusInterval is how often STATUS= reports the runs.
const statusInterval = 5 * time.Second

// run reports the runs in flight as STATUS= and pings the watchdog when the
// unit sets WatchdogSec, until ctx ends.
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
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if watchdog > 0 {
			n.send(systemd.SdNotifyWatchdog)
		}
		running, queued := stats()
		status := fmt.Sprintf("STATUS=%d runs in flight, %d queued", running, queued)
		if status != last {
			n.send(status)
			last = status
		}
	}
}
