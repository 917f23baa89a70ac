package orchestrator

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/untether-go/untether/engines"
)

// directives are the first-line words that steer one message: /<engine>
// and /<project>. Anything else starting with "/" goes to the agent as is
// (agents have slash commands of their own).
type directives struct {
	engine  string
	project string
	prompt  string
}

// parseDirectives takes /<engine> and /<project> words off the start of
// text. A "@botname" suffix on a word is ignored, as Telegram adds it in
// groups.
func (o *Orchestrator) parseDirectives(text string) directives {
	var d directives
	rest := strings.TrimLeft(text, " \t")
	for strings.HasPrefix(rest, "/") {
		word, after := cutWord(rest)
		name, _, _ := strings.Cut(strings.TrimPrefix(word, "/"), "@")
		switch {
		case d.engine == "" && o.opts.Engines[name] != nil:
			d.engine = name
		case d.project == "" && o.hasProject(name):
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

func (o *Orchestrator) hasProject(name string) bool {
	return slices.ContainsFunc(o.opts.Projects, func(p Project) bool { return p.Name == name })
}

func (o *Orchestrator) project(name string) (Project, bool) {
	for _, p := range o.opts.Projects {
		if p.Name == name {
			return p, true
		}
	}
	return Project{}, false
}

// resumeFromReply finds a resume line in the message m replies to: replying
// to an answer continues that answer's engine and session.
func (o *Orchestrator) resumeFromReply(m Message) (engine, id string, ok bool) {
	if m.ReplyToText == "" {
		return "", "", false
	}
	for _, name := range o.engineNames() {
		if id, ok := o.opts.Engines[name].ParseResume(m.ReplyToText); ok {
			return name, id, true
		}
	}
	return "", "", false
}

func (o *Orchestrator) engineNames() []string {
	names := make([]string, 0, len(o.opts.Engines))
	for n := range o.opts.Engines {
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

// sessionKey names the conversation of one engine in one project: a
// session lives in its project's directory and engine home, so it cannot
// be resumed in another project.
func sessionKey(m Message, project, engine string) string {
	return conversationKey(m) + ":" + project + ":" + engine
}

// queueKey names the FIFO j waits in. In chat mode a conversation's
// messages continue one session, so they queue. In stateless mode only a
// reply continues a session: replies to one session queue, and every other
// message is a session of its own and runs at once.
func (o *Orchestrator) queueKey(j *job) string {
	if o.opts.SessionMode == SessionChat {
		return j.session
	}
	if j.resume != "" {
		return "resume:" + j.engine.Name() + ":" + j.resume
	}
	return "run:" + j.id
}

// chooseEngine applies the precedence: a /<engine> directive, the engine
// of the answer replied to, the chat's /agent choice, the project's
// default, the global default.
func (o *Orchestrator) chooseEngine(m Message, d directives, p Project, replied string) string {
	switch {
	case d.engine != "":
		return d.engine
	case replied != "":
		return replied
	}
	if o.opts.Chats != nil {
		if e, ok := o.opts.Chats.Engine(chatKey(m)); ok {
			return e
		}
	}
	if p.DefaultEngine != "" {
		return p.DefaultEngine
	}
	return o.opts.DefaultEngine
}

// engineFor returns the engine named name, which route checked exists.
func (o *Orchestrator) engineFor(name string) engines.Engine { return o.opts.Engines[name] }
