package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultCronTimezone is the zone of a cron without a timezone key.
const DefaultCronTimezone = "UTC"

// triggerIDRE is what names a cron or a webhook.
var triggerIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// triggerID reads the id of a [[triggers.<kind>s]] table.
func triggerID(t *table, kind, example string) string {
	s, ok := t.str("id")
	switch {
	case ok && triggerIDRE.MatchString(s):
		return s
	case ok:
		t.problem("id", "%q is not a valid %s id: use 1 to 32 of a-z, 0-9, - and _, starting with a letter or digit", s, kind)
	case !t.has("id"):
		t.problem("id", "required: the %s's name, e.g. %q", kind, example)
	}
	return ""
}

// Cron is one [[triggers.crons]]: a prompt run in a project on a schedule.
// Its fields map one to one onto schedule.Cron; the slots it missed while
// the bridge was down follow transports.telegram.missed_after.
type Cron struct {
	// ID (key `id`, required) names the cron in the log and the schedule
	// file: 1 to 32 of a-z, 0-9, - and _, unique. The file keeps the slots
	// a cron fired (and that a run_once cron is done) under its id.
	ID string
	// Schedule (key `schedule`, required) is five fields, minute hour
	// day-of-month month day-of-week, e.g. "0 9 * * 1-5": numbers, *,
	// ranges (1-5), lists (1,15), steps (*/15, 0-30/10), and the names
	// jan-dec and sun-sat. Sunday is 0; 7 is refused. No descriptors
	// (@daily). This package checks the fields and their ranges;
	// orchestrator/schedule parses it for real.
	Schedule string
	// Timezone (key `timezone`, default DefaultCronTimezone) is the IANA
	// zone the schedule is read in, e.g. "Europe/Berlin"; "Local" is
	// refused, since it would depend on the host.
	Timezone string
	// Project (key `project`, required) names a configured project.
	Project string
	// Engine (key `engine`) is an engine name, or empty for the one a
	// message in the cron's chat would get.
	Engine string
	// Prompt (key `prompt`, required, not blank) is what runs.
	Prompt string
	// ChatID and TopicID (keys `chat_id` and `topic_id`, which needs
	// chat_id) are where the run posts. Default: the project's chat and
	// topic; a project without chat_id needs them set.
	ChatID  int64
	TopicID int64
	// RunOnce (key `run_once`) fires the cron at its first slot, then never
	// again (until it is given a new id).
	RunOnce bool
}

// crons reads the array of tables triggers.crons; c.Projects must be
// parsed.
func (p *parser) crons(t *table, c *Config) []Cron {
	v, ok := t.get("crons")
	if !ok {
		return nil
	}
	var elems []map[string]any
	switch v := v.(type) {
	case []map[string]any:
		elems = v
	case []any: // crons = [{...}, ...]
		for _, e := range v {
			m, isTable := e.(map[string]any)
			if !isTable {
				t.problem("crons", "must be an array of tables ([[%s]]), not an array of %s", t.key("crons"), typeName(e))
				return nil
			}
			elems = append(elems, m)
		}
	default:
		t.problem("crons", "must be an array of tables ([[%s]]), not %s", t.key("crons"), typeName(v))
		return nil
	}
	var out []Cron
	firstByID := map[string]string{}
	for i, m := range elems {
		ct := p.newTable(append(t.sub("crons"), "["+strconv.Itoa(i+1)+"]"), m)
		cr := p.cron(ct, c)
		if cr.ID != "" {
			if first, ok := firstByID[cr.ID]; ok {
				ct.problem("id", "cron id %q is already used by %s", cr.ID, first)
			} else {
				firstByID[cr.ID] = keyString(ct.path...)
			}
		}
		out = append(out, cr)
	}
	return out
}

// cron reads one [[triggers.crons]].
func (p *parser) cron(t *table, c *Config) Cron {
	cr := Cron{Timezone: DefaultCronTimezone}
	cr.ID = triggerID(t, "cron", "nightly")
	if s, ok := t.str("schedule"); ok {
		if msg := checkCronSchedule(s); msg != "" {
			t.problem("schedule", "%s", msg)
		} else {
			cr.Schedule = strings.TrimSpace(s)
		}
	} else if !t.has("schedule") {
		t.problem("schedule", `required: five fields, minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5"`)
	}
	if s, ok := t.str("timezone"); ok {
		if msg := checkTimezone(s); msg != "" {
			t.problem("timezone", "%s", msg)
		} else {
			cr.Timezone = s
		}
	}
	var project Project
	if s, ok := t.str("project"); ok {
		if pr, found := c.Project(s); found {
			cr.Project, project = s, pr
		} else {
			t.problem("project", "no project named %q: define [projects.%s]", s, s)
		}
	} else if !t.has("project") {
		t.problem("project", "required: the project the cron runs in")
	}
	if s, ok := t.str("engine"); ok {
		if p.engine(t, "engine", s) {
			cr.Engine = s
		}
	}
	if s, ok := t.str("prompt"); ok {
		if strings.TrimSpace(s) == "" {
			t.problem("prompt", "must not be empty")
		} else {
			cr.Prompt = s
		}
	} else if !t.has("prompt") {
		t.problem("prompt", "required: what the cron runs")
	}
	p.cronChat(t, &cr, project)
	if b, ok := t.boolean("run_once"); ok {
		cr.RunOnce = b
	}
	t.done()
	return cr
}

