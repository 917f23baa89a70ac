package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Defaults of [voice].
const (
	DefaultVoiceModel       = "whisper-1"
	DefaultTranscriptPrefix = "🎙 "
	DefaultVoiceTimeout     = 2 * time.Minute
)

var languageRE = regexp.MustCompile(`^[a-z]{2}$`)

// Voice is [voice]: voice notes transcribed by an OpenAI-compatible speech
// to text API, then run as text. BaseURL, Model, APIKey (revealed),
// Language and Timeout map one to one onto voice.Options; ShowTranscript
// and TranscriptPrefix onto orchestrator.Options (HideTranscript =
// !ShowTranscript).
type Voice struct {
	// BaseURL (key `base_url`, required) is the API's base URL with its
	// version, e.g. "https://api.openai.com/v1"; the client adds
	// /audio/transcriptions. No trailing slash.
	BaseURL string
	// Model (key `model`, default DefaultVoiceModel).
	Model string
	// APIKey comes from `api_key`, `api_key_file` (a path relative to the
	// config directory; content trimmed) or `api_key_env` (the name of an
	// environment variable, e.g. "OPENAI_API_KEY"): at most one of them.
	// Empty when none is set, for servers that need no key. Never printed.
	APIKey Secret
	// Language (key `language`) is the spoken language as an ISO-639-1
	// code ("en"); "" lets the model detect it.
	Language string
	// ShowTranscript (key `show_transcript`, default true) sends the
	// transcript to the chat before running it.
	ShowTranscript bool
	// TranscriptPrefix (key `transcript_prefix`, default
	// DefaultTranscriptPrefix, not empty) starts that message.
	TranscriptPrefix string
	// Timeout (key `timeout`, default DefaultVoiceTimeout, 1s..30m) bounds
	// one transcription, the upload included.
	Timeout time.Duration
}

// voice reads [voice].
func (p *parser) voice(t *table) *Voice {
	v := &Voice{
		Model:            DefaultVoiceModel,
		ShowTranscript:   true,
		TranscriptPrefix: DefaultTranscriptPrefix,
		Timeout:          DefaultVoiceTimeout,
	}
	if s, ok := t.str("base_url"); ok {
		if msg := checkBaseURL(s); msg != "" {
			t.problem("base_url", "%s", msg)
		} else {
			v.BaseURL = strings.TrimSuffix(s, "/")
		}
	} else if !t.has("base_url") {
		t.problem("base_url", `required: the transcription API's base URL, e.g. "https://api.openai.com/v1" (or remove [voice])`)
	}
	if s, ok := t.str("model"); ok {
		if strings.TrimSpace(s) == "" {
			t.problem("model", "must not be empty (remove it for %q)", DefaultVoiceModel)
		} else {
			v.Model = s
		}
	}
	v.APIKey = p.voiceKey(t)
	if s, ok := t.str("language"); ok {
		switch {
		case languageRE.MatchString(s):
			v.Language = s
		case languageRE.MatchString(strings.ToLower(s)):
			t.problem("language", "write the ISO-639-1 code in lower case: %q", strings.ToLower(s))
		default:
			t.problem("language", `%q is not an ISO-639-1 code: write two letters such as "en" or "de", or remove it to let the model detect the language`, s)
		}
	}
	if b, ok := t.boolean("show_transcript"); ok {
		v.ShowTranscript = b
	}
	if s, ok := t.str("transcript_prefix"); ok {
		if s == "" {
			t.problem("transcript_prefix", "must not be empty (to send no transcript, set show_transcript = false)")
		} else {
			v.TranscriptPrefix = s
		}
	}
	if d, ok := t.duration("timeout"); ok {
		if d < time.Second || d > 30*time.Minute {
			t.problem("timeout", "must be between 1s and 30m, not %s", d)
		} else {
			v.Timeout = d
		}
	}
	t.done()
	return v
}

// voiceKey takes the API key from api_key, api_key_file or api_key_env, of
// which at most one may be set; none means no key. No message it reports
// holds the key.
func (p *parser) voiceKey(t *table) Secret {
	key, source, what, ok := p.readSecret(t, secretKeys{base: "api_key", holds: "an API key", env: "OPENAI_API_KEY"})
	if !ok {
		return "" // none, or a problem reported
	}
	if strings.ContainsFunc(key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		t.problem(source, "%s holds spaces or control characters: it is not an API key", what)
		return ""
	}
	return Secret(key)
}

// checkBaseURL returns why s is not a usable base URL of the API, or "".
func checkBaseURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf(`%q must start with https:// or http:// (e.g. "https://api.openai.com/v1")`, s)
	case u.Host == "":
		return fmt.Sprintf("%q has no host", s)
	case u.User != nil:
		return "must not hold credentials: set api_key, api_key_file or api_key_env"
	case u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return fmt.Sprintf("%q must have no query or fragment", s)
	case strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/audio/transcriptions"):
		return fmt.Sprintf("%q: write the base URL without /audio/transcriptions, which the client adds", s)
	}
	return ""
}
