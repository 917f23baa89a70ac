package orchestrator

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/untether-go/untether/internal/units"
)

// builtin are the bridge's own commands, in menu order. Any other "/word"
// is a directive or goes to the agent as is.
var builtin = []Command{
	{Name: "cancel", Description: "Stop a run (reply to its progress message)"},
	{Name: "new", Description: "Start a fresh session here"},
	{Name: "agent", Description: "Show or set this chat's engine"},
	{Name: "model", Description: "Show or set the model of this chat's engine"},
	{Name: "status", Description: "Runs and queued messages in this chat"},
	{Name: "approvals", Description: "Show or set whether agents ask before they act"},
	{Name: "planmode", Description: "Show or set plan mode: on, auto or off"},
	{Name: "projects", Description: "Projects and the chats they are routed from"},
	{Name: "usage", Description: "What runs cost today, this week and this month"},
	{Name: "stats", Description: "Runs, failures by cause and median durations"},
	{Name: "ctx", Description: "Show or bind this chat's project and branch: /ctx set <project> [@branch]"},
	{Name: "continue", Description: "Continue the latest CLI session in the project folder"},
	{Name: "at", Description: "Schedule a run: /at 30m <prompt>; list with /at"},
	{Name: "listen", Description: "In a group: /listen all, or mentions (only when addressed)"},
	{Name: "file", Description: "Get a project file: /file get <path>; save one: send it with /file put <path>"},
	{Name: "voice", Description: "Transcribe an audio file sent with this caption and run it"},
	{Name: "help", Description: "What this bot understands"},
}

// commands carries out the bridge's own commands and button presses. To
// add a command: a builtin entry, a case in do, and its method here.
type commands struct {
	opts     *Options // read-only
	log      *slog.Logger
	lt       *lifetime
	in       *intake
	router   *router
	sup      *supervisor
	sessions *sessions
	replies  replier
	desk     *desk
	bud      *budget
	// submit routes m and queues its run as Handle does, after edit.
	submit func(ctx context.Context, m Message, edit func(*run))
}

// menuName is what Telegram accepts as a command in the menu.
var menuName = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// menu is the bot's command menu: the built-in commands, then one per
// engine and per project whose name Telegram accepts as a command (project
// names with a "-" still work as directives, they just are not listed).
func (c *commands) menu() []Command {
	out := append([]Command(nil), builtin...)
	for _, name := range c.router.engineNames() {
		out = append(out, Command{Name: name, Description: "Run this message with " + name})
	}
	for _, p := range c.opts.Projects {
		if menuName.MatchString(p.Name) {
			out = append(out, Command{Name: p.Name, Description: "Run this message in project " + p.Name})
		}
	}
	return out
}

// isCommand reports whether text starts with a built-in command (/start
// included), as commands.do would carry it out.
func isCommand(text string) bool {
	word, _ := cutWord(strings.TrimSpace(text))
	name, _, _ := strings.Cut(word, "@")
	name, ok := strings.CutPrefix(name, "/")
	if !ok {
		return false
	}
	return name == "start" || slices.ContainsFunc(builtin, func(b Command) bool { return b.Name == name })
}

// do carries out a built-in command. ok is false when m is not one;
// reply is what to answer ("" for nothing).
func (c *commands) do(m Message) (reply string, ok bool) {
	if s := didYouMean(m.Text); s != "" {
		return s, true
	}
	word, rest := cutWord(strings.TrimSpace(m.Text))
	name, _, _ := strings.Cut(word, "@")
	arg := strings.TrimSpace(rest)
	switch name {
	case "/cancel":
		if reply, ok := c.cancelTimer(m); ok {
			return reply, true
		}
		return c.cancel(m), true
	case "/ctx":
		return c.ctx(m, arg), true
	case "/continue":
		return c.continueRun(context.Background(), m, arg), true
	case "/at":
		return c.at(m, arg), true
	case "/listen":
		return c.listen(m, arg), true
	case "/new":
		return c.newSession(m), true
	case "/agent":
		return c.agent(m, arg), true
	case "/model":
		return c.model(m, arg), true
	case "/status":
		// Asking the sandbox for container use takes a while: answer from
		// an owned goroutine so the update loop goes on.
		if !c.lt.goOwned(func() { c.replies.to(m, c.status(m)) }) {
			return restarting, true
		}
		return "", true
	case "/projects":
		return c.projects(m), true
	case "/usage":
		return c.usage(), true
	case "/stats":
		return c.stats(), true
	case "/approvals":
		return c.approvals(m, arg), true
	case "/planmode":
		return c.planMode(m, arg), true
	case "/file":
		return c.desk.get(m, arg), true
	case "/voice":
		return "Send an audio file with the caption /voice: it is transcribed and run as your prompt. Voice notes need no caption.", true
	case "/help", "/start":
		return c.help(), true
	}
	return "", false
}

