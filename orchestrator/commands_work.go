package orchestrator

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/untether-go/untether/engines"
)

// The commands about where and when runs work: /ctx, /continue and /at.

// ctx carries out /ctx, /ctx set <project> [@branch] and /ctx clear: what
// this chat or topic is bound to.
func (c *commands) ctx(m Message, arg string) string {
	sub, rest := cutWord(arg)
	switch sub {
	case "":
		return c.showContext(m)
	case "clear":
		if c.opts.Chats == nil {
			return "This bridge keeps no chat settings."
		}
		if err := c.opts.Chats.SetSetting(chatKey(m), SettingContext, ""); err != nil {
			c.log.Error("clear context", "chat", m.ChatID, "err", err)
			return "The binding could not be saved."
		}
		return "Unbound: " + c.showContext(m)
	case "set":
	default:
		return "Use /ctx, /ctx set <project> [@branch] or /ctx clear."
	}
	if c.opts.Chats == nil {
		return "This bridge keeps no chat settings."
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || len(fields) > 2 {
		return "Use /ctx set <project> [@branch], e.g. /ctx set app @feature-x."
	}
	project := fields[0]
	if !c.router.hasProject(project) {
		return fmt.Sprintf("There is no project %q. /projects lists them.", project)
	}
	value := project
	if len(fields) == 2 {
		branch, ok := strings.CutPrefix(fields[1], "@")
		if !ok || branch == "" {
			return "Write the branch with its @, e.g. /ctx set " + project + " @feature-x."
		}
		if c.opts.Workspaces == nil {
			return "Branches (@name) are not available in this bridge."
		}
		value += "@" + branch
	}
	if err := c.opts.Chats.SetSetting(chatKey(m), SettingContext, value); err != nil {
		c.log.Error("set context", "chat", m.ChatID, "err", err)
		return "The binding could not be saved."
	}
	return "Bound: " + c.showContext(m)
}

// showContext says where a plain message here runs.
func (c *commands) showContext(m Message) string {
	project, branch := c.router.boundContext(m)
	if project != "" {
		s := "messages here run in project " + project
		if branch != "" {
			s += " @" + branch + " (its own worktree)"
		}
		return s + " (set with /ctx; /ctx clear undoes it)."
	}
	if p, ok := c.router.projectFor(m, ""); ok {
		return "messages here run in project " + p.Name + " (from the config). /ctx set <project> [@branch] binds this chat to another."
	}
	return "this chat is not linked to a project. /ctx set <project> binds it to one."
}

// continueRun carries out /continue [prompt]: the engine continues its
// latest CLI session in the project folder, whoever started it.
func (c *commands) continueRun(ctx context.Context, m Message, arg string) string {
	if strings.TrimSpace(arg) == "" {
		arg = "Continue where you left off."
	}
	// The directives of the rest still apply: /continue /codex go on.
	cont := m
	cont.Text = arg
	d := c.router.parseDirectives(arg)
	if strings.TrimSpace(d.prompt) == "" {
		cont.Text = strings.TrimSpace(arg) + " Continue where you left off."
	}
	p, _ := c.router.contextProject(m, d)
	eng := c.router.engine(c.router.chooseEngine(m, d, p, ""))
	if cc, ok := eng.(engines.ContinueSupport); ok && !cc.CanContinue() {
		return fmt.Sprintf("%s cannot continue its latest CLI session: its CLI only resumes a session by id. Reply to one of its answers to continue that session.", eng.Name())
	}
	c.submit(ctx, cont, func(r *run) { r.cont, r.resume = true, "" })
	return ""
}

// Bounds of /at.
const (
	minDelay = time.Minute
	maxDelay = 7 * 24 * time.Hour
)

var atCancel = regexp.MustCompile(`^cancel\s+#?(\d+)$`)

// at carries out /at: /at lists, /at cancel N cancels, /at <delay> <prompt>
// schedules a run.
func (c *commands) at(m Message, arg string) string {
	if c.opts.Timers == nil {
		return "Scheduled runs (/at) are not available in this bridge."
	}
	if arg == "" {
		return c.listTimers(m)
	}
	if g := atCancel.FindStringSubmatch(arg); g != nil {
		n, _ := strconv.Atoi(g[1])
		if !c.opts.Timers.Cancel(m.ChatID, m.ThreadID, n) {
			return fmt.Sprintf("There is no scheduled run %d here. /at lists them.", n)
		}
		return fmt.Sprintf("Scheduled run %d cancelled.", n)
	}
	word, rest := cutWord(arg)
	delay, err := parseDelay(word)
	if err != nil {
		return err.Error()
	}
	d := c.router.parseDirectives(strings.TrimSpace(rest))
	if strings.TrimSpace(d.prompt) == "" {
		return "Write the prompt after the delay, e.g. /at 30m run the tests."
	}
	p, ok := c.router.contextProject(m, d)
	if !ok {
		return "This chat is not linked to a project. Add its chat_id to a [projects.<name>] table in the config."
	}
	branch := cmpOr(d.branch, c.router.boundBranch(m, d, p))
	now := time.Now()
	t, err := c.opts.Timers.Add(Timer{
		ChatID: m.ChatID, ThreadID: m.ThreadID, UserID: m.UserID, ReplyTo: m.MessageID,
		Project: p.Name, Engine: d.engine, Branch: branch, Prompt: d.prompt, Due: now.Add(delay), Created: now,
	})
	if err != nil {
		c.log.Error("schedule a run", "chat", m.ChatID, "err", err)
		return "The run could not be scheduled: " + err.Error()
	}
	return fmt.Sprintf("⏰ Scheduled run %d: in %s (%s UTC). /at cancel %d, or /cancel as a reply to this, cancels it.",
		t.ID, formatDelay(delay), t.Due.UTC().Format("Jan 2 15:04"), t.ID)
}

func (c *commands) listTimers(m Message) string {
	ts := c.opts.Timers.List(m.ChatID, m.ThreadID)
	if len(ts) == 0 {
		return "No runs are scheduled here. /at <delay> <prompt> schedules one, e.g. /at 30m run the tests."
	}
	var b strings.Builder
	b.WriteString("Scheduled here:")
	for _, t := range ts {
		fmt.Fprintf(&b, "\n%d · in %s · %s · %s", t.ID, formatDelay(time.Until(t.Due)), t.Project, clipLine(t.Prompt, 60))
	}
	return b.String()
}

// cancelTimer cancels the timer scheduled by the message m replies to;
// false when it scheduled none.
func (c *commands) cancelTimer(m Message) (string, bool) {
	if c.opts.Timers == nil || m.ReplyToID == 0 {
		return "", false
	}
	id, ok := c.opts.Timers.CancelReply(m.ChatID, m.ReplyToID)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("Scheduled run %d cancelled.", id), true
}

// parseDelay reads /at's delay: a Go duration ("90s", "30m", "1h30m") or
// days ("3d"), between a minute and a week.
func parseDelay(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a delay: write e.g. 90s, 30m, 2h or 3d.", s)
	}
	if d < minDelay || d > maxDelay {
		return 0, fmt.Errorf("The delay must be between 60s and 7d, not %s.", s)
	}
	return d, nil
}

