package config

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"unicode"
)

// Values of Webhook.Auth. They are package webhook's AuthHMACSHA256 and
// AuthBearer; agree_test.go checks that they agree.
const (
	WebhookAuthHMAC   = "hmac-sha256"
	WebhookAuthBearer = "bearer"
)

// MinWebhookSecret is the length, in bytes, below which a webhook secret is
// refused as too easy to guess.
const MinWebhookSecret = 16

var (
	// eventRE: an event, or an event and one of its actions.
	eventRE = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)?$`)
)

// Triggers is [triggers]: what starts runs without a chat message.
type Triggers struct {
	// Listen (key `listen`) is the host:port the webhook listener binds:
	// an IP address (or "localhost") and a port, e.g. "127.0.0.1:9876".
	// Required when there are webhooks; empty otherwise. A non-loopback
	// address must be written out ("0.0.0.0:9876"): ":9876" is refused.
	Listen string
	// Webhooks are the [[triggers.webhooks]] tables, in file order.
	Webhooks []Webhook
	// Crons are the [[triggers.crons]], in file order. Their slots missed
	// while the bridge was down follow transports.telegram.missed_after.
	Crons []Cron
}

// Webhook is one [[triggers.webhooks]] table: signed HTTP calls to Path on
// Triggers.Listen that start runs of Project. Its fields map one to one onto
// webhook.Hook (Secret revealed).
type Webhook struct {
	// ID (key `id`, required, unique) names the hook in logs and in the
	// "⚡ webhook <id>" message: 1 to 32 of a-z, 0-9, - and _.
	ID string
	// Path (key `path`, required, unique) starts with "/" and is clean:
	// no "..", no trailing slash, no query.
	Path string
	// Secret comes from `secret`, `secret_file` (a path relative to the
	// config directory; content trimmed) or `secret_env` (the name of an
	// environment variable): exactly one of them. At least
	// MinWebhookSecret bytes. Never printed.
	Secret Secret
	// Auth (key `auth`, default WebhookAuthHMAC) is WebhookAuthHMAC (the
	// body's HMAC-SHA256, as GitHub signs it) or WebhookAuthBearer.
	Auth string
	// Project (key `project`, required) names a configured project.
	Project string
	// Engine (key `engine`) is empty (the project's default) or an engine.
	Engine string
	// PromptTemplate (key `prompt_template`, required) is a Go
	// text/template over the JSON body: {{ .issue.title }}.
	PromptTemplate string
	// EventFilter (key `event_filter`) lists the GitHub events that start
	// runs: "issues" (every action) or "issues.opened"; empty takes all.
	EventFilter []string
}

// triggers reads [triggers]: listen and [[triggers.webhooks]]. Projects
// must be parsed already.
func (p *parser) triggers(t *table, c *Config) Triggers {
	var tr Triggers
	if s, ok := t.str("listen"); ok {
		if msg := checkListen(s); msg != "" {
			t.problem("listen", "%s", msg)
		} else {
			tr.Listen = s
		}
	}
	ids, paths := map[string]int{}, map[string]int{}
	for i, wt := range t.tableList("webhooks") {
		w := p.webhook(wt, c)
		if first, ok := ids[w.ID]; ok && w.ID != "" {
			wt.problem("id", "%q is already the id of webhook %d", w.ID, first)
		} else if w.ID != "" {
			ids[w.ID] = i + 1
		}
		if first, ok := paths[w.Path]; ok && w.Path != "" {
			wt.problem("path", "%q is already the path of webhook %d", w.Path, first)
		} else if w.Path != "" {
			paths[w.Path] = i + 1
		}
		tr.Webhooks = append(tr.Webhooks, w)
	}
	if len(tr.Webhooks) > 0 && !t.has("listen") {
		t.problem("listen", `required with [[triggers.webhooks]]: the address to listen on, e.g. "127.0.0.1:9876"`)
	}
	t.done()
	return tr
}

// webhook reads one [[triggers.webhooks]] table.
func (p *parser) webhook(t *table, c *Config) Webhook {
	w := Webhook{Auth: WebhookAuthHMAC}
	w.ID = triggerID(t, "webhook", "gh-issues")
	if s, ok := t.str("path"); ok {
		if msg := checkWebhookPath(s); msg != "" {
			t.problem("path", "%s", msg)
		} else {
			w.Path = s
		}
	} else if !t.has("path") {
		t.problem("path", `required: where the webhook is called, e.g. "/hooks/github"`)
	}
	if s, ok := t.str("auth"); ok {
		switch s {
		case WebhookAuthHMAC, WebhookAuthBearer:
			w.Auth = s
		default:
			t.problem("auth", `must be "hmac-sha256" (GitHub's X-Hub-Signature-256) or "bearer", not %q`, s)
		}
	}
	w.Secret = p.webhookSecret(t, w.Auth)
	if s, ok := t.str("project"); ok {
		if _, found := c.Project(s); found {
			w.Project = s
		} else {
			t.problem("project", "no project named %q: define [projects.%s] or name another", s, s)
		}
	} else if !t.has("project") {
		t.problem("project", "required: the project whose runs the webhook starts")
	}
	if s, ok := t.str("engine"); ok && p.engine(t, "engine", s) {
		w.Engine = s
	}
	if s, ok := t.str("prompt_template"); ok {
		if msg := checkPromptTemplate(s); msg != "" {
			t.problem("prompt_template", "%s", msg)
		} else {
			w.PromptTemplate = s
		}
	} else if !t.has("prompt_template") {
		t.problem("prompt_template", `required: the prompt, with fields of the JSON body such as {{ .issue.title }}`)
	}
	if events, ok := t.stringList("event_filter"); ok {
		for i, e := range events {
			if !eventRE.MatchString(e) {
				t.problem("event_filter", `element %d (%q) is not an event: write e.g. "issues", "issues.opened" or "workflow_run.completed"`, i+1, e)
			}
		}
		w.EventFilter = events
	}
	t.done()
	return w
}

