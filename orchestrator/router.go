package orchestrator

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/untether-go/untether/engines"
)

// router turns a message into a run: its project, engine, conversation
// (session key), queue key and resume token, after the message's
// directives. It also answers what a chat's settings resolve to. It holds
// no state of its own beyond the config and the chat settings store.
type router struct {
	opts *Options // read-only
}

// route picks project and engine for m. A non-empty reply means m starts no
// run and the user should read reply instead.
func (rt *router) route(m Message) (*run, string) {
	d := rt.parseDirectives(m.Text)
	p, ok := rt.contextProject(m, d)
	if !ok {
		return nil, "This chat is not linked to a project. Add its chat_id to a [projects.<name>] table in the config."
	}
	repliedEngine, resume, _ := rt.resumeFromReply(m)
	name := rt.chooseEngine(m, d, p, repliedEngine)
	if name != repliedEngine {
		resume = ""
	}
	branch := d.branch
	if rp, rb, ok := repliedDir(m.ReplyToText); ok && branch == "" && rp == p.Name {
		branch = rb // a reply continues in the answer's worktree
	}
	if branch == "" {
		branch = rt.boundBranch(m, d, p)
	}
	if branch != "" && rt.opts.Workspaces == nil {
		return nil, "Branches (@name) are not available in this bridge."
	}
	eng := rt.opts.Engines[name]
	if eng == nil {
		return nil, fmt.Sprintf("The engine %q is not available in this build.", name)
	}
	if strings.TrimSpace(d.prompt) == "" {
		if d.engine != "" || d.project != "" {
			return nil, "Write the prompt after the directive, e.g. /" + name + " fix the failing test."
		}
		return nil, "Send a text message: it becomes the agent's prompt."
	}
	r := &run{
		id:      newRunID(),
		msg:     m,
		project: p,
		engine:  eng,
		session: sessionKey(m, p.Name, name) + branchKey(branch),
		prompt:  d.prompt,
		resume:  resume,
		branch:  branch,
	}
	r.queue = rt.queueKey(r)
	return r, ""
}

func newRunID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// directives are the first-line words that steer one message: /<engine>
// and /<project>. Anything else starting with "/" goes to the agent as is
// (agents have slash commands of their own).
type directives struct {
	engine  string
	project string
	branch  string // @branch: the run's git worktree
	prompt  string
}

// parseDirectives takes /<engine>, /<project> and @<branch> words off the
// start of text. A "@botname" suffix on a word is ignored, as Telegram
// adds it in groups, and so is a leading mention of this bot.
func (rt *router) parseDirectives(text string) directives {
	var d directives
	rest := strings.TrimLeft(text, " \t")
	for strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "@") {
		word, after := cutWord(rest)
		if branch, ok := strings.CutPrefix(word, "@"); ok {
			switch {
			case rt.opts.BotUsername != "" && strings.EqualFold(branch, rt.opts.BotUsername):
			case d.branch == "" && branch != "":
				d.branch = branch
			default:
				d.prompt = rest
				return d
			}
			rest = strings.TrimLeft(after, " \t")
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(word, "/"), "@")
		switch {
		case d.engine == "" && rt.opts.Engines[name] != nil:
			d.engine = name
		case d.project == "" && rt.hasProject(name):
			d.project = name
		default:
			d.prompt = rest
			return d
		}
		rest = strings.TrimLeft(after, " \t")
	}
	d.prompt = strings.TrimLeft(rest, "\n")
	return d
}

