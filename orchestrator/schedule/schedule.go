// Package schedule owns the runs that start at a time rather than from a
// message: the one-off timers users set with /at, and the crons of
// [[triggers.crons]]. A Scheduler keeps both, persists them in one JSON
// file, and calls back when one is due; what a due item runs, and where its
// answer goes, is the caller's business.
//
// Delivery is at most once. Before a Scheduler calls back for a due timer or
// cron slot it writes, atomically (internal/atomicfile), that the timer is
// gone or the slot fired; a crash between that write and the run loses the
// run rather than repeating it. So a restart neither loses a pending timer
// nor fires a cron twice for one slot:
//
//   - a timer whose due time passed while the bridge was down fires once, at
//     start, marked Missed;
//   - a cron slot missed while down fires once at start if it is younger
//     than Options.MissedAfter (0: missed slots never fire), marked Missed;
//     older slots are skipped and logged. Of several missed slots of one
//     cron only the latest may fire. A slot at most a minute old counts as
//     on time, so a quick restart across a slot does not skip it.
//
// Cron schedules are standard five-field expressions (minute, hour, day of
// month, month, day of week) read by github.com/robfig/cron/v3, in each
// cron's IANA time zone, so "0 9 * * *" in Europe/Berlin fires at 09:00 on
// both sides of a daylight saving change.
//
// Its imports are the standard library, internal/atomicfile and the cron
// library (which no other package of the module uses), and nothing of the
// orchestrator, the config or a chat transport: cmd/untether translates the
// config's crons into Cron values.
package schedule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Log attribute keys.
const (
	logChat  = "chat"
	logTimer = "timer"
	logCron  = "cron"
	logSlot  = "slot"
	logErr   = "err"
)

// Timing of the loop.
const (
	// onTimeGrace is how late a slot or timer may be handled and still
	// count as on time: a loop that wakes a little late (a busy machine, a
	// suspended laptop's first second) is not a bridge that was down.
	onTimeGrace = time.Minute
	// maxSleep bounds each wait of the loop, so that a jump of the wall
	// clock, or a suspend during which monotonic timers stop, delays a due
	// item by at most this much.
	maxSleep = time.Minute
	// retryDelay is the wait before the loop tries again to record a due
	// item it could not write down (and so did not fire).
	retryDelay = 30 * time.Second
)

// ErrNotFound is returned (wrapped) by Cancel and CancelByMessage when no
// pending timer matches.
var ErrNotFound = errors.New("no such timer")

// ErrTooMany is returned (wrapped) by Add when the chat already has
// MaxTimersPerChat pending timers.
var ErrTooMany = errors.New("too many pending timers")

// MaxTimersPerChat bounds the pending timers of one chat.
const MaxTimersPerChat = 100

// Due is a timer or cron slot that has come due: exactly one of Timer and
// Cron is set.
type Due struct {
	Timer *Timer
	Cron  *Cron
	// At is when it was due: the timer's Due, or the cron's slot.
	At time.Time
	// Missed reports that it was due while the bridge was down, and so
	// fires late, at start.
	Missed bool
}