// cronChat reads chat_id and topic_id, defaulting to the project's.
func (p *parser) cronChat(t *table, cr *Cron, project Project) {
	chat, hasChat := t.integer("chat_id")
	topic, hasTopic := t.integer("topic_id")
	switch {
	case hasChat && chat == 0:
		t.problem("chat_id", "must not be 0: name the chat the runs post in, or remove it for the project's")
	case hasChat:
		cr.ChatID = chat
	case t.has("chat_id"):
		// wrong type, reported
	case hasTopic:
		t.problem("topic_id", "needs chat_id: a topic belongs to a chat")
	case project.Name != "" && project.ChatID == 0:
		t.problem("chat_id", "required: project %s has no chat_id, so say which chat the runs post in", project.Name)
	default:
		cr.ChatID, cr.TopicID = project.ChatID, project.TopicID
	}
	if hasTopic && hasChat {
		if topic <= 0 {
			t.problem("topic_id", "must be a positive forum topic id (message_thread_id), not %d", topic)
		} else {
			cr.TopicID = topic
		}
	}
}

// checkTimezone returns why s is not a usable IANA zone, or "".
func checkTimezone(s string) string {
	switch s {
	case "":
		return fmt.Sprintf("must not be empty (remove it for %s)", DefaultCronTimezone)
	case "Local":
		return `"Local" depends on the host: name the zone, e.g. "Europe/Berlin"`
	}
	if _, err := time.LoadLocation(s); err != nil {
		return fmt.Sprintf(`%q is not an IANA time zone: write e.g. "Europe/Berlin" or "UTC"`, s)
	}
	return ""
}

// cronField is one of the five fields of a cron schedule.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
}

var cronFields = [5]cronField{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{"day of week", 0, 6, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// checkCronSchedule returns why s is not a five-field cron schedule, or "".
// It accepts a subset of what robfig/cron's standard parser does (which
// orchestrator/schedule uses): a schedule it accepts, the parser accepts.
func checkCronSchedule(s string) string {
	const want = "five fields, minute hour day-of-month month day-of-week, e.g. \"0 9 * * 1-5\""
	trimmed := strings.TrimSpace(s)
	fields := strings.Fields(trimmed)
	switch {
	case trimmed == "":
		return "must not be empty: write " + want
	case strings.HasPrefix(trimmed, "@"):
		return fmt.Sprintf(`%q: write five fields instead of a descriptor, e.g. "0 0 * * *" for @daily`, s)
	case strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ="):
		return fmt.Sprintf("%q: set the zone with timezone, not in the schedule", s)
	case len(fields) != 5:
		return fmt.Sprintf("%q has %d fields, not 5: write %s", s, len(fields), want)
	}
	for i, f := range fields {
		if msg := cronFields[i].check(f); msg != "" {
			return fmt.Sprintf("%q: %s", s, msg)
		}
	}
	return ""
}

// check returns why f is not a valid value of the field, or "": a list of
// *, ?, values or ranges of values, each with an optional /step.
func (cf cronField) check(f string) string {
	for _, part := range strings.Split(f, ",") {
		rng, step, hasStep := strings.Cut(part, "/")
		if hasStep {
			if n, ok := cronNumber(step); !ok || n == 0 {
				return fmt.Sprintf("the %s field's step %q must be a whole number above 0", cf.name, step)
			}
		}
		if rng == "*" || rng == "?" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, msg := cf.value(lo)
		if msg != "" {
			return msg
		}
		b := a
		if isRange {
			if b, msg = cf.value(hi); msg != "" {
				return msg
			}
		}
		if a > b {
			return fmt.Sprintf("the %s range %s runs backwards", cf.name, rng)
		}
	}
	return ""
}

// value reads a number or a name of the field.
func (cf cronField) value(s string) (int, string) {
	if i := slices.Index(cf.names, strings.ToLower(s)); i >= 0 {
		return cf.min + i, ""
	}
	n, ok := cronNumber(s)
	switch {
	case !ok && cf.names != nil:
		return 0, fmt.Sprintf("%q in the %s field is not a number or a name such as %q", s, cf.name, cf.names[0])
	case !ok:
		return 0, fmt.Sprintf("%q in the %s field is not a number", s, cf.name)
	case n < cf.min || n > cf.max:
		msg := fmt.Sprintf("%s %d is out of range %d-%d", cf.name, n, cf.min, cf.max)
		if cf.name == "day of week" && n == 7 {
			msg += " (Sunday is 0)"
		}
		return 0, msg
	}
	return n, ""
}

// cronNumber reads a small whole number written with digits only.
func cronNumber(s string) (int, bool) {
	if s == "" || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, true
}
