package config

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
)

// maxEnvFile bounds an engine's env_file; credentials are small.
const maxEnvFile = 64 << 10

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedEnv are set by untether for every run and cannot be overridden.
var reservedEnv = []string{"HOME"}

// engineEnv reads an engine's credentials and settings for its containers:
// `env_file` (KEY=VALUE lines, relative to the config directory) first,
// then the [<engine>.env] table, whose keys win. Values are secrets: no
// problem ever quotes one.
func (p *parser) engineEnv(t *table) map[string]Secret {
	env := map[string]Secret{}
	if name, ok := t.str("env_file"); ok {
		p.readEnvFile(t, name, env)
	}
	et, ok := t.table("env")
	if ok {
		for _, k := range et.keys() {
			v, isString := et.m[k].(string)
			switch {
			case !isString:
				et.problem(k, "must be a string, not %s", typeName(et.m[k]))
			case !envNameRE.MatchString(k):
				et.problem(k, "is not an environment variable name")
			case isReservedEnv(k):
				et.problem(k, "is set by untether itself")
			default:
				env[k] = Secret(v)
			}
		}
	}
	if len(env) == 0 {
		return nil
	}
	return env
}

func isReservedEnv(k string) bool {
	for _, r := range reservedEnv {
		if k == r {
			return true
		}
	}
	return false
}

// readEnvFile parses a dotenv-style file: KEY=VALUE per line, blank lines
// and # comments skipped, an optional "export " prefix, and one level of
// matching quotes around the value.
func (p *parser) readEnvFile(t *table, name string, env map[string]Secret) {
	const key = "env_file"
	path, ok := p.path(t, key, name)
	if !ok {
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.problem(key, "file %s does not exist", path)
		return
	}
	if err != nil {
		t.problem(key, "cannot read %s: %v", path, unwrapPathError(err))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEnvFile+1))
	if err != nil {
		t.problem(key, "cannot read %s: %v", path, unwrapPathError(err))
		return
	}
	if len(data) > maxEnvFile {
		t.problem(key, "file %s is larger than %s", path, FormatSize(maxEnvFile))
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxEnvFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, found := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k = strings.TrimSpace(k)
		switch {
		case !found || !envNameRE.MatchString(k):
			t.problem(key, "%s line %d: want KEY=VALUE", path, n)
			continue
		case isReservedEnv(k):
			t.problem(key, "%s line %d: %s is set by untether itself", path, n, k)
			continue
		}
		env[k] = Secret(unquote(strings.TrimSpace(v)))
	}
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
