package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

var (
	instanceRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	projectNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
)

// reservedNames are chat commands; a project with one of these names (or an
// engine's) could not be picked with /<project>.
var reservedNames = []string{"agent", "approvals", "at", "cancel", "continue", "ctx", "file", "help", "listen", "model", "new", "planmode", "projects", "start", "stats", "status", "usage", "voice"}

// parser holds what one Parse call needs and the problems it found.
type parser struct {
	dir       string
	getenv    func(string) string
	podmanURL string // default for sandbox.podman_url

	problems []Problem
	// secrets are the bot token and API keys as read from any source,
	// kept only to scrub them from problems should a message ever quote
	// one.
	secrets []string
}

func (p *parser) problem(key, format string, args ...any) {
	p.problems = append(p.problems, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// redacted returns the problems with any occurrence of a secret masked.
func (p *parser) redacted() []Problem {
	out := slices.Clone(p.problems)
	for _, secret := range p.secrets {
		if len(secret) < 6 { // too short to be a secret; masking would garble messages
			continue
		}
		mask := Secret(secret).String()
		for i := range out {
			out[i].Key = strings.ReplaceAll(out[i].Key, secret, mask)
			out[i].Msg = strings.ReplaceAll(out[i].Msg, secret, mask)
		}
	}
	return out
}

func (p *parser) parse(data []byte) *Config {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		p.problems = append(p.problems, syntaxProblem(err, data))
		return nil
	}
	root := p.newTable(nil, raw)
	c := &Config{
		DefaultEngine: "claude",
		Engines:       map[string]EngineOptions{},
	}
	p.instance(root, c)
	if s, ok := root.str("default_engine"); ok {
		if p.engine(root, "default_engine", s) {
			c.DefaultEngine = s
		}
	}
	if s, ok := root.str("default_project"); ok {
		c.DefaultProject = s
	}
	p.drain(root, c)
	c.Approvals = p.approvals(root, Approvals{PlanMode: PlanOff, Timeout: DefaultApprovalTimeout}, true)
	// Untether's transport selector; Telegram is the only transport.
	if s, ok := root.str("transport"); ok && s != "telegram" {
		root.problem("transport", `must be "telegram" (the only transport), not %q`, s)
	}
	transports, _ := root.table("transports")
	tg, _ := transports.table("telegram")
	c.Telegram = p.telegram(tg)
	transports.done()
	files, _ := root.table("files")
	c.Files = p.files(files, c.Telegram.APIURL)
	if vt, ok := root.table("voice"); ok {
		c.Voice = p.voice(vt)
	}
	bt, _ := root.table("budgets")
	c.Budgets = p.budgets(bt)

	sb, _ := root.table("sandbox")
	var global overrides
	c.Sandbox, global = p.sandbox(sb)
	projects, _ := root.table("projects")
	c.Projects = p.projects(projects, c.Sandbox, global, c.Approvals)
	triggers, _ := root.table("triggers")
	crons := p.crons(triggers, c)
	c.Triggers = p.triggers(triggers, c) // ends the table: crons first
	c.Triggers.Crons = crons

	for _, name := range engineNames {
		if t, ok := root.table(name); ok {
			c.Engines[name] = p.engineOptions(t)
		}
	}
	root.done()
	p.crossCheck(c)
	p.checkHosts(c)
	return c
}

// drain reads the top-level `drain` and `drain_timeout`.
func (p *parser) drain(root *table, c *Config) {
	c.Drain, c.DrainTimeout = DrainDetach, DefaultDrainTimeout
	if s, ok := root.str("drain"); ok {
		switch s {
		case DrainDetach, DrainWait, DrainKill:
			c.Drain = s
		default:
			root.problem("drain", `must be "detach", "wait" or "kill", not %q`, s)
		}
	}
	if d, ok := root.duration("drain_timeout"); ok {
		if d < time.Second || d > 10*time.Minute {
			root.problem("drain_timeout", "must be between 1s and 10m, not %s", d)
		} else {
			c.DrainTimeout = d
		}
	}
}

// approvals reads `approvals` and `plan_mode` over defaults, and at the top
// level also `approval_timeout`.
func (p *parser) approvals(t *table, a Approvals, top bool) Approvals {
	if b, ok := t.boolean("approvals"); ok {
		a.On = b
	}
	if s, ok := t.str("plan_mode"); ok {
		switch s {
		case PlanOff, PlanOn, PlanAuto:
			a.PlanMode = s
		default:
			t.problem("plan_mode", `must be "off", "on" or "auto", not %q`, s)
		}
	}
	if !top {
		return a
	}
	if d, ok := t.duration("approval_timeout"); ok {
		if d < 10*time.Second || d > 24*time.Hour {
			t.problem("approval_timeout", "must be between 10s and 24h, not %s", d)
		} else {
			a.Timeout = d
		}
	}
	return a
}

// syntaxProblem turns a decode error into one problem carrying its line.
// The parser's message may quote part of the offending value, so it is
// withheld when the line may hold the bot token or an API key.
func syntaxProblem(err error, data []byte) Problem {
	pe, ok := errors.AsType[toml.ParseError](err)
	if !ok {
		return Problem{Msg: "invalid TOML"}
	}
	line := pe.Position.Line
	if what := mentionsSecret(data, line, pe.LastKey); what != "" {
		return Problem{Msg: fmt.Sprintf("line %d: invalid TOML (details withheld: the line may hold %s)", line, what)}
	}
	return Problem{Msg: fmt.Sprintf("line %d: invalid TOML: %s", line, pe.Message)}
}

// secretWords name the keys that hold secrets, and what they hold.
var secretWords = []struct{ word, what string }{{"token", "the bot token"}, {"api_key", "an API key"}, {"secret", "a webhook secret"}}

// mentionsSecret returns what secret line n (1-based) or the one before it
// may hold, or the last key read names, or ""; the previous line counts
// because an unterminated string is reported on the line after it.
func mentionsSecret(data []byte, n int, lastKey string) string {
	lines := bytes.Split(data, []byte("\n"))
	for _, s := range secretWords {
		if strings.Contains(strings.ToLower(lastKey), s.word) {
			return s.what
		}
		for i := n - 2; i <= n-1; i++ {
			if i >= 0 && i < len(lines) && bytes.Contains(bytes.ToLower(lines[i]), []byte(s.word)) {
				return s.what
			}
		}
	}
	return ""
}

func (p *parser) instance(root *table, c *Config) {
	if s, ok := root.str("instance"); ok {
		if !instanceRE.MatchString(s) {
			root.problem("instance", "%q is not a valid instance id: use 1 to 32 of a-z, 0-9 and -, starting with a letter or digit", s)
		}
		c.Instance = s
		return
	}
	if root.has("instance") {
		return // wrong type, reported
	}
	c.Instance = deriveInstance(p.dir)
	if !instanceRE.MatchString(c.Instance) {
		root.problem("instance", "cannot derive an instance id from directory %s: set instance", p.dir)
	}
}

// engine reports whether s names an engine, and a problem on key if not.
func (p *parser) engine(t *table, key, s string) bool {
	if isEngine(s) {
		return true
	}
	t.problem(key, "unknown engine %q: use one of %s", s, strings.Join(engineNames[:], ", "))
	return false
}

func (p *parser) engineOptions(t *table) EngineOptions {
	var o EngineOptions
	if s, ok := t.str("model"); ok {
		o.Model = s
	}
	if args, ok := t.stringList("extra_args"); ok {
		o.ExtraArgs = args
	}
	o.Env = p.engineEnv(t)
	t.done()
	return o
}

func (p *parser) projects(t *table, sb Sandbox, global overrides, defaults Approvals) []Project {
	var out []Project
	for _, name := range t.keys() {
		pt, ok := t.table(name)
		if !ok {
			continue
		}
		switch {
		case !projectNameRE.MatchString(name):
			p.problem(keyString(pt.path...), "invalid project name %q: use 1 to 32 of a-z, 0-9, - and _, starting with a letter or digit", name)
		case isEngine(name) || slices.Contains(reservedNames, name):
			p.problem(keyString(pt.path...), "project name %q is taken by the /%s command: choose another", name, name)
		}
		out = append(out, p.project(pt, name, sb, global, defaults))
	}
	return out
}

func (p *parser) project(t *table, name string, sb Sandbox, global overrides, defaults Approvals) Project {
	pr := Project{Name: name}
	if s, ok := t.str("path"); ok {
		switch {
		case strings.TrimSpace(s) == "":
			t.problem("path", "must not be empty")
		default:
			if abs, ok := p.path(t, "path", s); ok {
				pr.Path = abs
			}
		}
	} else if !t.has("path") {
		t.problem("path", "required: the project's directory on this host")
	}
	if n, ok := t.integer("chat_id"); ok {
		pr.ChatID = n
	}
	if n, ok := t.integer("topic_id"); ok {
		switch {
		case n <= 0:
			t.problem("topic_id", "must be a positive forum topic id (message_thread_id), not %d", n)
		case pr.ChatID == 0:
			t.problem("topic_id", "needs chat_id: a topic belongs to a chat")
		default:
			pr.TopicID = n
		}
	}
	if s, ok := t.str("default_engine"); ok {
		if p.engine(t, "default_engine", s) {
			pr.DefaultEngine = s
		}
	}
	if s, ok := t.str("worktrees_dir"); ok {
		clean := path.Clean(s)
		switch {
		case strings.TrimSpace(s) == "" || path.IsAbs(s) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../"):
			t.problem("worktrees_dir", "must be a folder inside the project, e.g. \".worktrees\", not %q", s)
		case clean == ".git" || strings.HasPrefix(clean, ".git/"):
			t.problem("worktrees_dir", "must not be inside .git")
		default:
			pr.WorktreesDir = clean
		}
	}
	if s, ok := t.str("worktree_base"); ok {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\n~^:?*[\\") || strings.HasPrefix(s, "-") {
			t.problem("worktree_base", "must be a branch or ref such as \"main\" or \"origin/main\", not %q", s)
		} else {
			pr.WorktreeBase = s
		}
	}
	st, _ := t.table("sandbox")
	own := p.overrides(st)
	st.done()
	pr.Sandbox, pr.Network, pr.Images = p.effective(st, sb, global, own)
	pr.Approvals = p.approvals(t, defaults, false)
	p.projectHosts(t, &pr)
	t.done()
	return pr
}

// crossCheck validates what spans several tables.
func (p *parser) crossCheck(c *Config) {
	if c.DefaultProject != "" {
		if _, ok := c.Project(c.DefaultProject); !ok {
			p.problem("default_project", "no project named %q: define [projects.%s] or remove default_project", c.DefaultProject, c.DefaultProject)
		}
	}
	type route struct{ chat, topic int64 }
	byRoute := map[route]string{}
	for _, pr := range c.Projects {
		if pr.ChatID == 0 {
			continue
		}
		r := route{pr.ChatID, pr.TopicID}
		if first, ok := byRoute[r]; ok {
			if r.topic != 0 {
				p.problem(keyString("projects", pr.Name, "topic_id"), "topic %d of chat %d is already routed to project %s", r.topic, r.chat, first)
			} else {
				p.problem(keyString("projects", pr.Name, "chat_id"), "chat %d is already routed to project %s", r.chat, first)
			}
			continue
		}
		byRoute[r] = pr.Name
	}
	if c.Sandbox.Backend == BackendProcess {
		if c.Sandbox.Network == NetworkNone {
			p.problem("sandbox.network", `"none" cannot be enforced by the process backend`)
		}
		for _, pr := range c.Projects {
			if pr.Network == NetworkNone && c.Sandbox.Network != NetworkNone {
				p.problem(keyString("projects", pr.Name, "sandbox", "network"), `"none" cannot be enforced by the process backend`)
			}
		}
	}
}

// defaultImages maps every engine to its locally built image.
func defaultImages() map[string]string {
	m := make(map[string]string, len(engineNames))
	for _, e := range engineNames {
		m[e] = "localhost/untether-" + e + ":latest"
	}
	return m
}

// mergeImages returns base with over applied.
func mergeImages(base, over map[string]string) map[string]string {
	m := maps.Clone(base)
	maps.Copy(m, over)
	return m
}