// webhookSecret takes the secret from secret, secret_file or secret_env, of
// which exactly one must be set. No message it reports holds the secret.
func (p *parser) webhookSecret(t *table, auth string) Secret {
	secret, source, what, ok := p.readSecret(t, secretKeys{base: "secret", holds: "a webhook secret", env: "GITHUB_WEBHOOK_SECRET"})
	if !ok {
		if !t.has("secret") && !t.has("secret_file") && !t.has("secret_env") {
			t.problem("secret", "required: set secret, secret_file or secret_env (e.g. the output of openssl rand -hex 32)")
		}
		return ""
	}
	switch {
	case auth == WebhookAuthBearer && strings.ContainsFunc(secret, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		t.problem(source, "%s holds spaces or control characters, which a bearer token cannot", what)
		return ""
	case strings.ContainsFunc(secret, unicode.IsControl):
		t.problem(source, "%s holds control characters", what)
		return ""
	case len(secret) < MinWebhookSecret:
		t.problem(source, "%s is %d bytes long: use at least %d (e.g. the output of openssl rand -hex 32)", what, len(secret), MinWebhookSecret)
		return ""
	}
	return Secret(secret)
}

// checkListen returns why s is not an address the listener can bind, or "".
func checkListen(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf(`%q is not host:port: write e.g. "127.0.0.1:9876"`, s)
	}
	n, err := strconv.Atoi(port)
	switch {
	case host == "":
		return fmt.Sprintf(`%q has no host: write "127.0.0.1%s" for a reverse proxy on this host, or "0.0.0.0%s" to listen on every interface`, s, s, s)
	case host != "localhost" && net.ParseIP(host) == nil:
		return fmt.Sprintf(`%q: the host must be an IP address or localhost`, s)
	case err != nil || n < 1 || n > 65535:
		return fmt.Sprintf(`%q: the port must be a number from 1 to 65535`, s)
	}
	return ""
}

// checkWebhookPath returns why s cannot be a webhook's path, or "". It
// repeats webhook.CheckPath.
func checkWebhookPath(s string) string {
	switch {
	case !strings.HasPrefix(s, "/"):
		return fmt.Sprintf("%q must start with /", s)
	case strings.ContainsAny(s, "?#%") || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Sprintf("%q must hold no spaces, ?, # or %%", s)
	case path.Clean(s) != s:
		return fmt.Sprintf("%q is not clean: write %q", s, path.Clean(s))
	}
	return ""
}

// checkPromptTemplate returns why s is not a usable prompt template, or "".
func checkPromptTemplate(s string) string {
	if strings.TrimSpace(s) == "" {
		return "must not be empty"
	}
	if _, err := template.New("prompt_template").Parse(s); err != nil {
		msg := strings.TrimPrefix(err.Error(), "template: prompt_template:")
		return "is not a valid template: line " + msg
	}
	return ""
}

// tableList returns the tables of the array of tables k ([[k]]), each
// named k[N] in problems, N counted from 1.
func (t *table) tableList(k string) []*table {
	v, ok := t.get(k)
	if !ok {
		return nil
	}
	arr, isArray := v.([]map[string]any)
	if !isArray {
		t.problem(k, "must be an array of tables ([[%s]]), not %s", t.key(k), typeName(v))
		return nil
	}
	out := make([]*table, len(arr))
	for i, m := range arr {
		out[i] = t.p.newTable(t.sub(k+"["+strconv.Itoa(i+1)+"]"), m)
	}
	return out
}
