package engines

import (
	"errors"
	"fmt"
	"strings"
)

// maxTokenLen bounds session ids and model names; real ones are far shorter.
const maxTokenLen = 128

// ValidID reports whether s looks like a session or thread id of any engine
// (UUIDs, "ses_…", "T-…"): letters, digits, '-', '_' and '.', no leading
// '-', at most 128 bytes.
func ValidID(s string) bool {
	return validToken(s, "-_.")
}

// ValidModel reports whether s looks like a model name or alias such as
// "claude-sonnet-4-5", "gpt-5.1-codex" or "anthropic/claude@2025:1".
func ValidModel(s string) bool {
	return validToken(s, "-_.:/@")
}

func validToken(s, punct string) bool {
	if s == "" || len(s) > maxTokenLen || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune(punct, rune(s[i])) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// CheckRequest validates the parts of req every engine relies on: a prompt
// that can cross execve, and plausible resume id and model. Errors start
// "build <engine> invocation:" and name the field.
func CheckRequest(engine string, req Request) error {
	switch {
	case strings.TrimSpace(req.Prompt) == "":
		return fmt.Errorf("build %s invocation: prompt is empty", engine)
	case strings.IndexByte(req.Prompt, 0) >= 0:
		return fmt.Errorf("build %s invocation: prompt contains a NUL byte", engine)
	case req.Resume != "" && !ValidID(req.Resume):
		return fmt.Errorf("build %s invocation: resume id %q is not a session id", engine, clip(req.Resume, 64))
	case req.Model != "" && !ValidModel(req.Model):
		return fmt.Errorf("build %s invocation: model %q is not a model name", engine, clip(req.Model, 64))
	}
	for _, img := range req.Images {
		if !strings.HasPrefix(img, "/") || strings.IndexByte(img, 0) >= 0 || strings.HasPrefix(img, "-") {
			return fmt.Errorf("build %s invocation: image %q is not an absolute path", engine, clip(img, 64))
		}
	}
	return nil
}

// CheckExtraArgs rejects any of args that is one of the owned flags, alone
// or in its --flag=value form, and any NUL byte. owned lists flags with
// their dashes ("--output-format", "-p").
func CheckExtraArgs(engine string, args, owned []string) error {
	var errs []error
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			errs = append(errs, fmt.Errorf("%q contains a NUL byte", clip(a, 64)))
			continue
		}
		flag, _, _ := strings.Cut(a, "=")
		for _, o := range owned {
			if flag == o {
				errs = append(errs, fmt.Errorf("%s is set by untether for every %s run and cannot be overridden", o, engine))
			}
		}
	}
	return errors.Join(errs...)
}

// FindResume returns the id of the last "<prefix> <id>" in text whose prefix
// starts a word and whose id is ValidID, such as a resume line in the
// footer of a bot message.
func FindResume(text, prefix string) (string, bool) {
	var id string
	found := false
	for i := 0; i < len(text); {
		j := strings.Index(text[i:], prefix)
		if j < 0 {
			break
		}
		at := i + j
		i = at + len(prefix)
		if at > 0 && (isAlnum(text[at-1]) || text[at-1] == '_' || text[at-1] == '-') {
			continue // part of a longer word, such as "myclaude --resume"
		}
		rest := text[i:]
		k := 0
		for k < len(rest) && (rest[k] == ' ' || rest[k] == '\t') {
			k++
		}
		if k == 0 {
			continue
		}
		end := k
		for end < len(rest) && (isAlnum(rest[end]) || strings.IndexByte("-_.", rest[end]) >= 0) {
			end++
		}
		if tok := strings.TrimRight(rest[k:end], "."); ValidID(tok) {
			id, found = tok, true
		}
	}
	return id, found
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