// press handles a button press. Only allowlisted users may press; every
// press is answered at once, as Telegram requires.
func (c *commands) press(ctx context.Context, m Message) {
	answer := func(text string) {
		if err := c.opts.Chat.AnswerCallback(ctx, m.CallbackID, text); err != nil {
			c.log.Warn("answer button press", "chat", m.ChatID, "err", err)
		}
	}
	if !c.in.allowed(m.UserID) {
		c.in.ignore(m)
		answer("Only the bridge's allowed users can do that.")
		return
	}
	if strings.HasPrefix(m.CallbackData, askData) {
		answer(c.pressAsk(m))
		return
	}
	id, isCancel := strings.CutPrefix(m.CallbackData, cancelData)
	if !isCancel {
		answer("This button is no longer in use.")
		return
	}
	r := c.sup.lookup(id)
	if r == nil || r.msg.ChatID != m.ChatID || !c.sup.cancel(r, m.UserID) {
		answer("This run has already ended.")
		return
	}
	answer("Cancelling…")
}

// cancel cancels the run whose progress message (or prompt) m replies
// to, else the only run in m's chat or topic.
func (c *commands) cancel(m Message) string {
	here := c.sup.here(m.ChatID, m.ThreadID)
	var target []*run
	for _, r := range here {
		if m.ReplyToID != 0 && (r.progressMsg() == m.ReplyToID || r.msg.MessageID == m.ReplyToID) {
			target = append(target, r)
		}
	}
	switch {
	case m.ReplyToID != 0 && len(target) == 0:
		return "That message is not a run that is still going."
	case m.ReplyToID == 0 && len(here) == 0:
		return "Nothing is running here."
	case m.ReplyToID == 0 && len(here) > 1:
		return fmt.Sprintf("%d runs are going here: reply /cancel to the progress message of the one to stop, or press its cancel button.", len(here))
	case m.ReplyToID == 0:
		target = here
	}
	if !c.sup.cancel(target[0], m.UserID) {
		return "That run has already ended."
	}
	return ""
}

// newSession forgets this conversation's sessions, so that the next
// message starts a fresh one.
func (c *commands) newSession(m Message) string {
	if c.opts.SessionMode == SessionStateless {
		return "Every message starts a new session here (session_mode = \"stateless\"); reply to an answer to continue it."
	}
	var keys []string
	for _, p := range c.opts.Projects {
		for _, name := range c.router.engineNames() {
			keys = append(keys, sessionKey(m, p.Name, name))
		}
	}
	if err := c.sessions.reset(m, keys); err != nil {
		c.log.Error("forget session", "chat", m.ChatID, "err", err)
		return "The session could not be reset; try again."
	}
	return "New session: your next message here starts fresh."
}

// agent shows or sets the chat's engine.
func (c *commands) agent(m Message, arg string) string {
	available := strings.Join(c.router.engineNames(), ", ")
	if arg == "" {
		return fmt.Sprintf("This chat uses %s. Engines: %s. Change it with /agent <engine>.", c.router.chatEngine(m), available)
	}
	if c.opts.Engines[arg] == nil {
		return fmt.Sprintf("There is no engine %q. Engines: %s.", arg, available)
	}
	if c.opts.Chats == nil {
		return "This bridge cannot store chat settings."
	}
	if err := c.opts.Chats.SetEngine(chatKey(m), arg); err != nil {
		c.log.Error("save chat engine", "chat", m.ChatID, "err", err)
		return "The engine could not be saved; try again."
	}
	return fmt.Sprintf("This chat now uses %s.", arg)
}

