package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	cronlib "github.com/robfig/cron/v3"
)

// Cron is a run started on a schedule: one [[triggers.crons]] of the
// config.
type Cron struct {
	// ID names the cron in the file and the log; unique among the crons.
	// A cron keeps its fired slots (and, with RunOnce, that it is done)
	// under its ID: a cron given a new ID starts afresh.
	ID string
	// Schedule is a five-field expression: minute hour day-of-month month
	// day-of-week, e.g. "0 9 * * 1-5". Descriptors (@daily) and a TZ=
	// prefix are refused: Timezone says the zone.
	Schedule string
	// Timezone is the IANA zone (e.g. "Europe/Berlin") Schedule is read
	// in; "" means UTC.
	Timezone string
	// Project, Engine ("" for the chat's default), Prompt, ChatID and
	// TopicID (0 for none) say what to run and where; the Scheduler only
	// hands them back in Due.
	Project string
	Engine  string
	Prompt  string
	ChatID  int64
	TopicID int64
	// RunOnce makes the cron fire at its first slot after it is first
	// seen, then never again.
	RunOnce bool
}

// cron is a Cron with its schedule parsed.
type cron struct {
	Cron
	sched cronlib.Schedule
}

// next returns the first slot after t, or the zero time when there is none
// within five years.
func (c *cron) next(t time.Time) time.Time { return c.sched.Next(t) }

// specParser reads the standard five fields, nothing else.
var specParser = cronlib.NewParser(cronlib.Minute | cronlib.Hour | cronlib.Dom | cronlib.Month | cronlib.Dow)

// ParseSchedule parses a five-field cron expression in the IANA time zone
// timezone ("" means UTC) and returns a function giving its first slot
// after a time (the zero time when none is within five years). The error
// says what is wrong in one phrase, without the expression.
func ParseSchedule(schedule, timezone string) (func(time.Time) time.Time, error) {
	loc, err := location(timezone)
	if err != nil {
		return nil, err
	}
	sched, err := parseSpec(schedule, loc)
	if err != nil {
		return nil, err
	}
	return sched.Next, nil
}

func location(timezone string) (*time.Location, error) {
	switch timezone {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, errors.New(`time zone "Local" depends on the host: name the zone, e.g. "Europe/Berlin"`)
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: write an IANA name such as \"Europe/Berlin\" or \"UTC\"", timezone)
	}
	return loc, nil
}

func parseSpec(schedule string, loc *time.Location) (cronlib.Schedule, error) {
	s := strings.TrimSpace(schedule)
	switch {
	case s == "":
		return nil, errors.New("empty schedule: write five fields, e.g. \"0 9 * * 1-5\"")
	case strings.HasPrefix(s, "@"):
		return nil, fmt.Errorf("schedule %q: write five fields instead of a descriptor, e.g. \"0 0 * * *\" for @daily", schedule)
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		return nil, fmt.Errorf("schedule %q: set the time zone with timezone, not in the schedule", schedule)
	}
	if n := len(strings.Fields(s)); n != 5 {
		return nil, fmt.Errorf("schedule %q has %d fields, not 5: minute hour day-of-month month day-of-week", schedule, n)
	}
	sched, err := specParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v", schedule, err)
	}
	if spec, ok := sched.(*cronlib.SpecSchedule); ok {
		spec.Location = loc
	}
	return sched, nil
}

// parseCron checks c and parses its schedule; now is used to check that the
// schedule fires at all.
func parseCron(c Cron, now time.Time) (*cron, error) {
	if c.ID == "" {
		return nil, errors.New("cron without an id")
	}
	loc, err := location(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("cron %s: %w", c.ID, err)
	}
	sched, err := parseSpec(c.Schedule, loc)
	if err != nil {
		return nil, fmt.Errorf("cron %s: %w", c.ID, err)
	}
	if sched.Next(now).IsZero() {
		return nil, fmt.Errorf("cron %s: schedule %q never fires (a day that no month has?)", c.ID, c.Schedule)
	}
	return &cron{Cron: c, sched: sched}, nil
}

// cronState is what the file keeps of a cron.
type cronState struct {
	// Since is when the cron was first seen: no earlier slot counts.
	Since time.Time `json:"since"`
	// LastSlot is the latest slot handled, fired or skipped.
	LastSlot time.Time `json:"last_slot,omitzero"`
	// LastFired is the latest slot fired.
	LastFired time.Time `json:"last_fired,omitzero"`
	// Done is set once a RunOnce cron has had its slot.
	Done bool `json:"done,omitzero"`
}

// from returns the time after which the cron's next slot lies.
func (st cronState) from() time.Time {
	if st.LastSlot.After(st.Since) {
		return st.LastSlot
	}
	return st.Since
}

// maxCatchUp bounds the slots counted when the bridge comes back after a
// long time down; a cron every minute makes about half a million a year.
const maxCatchUp = 1 << 20

// cronStep returns the due slot of c at now, if any, and the cron's state
// once it is handled. An unknown cron is seen now: its slots start after
// now. Of the slots since the last one handled, only the latest may fire:
// on time, or, when the bridge was down, if younger than missedAfter; the
// others are skipped and logged.
func (s *Scheduler) cronStep(c *cron, st cronState, known bool, now time.Time) (*Due, cronState) {
	if !known {
		return nil, cronState{Since: now.UTC()}
	}
	if st.Done {
		return nil, st
	}
	latest := c.next(st.from())
	if latest.IsZero() || latest.After(now) {
		return nil, st
	}
	older := 0
	for i := 0; i < maxCatchUp; i++ {
		slot := c.next(latest)
		if slot.IsZero() || slot.After(now) {
			break
		}
		latest = slot
		older++
	}
	st.LastSlot = latest.UTC()
	st.Done = c.RunOnce
	late := now.Sub(latest)
	var due *Due
	if late <= onTimeGrace || late < s.missedAfter {
		cr := c.Cron
		due = &Due{Cron: &cr, At: latest, Missed: late > onTimeGrace}
		st.LastFired = st.LastSlot
	}
	switch {
	case due == nil:
		s.log.Warn("cron slot missed while the bridge was down is skipped: older than missed_after",
			logCron, c.ID, logSlot, latest, "skipped", older+1, "missed_after", s.missedAfter)
	case older > 0:
		s.log.Info("cron fires the latest of its missed slots; the older are skipped",
			logCron, c.ID, logSlot, latest, "skipped", older)
	}
	return due, st
}
