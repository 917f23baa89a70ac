package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ResolvePath returns the config file to use: flag (--config) if set, else
// $UNTETHER_CONFIG_PATH, else home/.untether/untether.toml. A leading ~ is
// expanded with home. The result is absolute and cleaned. A nil getenv
// means os.Getenv.
func ResolvePath(flag string, getenv func(string) string, home string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	p := flag
	if p == "" {
		p = getenv(EnvConfigPath)
	}
	if p == "" {
		if home == "" {
			return "", fmt.Errorf("resolve config path: no home directory: pass --config or set $%s", EnvConfigPath)
		}
		p = filepath.Join(home, ".untether", "untether.toml")
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home == "" {
			return "", fmt.Errorf("resolve config path %s: no home directory to expand ~", p)
		}
		p = filepath.Join(home, p[1:])
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolve config path %s: %w", p, err)
	}
	return abs, nil
}

// path resolves a path-valued key: ~ and $HOME (or ${HOME}) are expanded
// from getenv("HOME"), a relative path is taken from the config directory,
// and the result is cleaned. Other variables are refused rather than left
// in the path literally.
func (p *parser) path(t *table, key, s string) (string, bool) {
	out, err := p.expand(s)
	if err != nil {
		t.problem(key, "%v", err)
		return "", false
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(p.dir, out)
	}
	return filepath.Clean(out), true
}

func (p *parser) expand(s string) (string, error) {
	home := p.getenv("HOME")
	if strings.HasPrefix(s, "~") {
		rest := s[1:]
		if rest != "" && !strings.HasPrefix(rest, "/") {
			return "", fmt.Errorf("%q: only ~ and ~/ are expanded, not ~user", s)
		}
		if home == "" {
			return "", fmt.Errorf("%q uses ~ but $HOME is not set", s)
		}
		s = home + rest
	}
	var err error
	s = os.Expand(s, func(name string) string {
		switch {
		case name != "HOME":
			err = errors.Join(err, fmt.Errorf("%q uses $%s: only ~ and $HOME are expanded", s, name))
		case home == "":
			err = errors.Join(err, fmt.Errorf("%q uses $HOME but $HOME is not set", s))
		}
		return home
	})
	return s, err
}

// deriveInstance makes an instance id of a config directory's base name:
// lowercased, leading dots dropped, '_', '.' and spaces turned into '-',
// other characters outside [a-z0-9-] dropped, at most 32 characters.
// "~/.untether" gives "untether", "~/.untether-dev" gives "untether-dev".
// The result may be empty (e.g. for "/"); the caller reports that.
func deriveInstance(dir string) string {
	base := strings.TrimLeft(strings.ToLower(filepath.Base(dir)), ".")
	var b strings.Builder
	for _, r := range base {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			b.WriteRune(r)
		case r == '-', r == '_', r == '.', r == ' ':
			if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
				b.WriteByte('-')
			}
		}
	}
	s := b.String()
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.TrimRight(s, "-")
}