// modelName is what /model accepts: model ids as engines spell them
// ("claude-sonnet-4-5", "gpt-5.1-codex", "openai/gpt-4o", "gemini-2.5-pro").
var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}$`)

// model shows or sets the model of the chat's engine:
// "/model", "/model <model>", "/model <engine> <model>", "/model default".
func (c *commands) model(m Message, arg string) string {
	engine := c.router.chatEngine(m)
	fields := strings.Fields(arg)
	if len(fields) == 2 && c.opts.Engines[fields[0]] != nil {
		engine, fields = fields[0], fields[1:]
	}
	current := c.router.model(m, engine)
	if current == "" {
		current = "the engine's default"
	}
	switch {
	case len(fields) == 0:
		return fmt.Sprintf("%s here uses %s. Change it with /model <name>, or /model default.", engine, current)
	case len(fields) > 1 || !modelName.MatchString(fields[0]):
		return "Usage: /model <name>, /model <engine> <name>, or /model default. A name has no spaces."
	case c.opts.Chats == nil:
		return "This bridge cannot store chat settings."
	}
	choice := fields[0]
	if choice == "default" {
		choice = ""
	}
	if err := c.opts.Chats.SetModel(chatKey(m), engine, choice); err != nil {
		c.log.Error("save chat model", "chat", m.ChatID, "err", err)
		return "The model could not be saved; try again."
	}
	if choice == "" {
		if def := c.opts.Models[engine]; def != "" {
			return fmt.Sprintf("%s here is back to the configured model, %s.", engine, def)
		}
		return fmt.Sprintf("%s here is back to the engine's default model.", engine)
	}
	return fmt.Sprintf("%s here now uses %s, from the next run on.", engine, choice)
}

// projects lists the projects and where they are routed from.
func (c *commands) projects(m Message) string {
	if len(c.opts.Projects) == 0 {
		return "No projects are configured. Add a [projects.<name>] table to the config."
	}
	here, _ := c.router.projectFor(m, "")
	var b strings.Builder
	b.WriteString("Projects:")
	for _, p := range c.opts.Projects {
		engine := p.DefaultEngine
		if engine == "" {
			engine = c.opts.DefaultEngine
		}
		fmt.Fprintf(&b, "\n• %s · %s", p.Name, engine)
		switch {
		case p.Name == here.Name:
			b.WriteString(" · this chat")
		case p.ChatID != 0 && p.TopicID != 0:
			fmt.Fprintf(&b, " · chat %d, topic %d", p.ChatID, p.TopicID)
		case p.ChatID != 0:
			fmt.Fprintf(&b, " · chat %d", p.ChatID)
		}
		if p.Name == c.opts.DefaultProject {
			b.WriteString(" · default")
		}
	}
	b.WriteString("\n\nStart a message with /<project> to run it in another project.")
	return b.String()
}

// help says what the bot understands.
func (c *commands) help() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Untether %s: send a message and an agent works on it in this chat's project, in its own container.\n\n", c.opts.Version)
	for _, cmd := range builtin {
		fmt.Fprintf(&b, "/%s — %s\n", cmd.Name, cmd.Description)
	}
	fmt.Fprintf(&b, "\nStart a message with /<engine> (%s) or /<project> to pick them for that message. ", strings.Join(c.router.engineNames(), ", "))
	if c.opts.SessionMode == SessionChat {
		b.WriteString("Your next message continues the last session here; reply to an answer to continue that one.")
	} else {
		b.WriteString("Every message starts a new session; reply to an answer to continue it.")
	}
	if asking := c.askingEngines(); len(asking) > 0 {
		fmt.Fprintf(&b, "\n\nWith /approvals on, %s ask before they run commands or change files; questions and plans come as messages with buttons.", strings.Join(asking, ", "))
		if silent := c.silentEngines(); len(silent) > 0 {
			fmt.Fprintf(&b, " %s cannot ask (their CLIs have no permission channel): they act without asking.", strings.Join(silent, ", "))
		}
	}
	return b.String()
}

// status lists this chat's runs and queued messages, with each
// container's memory and CPU use when the sandbox reports them.
func (c *commands) status(m Message) string {
	running, queued := c.sup.stats()
	rows := c.sup.rowsIn(m.ChatID, m.ThreadID)
	if len(rows) == 0 {
		return fmt.Sprintf("Nothing is running here. Bridge-wide: %d running, %d queued.", running, queued)
	}
	usage := c.containerUsage()
	var b strings.Builder
	fmt.Fprintf(&b, "Here (bridge-wide: %d running, %d queued):", running, queued)
	for _, r := range rows {
		fmt.Fprintf(&b, "\n%s · %s · %s", r.r.engine.Name(), r.r.project.Name, r.r.id)
		switch {
		case r.slotWait && r.r.hostWait() != "":
			b.WriteString(" · queued, " + r.r.hostWait())
		case r.slotWait:
			b.WriteString(" · queued, waiting for a free slot")
		case r.queued:
			fmt.Fprintf(&b, " · queued, %d ahead", r.ahead)
		case r.started.IsZero():
			b.WriteString(" · starting")
		default:
			fmt.Fprintf(&b, " · running %s · step %d", formatElapsed(time.Since(r.started)), r.steps)
			if conv := r.r.conversation(); conv != nil {
				if title := conv.waiting(); title != "" {
					b.WriteString(" · waiting for approval: " + title)
				}
			}
			if u, ok := usage[r.r.id]; ok {
				if u.Host != "" {
					b.WriteString(" · on " + u.Host)
				}
				fmt.Fprintf(&b, " · memory %s of %s · CPU %.0f%%", units.Bytes(u.MemoryBytes),
					units.Bytes(r.r.project.Limits.MemoryBytes), u.CPUPercent)
			}
		}
	}
	return b.String()
}

// containerUsage maps run ids to their containers' current use; empty when
// the sandbox cannot say.
func (c *commands) containerUsage() map[string]containerUse {
	out := map[string]containerUse{}
	if c.opts.Containers == nil {
		return out
	}
	ctx, cancel := context.WithTimeout(c.lt.ctx, 10*time.Second)
	defer cancel()
	list, err := c.opts.Containers.Containers(ctx, c.opts.Instance)
	if err != nil {
		c.log.Warn("list containers for /status", "err", err)
		return out
	}
	for _, ct := range list {
		if id := runOf(ct, c.opts.Instance); id != "" && ct.State == "running" {
			out[id] = containerUse{MemoryBytes: ct.MemoryBytes, CPUPercent: ct.CPUPercent, Host: ct.Host}
		}
	}
	return out
}

type containerUse struct {
	MemoryBytes int64
	CPUPercent  float64
	Host        string // "" with a single host
}
