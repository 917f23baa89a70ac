package orchestrator

import "time"

// pace calls flush when dirty signals, at most once per interval: a
// signal within interval of the last flush waits for the rest of it, and
// the signals meanwhile fold into that one flush. hold, when it reports
// true, ignores a signal (nothing more is to be shown). Between flushes,
// each tick calls onTick (a nil tick never comes). It returns when quit
// is closed.
func pace(quit, dirty <-chan struct{}, interval time.Duration, tick <-chan time.Time, onTick func(), hold func() bool, flush func()) {
	var last time.Time
	var timer *time.Timer
	var due <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-quit:
			return
		case <-tick:
			onTick()
		case <-dirty:
			if due != nil || hold() {
				continue
			}
			wait := interval - time.Since(last)
			if wait <= 0 {
				flush()
				last = time.Now()
				continue
			}
			timer = time.NewTimer(wait)
			due = timer.C
		case <-due:
			due = nil
			flush()
			last = time.Now()
		}
	}
}
