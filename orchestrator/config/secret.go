package config

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Secret is a bot token, an API key or another credential. Every way of
// printing it — fmt with any verb, JSON, text marshalling, slog — yields a
// mask that keeps only a bot token's numeric id, e.g. "123…(redacted)", or
// "(redacted)"; Reveal returns the value itself, for the one place that
// uses it.
type Secret string

// Reveal returns the token.
func (s Secret) Reveal() string { return string(s) }

// String returns the mask: "<bot id>…(redacted)", "(redacted)" when the
// value has no numeric id, or "" when the secret is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	id, _, ok := strings.Cut(string(s), ":")
	if !ok || id == "" || strings.Trim(id, "0123456789") != "" {
		return "(redacted)"
	}
	return id + "…(redacted)"
}

// GoString masks %#v.
func (s Secret) GoString() string { return "config.Secret(" + strconv.Quote(s.String()) + ")" }

// Format masks every fmt verb, including those (such as %d or %x) that would
// otherwise bypass String.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		io.WriteString(f, s.GoString())
	case verb == 'q':
		io.WriteString(f, strconv.Quote(s.String()))
	default:
		io.WriteString(f, s.String())
	}
}

// MarshalJSON writes the mask as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText writes the mask.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue masks the secret in slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

var (
	_ fmt.Formatter  = Secret("")
	_ fmt.Stringer   = Secret("")
	_ json.Marshaler = Secret("")
	_ slog.LogValuer = Secret("")
)

// secretKeys are the three keys one secret may come from: base itself (the
// value), base_file (a file, relative to the config directory, whose
// trimmed content it is) and base_env (an environment variable's name).
type secretKeys struct {
	base  string
	holds string // what the file holds, for its problems: "an API key"
	env   string // an example variable name
}

// readSecret reads the secret of keys from t, of which at most one key may
// be set. It returns the secret, the key it came from and how a problem
// names its content ("the value", "the file's content", "$VAR"); ok is
// false when none is set or a problem was reported. The secret joins the
// ones no problem may quote.
func (p *parser) readSecret(t *table, keys secretKeys) (secret, source, what string, ok bool) {
	keyLiteral, keyFile, keyEnv := keys.base, keys.base+"_file", keys.base+"_env"
	var set []string
	for _, k := range []string{keyLiteral, keyFile, keyEnv} {
		if t.has(k) {
			set = append(set, k)
		}
	}
	literal, hasLiteral := t.str(keyLiteral)
	file, hasFile := t.str(keyFile)
	env, hasEnv := t.str(keyEnv)
	switch {
	case len(set) > 1:
		t.problem(set[0], "set only one of %s, %s and %s", keyLiteral, keyFile, keyEnv)
		return "", "", "", false
	case hasLiteral:
		if literal == "" {
			t.problem(keyLiteral, "must not be empty (remove it if none is needed)")
			return "", "", "", false
		}
		secret, source, what = literal, keyLiteral, "the value"
	case hasFile:
		var read bool
		if secret, read = p.readSecretFile(t, keyFile, file, keys.holds); !read {
			return "", "", "", false
		}
		source, what = keyFile, "the file's content"
	case hasEnv:
		if !envNameRE.MatchString(env) {
			t.problem(keyEnv, "must name an environment variable, e.g. %q", keys.env)
			return "", "", "", false
		}
		secret = strings.TrimSpace(p.getenv(env))
		if secret == "" {
			t.problem(keyEnv, "$%s is not set or empty", env)
			return "", "", "", false
		}
		source, what = keyEnv, "$"+env
	default:
		return "", "", "", false // none, or a wrong type (reported)
	}
	p.secrets = append(p.secrets, secret)
	return secret, source, what, true
}
