package config

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Limits of the Bot API on files, and the defaults of [files]. They are
// orchestrator's (FileOptions, DefaultDenyGlobs), repeated here because this
// package imports nothing of the module; a test checks that they agree.
const (
	// BotAPIMaxDownload is the largest file a bot may download from the
	// public Bot API, and max_download's default.
	BotAPIMaxDownload = 20 << 20
	// BotAPIMaxUpload is the largest file a bot may send through the
	// public Bot API, and max_upload's default.
	BotAPIMaxUpload = 50 << 20
	// LocalBotAPIMax is the most a local Bot API server takes either way.
	LocalBotAPIMax = 2000 << 20
	// DefaultUploadsDir is uploads_dir's default.
	DefaultUploadsDir = "incoming"
)

// publicAPIHost serves the public Bot API, whose file limits are lower.
const publicAPIHost = "api.telegram.org"

// DefaultDenyGlobs returns deny_globs' default: the paths /file refuses.
func DefaultDenyGlobs() []string {
	return []string{".git/**", ".env*", "**/.env*", "**/*.pem", "**/id_*"}
}

// Files is [files]: files sent to projects and taken from them. Its fields
// map one to one onto orchestrator.FileOptions (Disabled = !Enabled).
type Files struct {
	// Enabled (key `enabled`, default true) allows uploads, /file get and
	// put, and the outbox.
	Enabled bool
	// UploadsDir (key `uploads_dir`, default DefaultUploadsDir) is where
	// files sent without a path are saved: a slash-separated path relative
	// to the project, cleaned, without "..".
	UploadsDir string
	// DenyGlobs (key `deny_globs`, default DefaultDenyGlobs) are the
	// project paths /file may not touch: doublestar globs matched against
	// slash-separated paths relative to the project. Never nil; an empty
	// list denies nothing.
	DenyGlobs []string
	// MaxDownload (key `max_download`, default BotAPIMaxDownload) is the
	// largest file taken from the chat, MaxUpload (key `max_upload`,
	// default BotAPIMaxUpload) the largest sent to it. With the public
	// Bot API they may not exceed those defaults; with a local Bot API
	// server (transports.telegram.api_url), LocalBotAPIMax.
	MaxDownload int64
	MaxUpload   int64
}

// files reads [files]; apiURL is the effective Bot API URL, which sets the
// size limits.
func (p *parser) files(t *table, apiURL string) Files {
	f := Files{
		Enabled:     true,
		UploadsDir:  DefaultUploadsDir,
		DenyGlobs:   DefaultDenyGlobs(),
		MaxDownload: BotAPIMaxDownload,
		MaxUpload:   BotAPIMaxUpload,
	}
	if b, ok := t.boolean("enabled"); ok {
		f.Enabled = b
	}
	if s, ok := t.str("uploads_dir"); ok {
		if dir, msg := checkUploadsDir(s); msg != "" {
			t.problem("uploads_dir", "%s", msg)
		} else {
			f.UploadsDir = dir
		}
	}
	if globs, ok := t.stringList("deny_globs"); ok {
		for i, g := range globs {
			if msg := checkDenyGlob(g); msg != "" {
				t.problem("deny_globs", "element %d (%q) %s", i+1, g, msg)
			}
		}
		f.DenyGlobs = globs
	}
	public := isPublicAPI(apiURL)
	if n, ok := t.size("max_download"); ok && p.fileLimit(t, "max_download", n, public, BotAPIMaxDownload, "download") {
		f.MaxDownload = n
	}
	if n, ok := t.size("max_upload"); ok && p.fileLimit(t, "max_upload", n, public, BotAPIMaxUpload, "send") {
		f.MaxUpload = n
	}
	t.done()
	return f
}

// fileLimit reports whether n is a usable limit of files bots verb
// (download, send), and a problem on key if not.
func (p *parser) fileLimit(t *table, key string, n int64, public bool, publicMax int64, verb string) bool {
	switch {
	case n <= 0:
		t.problem(key, "must be more than 0 (to turn files off, set enabled = false)")
	case public && n > publicMax:
		t.problem(key, "%s is over the public Bot API's limit of %s on files bots %s: set at most %s, "+
			"or run a local Bot API server and point transports.telegram.api_url at it, which lifts the limit to %s",
			FormatSize(n), FormatSize(publicMax), verb, FormatSize(publicMax), FormatSize(LocalBotAPIMax))
	case n > LocalBotAPIMax:
		t.problem(key, "%s is over the limit of %s of a local Bot API server", FormatSize(n), FormatSize(LocalBotAPIMax))
	default:
		return true
	}
	return false
}

// isPublicAPI reports whether apiURL is the public Bot API.
func isPublicAPI(apiURL string) bool {
	u, err := url.Parse(apiURL)
	return err == nil && strings.EqualFold(u.Hostname(), publicAPIHost)
}

// checkUploadsDir returns s cleaned, or why it is not a folder inside the
// project.
func checkUploadsDir(s string) (string, string) {
	switch {
	case strings.TrimSpace(s) == "":
		return "", `must not be empty: name a folder of the project, e.g. "incoming"`
	case strings.HasPrefix(s, "/") || filepath.IsAbs(s):
		return "", fmt.Sprintf(`%q must be relative to the project, not absolute (e.g. "incoming")`, s)
	case strings.HasPrefix(s, "~") || strings.Contains(s, "$"):
		return "", fmt.Sprintf(`%q must be a plain path relative to the project: ~ and $ are not expanded here`, s)
	case strings.Contains(s, `\`):
		return "", fmt.Sprintf(`%q must use / between folders`, s)
	case slices.Contains(strings.Split(s, "/"), ".."):
		return "", fmt.Sprintf(`%q must stay inside the project: remove ".."`, s)
	}
	dir := path.Clean(s)
	if dir == "." {
		return "", fmt.Sprintf(`%q is the project itself: name a folder for uploads, e.g. "incoming"`, s)
	}
	return dir, ""
}

// checkDenyGlob returns why g is not a usable deny glob, or "". The syntax
// is doublestar's: path.Match's (*, ?, [classes], \ escapes) plus ** and
// {alternatives,...}.
func checkDenyGlob(g string) string {
	switch {
	case g == "":
		return "is empty"
	case strings.HasPrefix(g, "/"):
		return `must be relative to the project: globs match paths such as "src/main.go", so drop the leading /`
	case slices.Contains(strings.Split(g, "/"), ".."):
		return `never matches: paths are relative to the project and have no ".."`
	}
	depth := 0
	for i := 0; i < len(g); i++ {
		switch g[i] {
		case '\\':
			if i+1 == len(g) {
				return `is not a valid glob: it ends with a lone \`
			}
			i++
		case '[':
			end := classEnd(g, i)
			if end < 0 {
				return "is not a valid glob: a [ is not closed by ]"
			}
			i = end
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return "is not a valid glob: a } closes no {"
			}
			depth--
		}
	}
	if depth > 0 {
		return "is not a valid glob: a { is not closed by }"
	}
	// path.Match checks the inside of classes (ranges, escapes); braces
	// are plain characters to it.
	if _, err := path.Match(g, ""); err != nil {
		return `is not a valid glob: a [class] is malformed (write e.g. "[a-z]" or "[!.]")`
	}
	return ""
}

// classEnd returns the index of the ] that closes the class opened at
// g[open], or -1.
func classEnd(g string, open int) int {
	i := open + 1
	if i < len(g) && (g[i] == '!' || g[i] == '^') {
		i++
	}
	for ; i < len(g); i++ {
		switch g[i] {
		case '\\':
			i++
		case ']':
			return i
		}
	}
	return -1
}
