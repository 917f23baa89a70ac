package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// tokenRE is the shape of a token given by @BotFather: the bot's numeric id,
// a colon, the secret.
var tokenRE = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`)

// maxTokenFile bounds what is read from bot_token_file and api_key_file,
// so that pointing them at a device or a large file fails fast.
const maxTokenFile = 4 << 10

func (p *parser) telegram(t *table) Telegram {
	tg := Telegram{
		APIURL:         DefaultAPIURL,
		SessionMode:    SessionChat,
		ShowResumeLine: true,
		Drafts:         true,
		PollTimeout:    30 * time.Second,
		MissedAfter:    time.Hour,
	}
	tg.BotToken = p.botToken(t)
	if s, ok := t.str("api_url"); ok {
		if msg := checkAPIURL(s); msg != "" {
			t.problem("api_url", "%s", msg)
		} else {
			tg.APIURL = strings.TrimSuffix(s, "/")
		}
	}
	if n, ok := t.integer("chat_id"); ok {
		tg.ChatID = n
	}
	tg.AllowedUserIDs = p.allowedUsers(t)
	if s, ok := t.str("session_mode"); ok {
		if s == SessionChat || s == SessionStateless {
			tg.SessionMode = s
		} else {
			t.problem("session_mode", `must be "chat" or "stateless", not %q`, s)
		}
	}
	if b, ok := t.boolean("show_resume_line"); ok {
		tg.ShowResumeLine = b
	}
	if b, ok := t.boolean("drafts"); ok {
		tg.Drafts = b
	}
	if d, ok := t.duration("poll_timeout"); ok {
		if d < time.Second || d > 50*time.Second {
			t.problem("poll_timeout", "must be between 1s and 50s, not %s", d)
		} else {
			tg.PollTimeout = d
		}
	}
	if d, ok := t.duration("missed_after"); ok {
		if d < 0 {
			t.problem("missed_after", "must not be negative, not %s", d)
		} else {
			tg.MissedAfter = d
		}
	}
	t.done()
	return tg
}

// botToken takes the token from bot_token, bot_token_file or the
// environment, in that order; the file may set only one of the two keys.
// No message it reports holds the token.
func (p *parser) botToken(t *table) Secret {
	const keyToken, keyFile = "bot_token", "bot_token_file"
	literal, hasLiteral := t.str(keyToken)
	file, hasFile := t.str(keyFile)
	var token, source string
	switch {
	case t.has(keyToken) && t.has(keyFile):
		t.problem(keyToken, "set only one of bot_token and bot_token_file")
		return ""
	case hasLiteral:
		token, source = literal, keyToken
	case hasFile:
		var ok bool
		if token, ok = p.readSecretFile(t, keyFile, file, "a bot token"); !ok {
			return ""
		}
		source = keyFile
	case t.has(keyToken) || t.has(keyFile):
		return "" // wrong type, reported
	default:
		token = strings.TrimSpace(p.getenv(EnvBotToken))
		if token == "" {
			t.problem(keyToken, "missing: set bot_token or bot_token_file here, or $%s", EnvBotToken)
			return ""
		}
		source = keyToken
	}
	p.secrets = append(p.secrets, token)
	if token == "" {
		t.problem(source, "must not be empty")
		return ""
	}
	if !tokenRE.MatchString(token) {
		what := "the value"
		switch {
		case source == keyFile:
			what = "the file's content"
		case !hasLiteral:
			what = "$" + EnvBotToken
		}
		t.problem(source, "%s is not a Telegram bot token (expected <bot id>:<secret>, as given by @BotFather)", what)
		return ""
	}
	return Secret(token)
}

// readSecretFile reads the file named by key (relative to the config
// directory), which holds what (e.g. "a bot token"), and returns its trimmed
// content.
func (p *parser) readSecretFile(t *table, key, name, what string) (string, bool) {
	if strings.TrimSpace(name) == "" {
		t.problem(key, "must not be empty")
		return "", false
	}
	path, ok := p.path(t, key, name)
	if !ok {
		return "", false
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.problem(key, "file %s does not exist", path)
		return "", false
	}
	if err != nil {
		t.problem(key, "cannot read %s: %v", path, unwrapPathError(err))
		return "", false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		t.problem(key, "cannot read %s: %v", path, unwrapPathError(err))
		return "", false
	}
	token := strings.TrimSpace(string(data))
	switch {
	case token == "":
		t.problem(key, "file %s is empty", path)
		return "", false
	case len(data) > maxTokenFile:
		t.problem(key, "file %s is too large to hold %s", path, what)
		return "", false
	}
	return token, true
}

func (p *parser) allowedUsers(t *table) []int64 {
	const key = "allowed_user_ids"
	ids, ok := t.intList(key)
	switch {
	case !t.has(key):
		t.problem(key, "required: list the Telegram user ids allowed to use the bot (without it the bot would be public)")
		return nil
	case !ok:
		return nil // wrong type, reported
	case len(ids) == 0:
		t.problem(key, "must not be empty: an empty allowlist would make the bot public")
		return nil
	}
	seen := make(map[int64]bool, len(ids))
	for _, id := range ids {
		switch {
		case id <= 0:
			t.problem(key, "user id %d must be positive (user ids are; group chat ids are not)", id)
		case seen[id]:
			t.problem(key, "user id %d is listed twice", id)
		}
		seen[id] = true
	}
	return ids
}

// checkAPIURL returns why s is not a usable Bot API base URL, or "".
func checkAPIURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must start with https:// or http://", s)
	case u.Host == "":
		return fmt.Sprintf("%q has no host", s)
	case u.User != nil:
		return "must not hold credentials" // not quoted: they are secrets
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return fmt.Sprintf("%q must have no path, query or fragment (the client adds /bot<token>/<method>)", s)
	}
	return ""
}