// cutWord splits s at its first space, tab or newline.
func cutWord(s string) (word, rest string) {
	if i := strings.IndexAny(s, " \t\n"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

func (rt *router) hasProject(name string) bool {
	return slices.ContainsFunc(rt.opts.Projects, func(p Project) bool { return p.Name == name })
}

func (rt *router) project(name string) (Project, bool) {
	for _, p := range rt.opts.Projects {
		if p.Name == name {
			return p, true
		}
	}
	return Project{}, false
}

// projectFor finds the project of m: the one named by a directive, else
// the one routed from its chat, else (in a private chat) the default.
func (rt *router) projectFor(m Message, named string) (Project, bool) {
	if named != "" {
		return rt.project(named)
	}
	if m.ThreadID != 0 {
		for _, p := range rt.opts.Projects {
			if p.ChatID == m.ChatID && p.TopicID == m.ThreadID {
				return p, true
			}
		}
	}
	for _, p := range rt.opts.Projects {
		if p.ChatID != 0 && p.ChatID == m.ChatID && p.TopicID == 0 {
			return p, true
		}
	}
	if m.Private && rt.opts.DefaultProject != "" {
		return rt.project(rt.opts.DefaultProject)
	}
	return Project{}, false
}

// resumeFromReply finds a resume line in the message m replies to: replying
// to an answer continues that answer's engine and session.
func (rt *router) resumeFromReply(m Message) (engine, id string, ok bool) {
	if m.ReplyToText == "" {
		return "", "", false
	}
	for _, name := range rt.engineNames() {
		if id, ok := rt.opts.Engines[name].ParseResume(m.ReplyToText); ok {
			return name, id, true
		}
	}
	return "", "", false
}

func (rt *router) engineNames() []string {
	names := make([]string, 0, len(rt.opts.Engines))
	for n := range rt.opts.Engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// chatKey names a chat or forum topic, for per-chat settings.
func chatKey(m Message) string {
	return fmt.Sprintf("chat:%d:%d", m.ChatID, m.ThreadID)
}

// conversationKey names the conversation m belongs to: a private chat, a
// forum topic, or one user's thread in a group, so that people sharing a
// group do not resume each other's sessions.
func conversationKey(m Message) string {
	k := chatKey(m)
	if !m.Private && m.ThreadID == 0 {
		k += fmt.Sprintf(":user:%d", m.UserID)
	}
	return k
}

// branchKey is the part of a session key that names its worktree.
func branchKey(branch string) string {
	if branch == "" {
		return ""
	}
	return "@" + branch
}

// dirLine is the footer line of an answer given in a worktree; a reply to
// the answer continues there.
func dirLine(project, branch string) string { return "dir: " + project + " @" + branch }

var dirLineRE = regexp.MustCompile(`(?m)^dir: ([^\s@]+) @(\S+)$`)

// repliedDir finds the dirLine of the answer a message replies to.
func repliedDir(text string) (project, branch string, ok bool) {
	m := dirLineRE.FindStringSubmatch(text)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// Chat settings of /ctx: the project and branch a chat or topic is bound
// to, as "project" or "project@branch".
const SettingContext = "context"

// contextProject is the project of m after its directives d: the one they
// name, else the one /ctx bound the chat to, else the chat's own.
func (rt *router) contextProject(m Message, d directives) (Project, bool) {
	bound, _ := rt.boundContext(m)
	return rt.projectFor(m, cmpOr(d.project, bound))
}

// boundBranch is the branch /ctx bound m's chat to, when m runs in the
// bound project without naming one itself.
func (rt *router) boundBranch(m Message, d directives, p Project) string {
	project, branch := rt.boundContext(m)
	if d.project != "" || project != p.Name {
		return ""
	}
	return branch
}

// boundContext is the project and branch /ctx bound m's chat or topic to.
func (rt *router) boundContext(m Message) (project, branch string) {
	if rt.opts.Chats == nil {
		return "", ""
	}
	v, ok := rt.opts.Chats.Setting(chatKey(m), SettingContext)
	if !ok {
		return "", ""
	}
	project, branch, _ = strings.Cut(v, "@")
	if !rt.hasProject(project) {
		return "", ""
	}
	return project, branch
}

// sessionKey names the conversation of one engine in one project: a
// session lives in its project's directory and engine home, so it cannot
// be resumed in another project.
func sessionKey(m Message, project, engine string) string {
	return conversationKey(m) + ":" + project + ":" + engine
}

// queueKey names the FIFO r waits in. In chat mode a conversation's
// messages continue one session, so they queue. In stateless mode only a
// reply continues a session: replies to one session queue, and every other
// message is a session of its own and runs at once.
func (rt *router) queueKey(r *run) string {
	if rt.opts.SessionMode == SessionChat {
		return r.session
	}
	if r.resume != "" {
		return "resume:" + r.engine.Name() + ":" + r.resume
	}
	return "run:" + r.id
}

// chooseEngine applies the precedence: a /<engine> directive, the engine
// of the answer replied to, the chat's /agent choice, the project's
// default, the global default.
func (rt *router) chooseEngine(m Message, d directives, p Project, replied string) string {
	switch {
	case d.engine != "":
		return d.engine
	case replied != "":
		return replied
	}
	if rt.opts.Chats != nil {
		if e, ok := rt.opts.Chats.Engine(chatKey(m)); ok {
			return e
		}
	}
	if p.DefaultEngine != "" {
		return p.DefaultEngine
	}
	return rt.opts.DefaultEngine
}

// chatEngine is the engine a plain message in m's chat runs with.
func (rt *router) chatEngine(m Message) string {
	p, _ := rt.projectFor(m, "")
	return rt.chooseEngine(m, directives{}, p, "")
}

// model is the model override for engine in m's chat: the one chosen with
// /model, else the config's.
func (rt *router) model(m Message, engine string) string {
	if rt.opts.Chats != nil {
		if model, ok := rt.opts.Chats.Model(chatKey(m), engine); ok {
			return model
		}
	}
	return rt.opts.Models[engine]
}

// approvals reports whether runs of project p from m's chat ask before they
// act, and in which plan mode: the chat's /approvals and /planmode, else
// the project's config.
func (rt *router) approvals(m Message, p Project) (on bool, plan string) {
	on, plan = p.Approvals, cmpOr(p.PlanMode, PlanOff)
	if rt.opts.Chats != nil {
		if v, ok := rt.opts.Chats.Setting(chatKey(m), SettingApprovals); ok {
			on = v == "on"
		}
		if v, ok := rt.opts.Chats.Setting(chatKey(m), SettingPlanMode); ok {
			plan = v
		}
	}
	return on, plan
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// engine returns the engine named name, nil when there is none.
func (rt *router) engine(name string) engines.Engine { return rt.opts.Engines[name] }