// formatDelay says a delay to the minute: "30m", "2h", "1h30m", "3d4h".
func formatDelay(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "less than a minute"
	}
	days, hours, mins := d/(24*time.Hour), d%(24*time.Hour)/time.Hour, d%time.Hour/time.Minute
	var b strings.Builder
	for _, p := range []struct {
		n    time.Duration
		unit string
	}{{days, "d"}, {hours, "h"}, {mins, "m"}} {
		if p.n > 0 {
			fmt.Fprintf(&b, "%d%s", p.n, p.unit)
		}
	}
	return b.String()
}

// clipLine is s on one line, at most n runes.
func clipLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// didYouMean answers a message that looks like a mistyped command
// (".new", "\status"), "" for others.
func didYouMean(text string) string {
	word, _ := cutWord(strings.TrimSpace(text))
	if len(word) < 2 || (word[0] != '.' && word[0] != '\\') {
		return ""
	}
	cmd := "/" + word[1:]
	if !isCommand(cmd) {
		return ""
	}
	return fmt.Sprintf("Did you mean %s?", cmd)
}

// listen carries out /listen [all|mentions] in a group: whether every
// message starts a run, or only those addressed to the bot.
func (c *commands) listen(m Message, arg string) string {
	if m.Private {
		return "In a private chat every message is for the bot."
	}
	mode := c.listenMode(m)
	switch arg {
	case "":
		if mode == ListenMentions {
			return "Here only messages that mention @" + cmpOr(c.opts.BotUsername, "the bot") + ", reply to the bot or start with a directive (/<engine>, /<project>, @<branch>) start a run. /listen all changes it."
		}
		return "Every message here starts a run. /listen mentions makes the bot wait to be addressed."
	case ListenAll, ListenMentions:
	default:
		return "Use /listen all or /listen mentions."
	}
	if c.opts.Chats == nil {
		return "This bridge keeps no chat settings."
	}
	if err := c.opts.Chats.SetSetting(chatKey(m), SettingListen, arg); err != nil {
		c.log.Error("set listen", "chat", m.ChatID, "err", err)
		return "The setting could not be saved."
	}
	return "Saved. " + c.listen(m, "")
}

func (c *commands) listenMode(m Message) string {
	if c.opts.Chats == nil {
		return ListenAll
	}
	v, _ := c.opts.Chats.Setting(chatKey(m), SettingListen)
	return cmpOr(v, ListenAll)
}

// listening reports whether m is for the bot: in a group set to /listen
// mentions, a message that neither is a command, mentions the bot,
// replies to it nor starts with a directive is not.
func (c *commands) listening(m Message) bool {
	if m.Private || c.listenMode(m) != ListenMentions || isCommand(m.Text) || didYouMean(m.Text) != "" {
		return true
	}
	name := strings.ToLower(c.opts.BotUsername)
	if m.ReplyToBot != "" && (name == "" || strings.EqualFold(m.ReplyToBot, name)) {
		return true
	}
	if name != "" && strings.Contains(strings.ToLower(m.Text), "@"+name) {
		return true
	}
	d := c.router.parseDirectives(m.Text)
	return d.engine != "" || d.project != "" || d.branch != ""
}
