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