// Options configure a Scheduler.
type Options struct {
	// Path is the JSON file of pending timers and cron slots; its
	// directory must exist. The file is created on the first change.
	Path string
	// Crons are the configured crons, each with a unique ID.
	Crons []Cron
	// MissedAfter is the age past which a cron slot missed while the
	// bridge was down is skipped rather than fired at start; 0 skips every
	// missed slot. It does not apply to timers, which always fire.
	MissedAfter time.Duration
	// Fire is called for each due timer or cron slot, after the file says
	// it fired, from the Scheduler's goroutine, one at a time, in the order
	// they were due. It must return quickly (start the run elsewhere): the
	// next due item waits for it. It may call the Scheduler's methods.
	Fire func(Due)
	// Log defaults to slog.Default().
	Log *slog.Logger
	// Now and After are the clock (time.Now and time.After when nil);
	// tests replace them so that they need not wait.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Scheduler keeps pending timers and crons and fires them when due. Its
// methods are safe for concurrent use.
type Scheduler struct {
	path        string
	missedAfter time.Duration
	fire        func(Due)
	log         *slog.Logger
	now         func() time.Time
	after       func(time.Duration) <-chan time.Time
	crons       []*cron // sorted by ID
	wake        chan struct{}

	mu      sync.Mutex
	timers  []Timer // sorted by Due, then chat, then ID
	state   map[string]cronState
	started bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New reads the file at opts.Path (a missing file means nothing is pending)
// and checks the crons. It fails on a file it cannot read or parse, and on a
// cron whose ID, schedule or time zone is invalid. Nothing fires before
// Start.
func New(opts Options) (*Scheduler, error) {
	if opts.Path == "" {
		return nil, errors.New("new scheduler: no file path")
	}
	if opts.Fire == nil {
		return nil, errors.New("new scheduler: no Fire callback")
	}
	if opts.MissedAfter < 0 {
		return nil, fmt.Errorf("new scheduler: negative MissedAfter %s", opts.MissedAfter)
	}
	s := &Scheduler{
		path:        opts.Path,
		missedAfter: opts.MissedAfter,
		fire:        opts.Fire,
		log:         cmp.Or(opts.Log, slog.Default()),
		now:         opts.Now,
		after:       opts.After,
		wake:        make(chan struct{}, 1),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.after == nil {
		s.after = time.After
	}
	now := s.now()
	ids := map[string]bool{}
	for _, c := range opts.Crons {
		if ids[c.ID] {
			return nil, fmt.Errorf("cron %s: the id is used twice", c.ID)
		}
		ids[c.ID] = true
		pc, err := parseCron(c, now)
		if err != nil {
			return nil, err
		}
		s.crons = append(s.crons, pc)
	}
	slices.SortFunc(s.crons, func(a, b *cron) int { return cmp.Compare(a.ID, b.ID) })
	f, err := readFile(s.path)
	if err != nil {
		return nil, err
	}
	s.timers = f.Timers
	sortTimers(s.timers)
	s.state = f.Crons
	return s, nil
}

// Start starts the Scheduler's goroutine, which first fires what came due
// while the bridge was down, then each timer and cron slot at its time,
// until ctx ends or Close is called. Start may be called once.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("start scheduler: already started")
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go s.loop(ctx)
	return nil
}

// Close stops the goroutine and waits for it, a Fire in progress included.
// Pending timers stay in the file for the next Scheduler. Close may be
// called more than once, and without Start.
func (s *Scheduler) Close() error {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	return nil
}

func (s *Scheduler) loop(ctx context.Context) {
	defer s.wg.Done()
	for {
		wait := s.step()
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-s.after(wait):
		}
	}
}

// poke makes the loop recompute its next wake-up.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// step fires what is due and returns how long to wait for the next. It
// writes the file first and calls back only once the write succeeded.
func (s *Scheduler) step() time.Duration {
	s.mu.Lock()
	now := s.now()
	dues, next, changed := s.collect(now)
	if changed {
		if err := s.saveLocked(next); err != nil {
			s.mu.Unlock()
			s.log.Error("record due timers and cron slots; nothing fires until it succeeds", logErr, err)
			return retryDelay
		}
	}
	wait := s.nextWakeLocked(now)
	s.mu.Unlock()
	for _, d := range dues {
		s.fire(d)
	}
	return wait
}

// collect returns what is due at now, in order, and the file as it is once
// they fired; changed is false when the file need not be written.
func (s *Scheduler) collect(now time.Time) ([]Due, file, bool) {
	next := file{Crons: map[string]cronState{}}
	changed := false
	var dues []Due
	for _, t := range s.timers {
		if t.Due.After(now) {
			next.Timers = append(next.Timers, t)
			continue
		}
		changed = true
		dues = append(dues, Due{Timer: &t, At: t.Due, Missed: now.Sub(t.Due) > onTimeGrace})
	}
	for _, c := range s.crons {
		st, known := s.state[c.ID]
		due, nst := s.cronStep(c, st, known, now)
		if due != nil {
			dues = append(dues, *due)
		}
		if !known || nst != st {
			changed = true
		}
		next.Crons[c.ID] = nst
	}
	// Crons no longer configured leave the file.
	if len(s.state) != len(next.Crons) {
		changed = true
	}
	slices.SortStableFunc(dues, func(a, b Due) int { return a.At.Compare(b.At) })
	return dues, next, changed
}

// nextWakeLocked returns how long the loop may sleep after now.
func (s *Scheduler) nextWakeLocked(now time.Time) time.Duration {
	wake := now.Add(maxSleep)
	if len(s.timers) > 0 && s.timers[0].Due.Before(wake) {
		wake = s.timers[0].Due
	}
	for _, c := range s.crons {
		st := s.state[c.ID]
		if st.Done {
			continue
		}
		if slot := c.next(st.from()); !slot.IsZero() && slot.Before(wake) {
			wake = slot
		}
	}
	return max(wake.Sub(now), time.Millisecond)
}

// saveLocked writes next to the file and, once it is there, makes it the
// Scheduler's state.
func (s *Scheduler) saveLocked(next file) error {
	if err := writeFile(s.path, next); err != nil {
		return err
	}
	s.timers, s.state = next.Timers, next.Crons
	return nil
}
