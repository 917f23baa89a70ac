package config

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// table walks one decoded TOML table. Every getter marks its key as known
// and reports a wrong type as a problem under the key's full path, so that a
// bad value never hides the problems of other keys; done then reports the
// keys no getter asked for.
type table struct {
	p    *parser
	path []string
	m    map[string]any
	used map[string]bool
}

func (p *parser) newTable(path []string, m map[string]any) *table {
	return &table{p: p, path: path, m: m, used: map[string]bool{}}
}

// keyString renders a TOML key path, quoting the parts that are not bare
// keys. An element of an array of tables is written either as one part,
// "webhooks[2]", or as a part "[N]" after the array's name, as in
// triggers.crons[2].schedule; both stay as they are.
func keyString(parts ...string) string {
	var b strings.Builder
	for i, part := range parts {
		switch {
		case i > 0 && isIndex(part):
			b.WriteString(part)
			continue
		case i > 0:
			b.WriteByte('.')
		}
		if elementRE.MatchString(part) {
			b.WriteString(part)
		} else {
			b.WriteString(toml.Key{part}.String())
		}
	}
	return b.String()
}

// elementRE matches the name tableList gives an element of an array of
// tables.
var elementRE = regexp.MustCompile(`^[A-Za-z0-9_-]+\[[1-9][0-9]*\]$`)

// isIndex reports whether part is "[N]", the index keyString writes.
func isIndex(part string) bool {
	n, ok := strings.CutPrefix(part, "[")
	n, ok2 := strings.CutSuffix(n, "]")
	return ok && ok2 && n != "" && strings.Trim(n, "0123456789") == ""
}

func (t *table) key(k string) string { return keyString(t.sub(k)...) }

func (t *table) sub(k string) []string { return append(slices.Clip(t.path), k) }

func (t *table) problem(k, format string, args ...any) {
	t.p.problem(t.key(k), format, args...)
}

// has reports whether k is present, without marking it known.
func (t *table) has(k string) bool {
	_, ok := t.m[k]
	return ok
}

func (t *table) get(k string) (any, bool) {
	v, ok := t.m[k]
	if ok {
		t.used[k] = true
	}
	return v, ok
}

// keys returns the table's keys, sorted, and marks them all known: for
// tables whose keys are names (projects, images).
func (t *table) keys() []string {
	keys := slices.Sorted(maps.Keys(t.m))
	for _, k := range keys {
		t.used[k] = true
	}
	return keys
}

// done reports every key that no getter asked for.
func (t *table) done() {
	for _, k := range slices.Sorted(maps.Keys(t.m)) {
		if !t.used[k] {
			t.problem(k, "unknown key")
		}
	}
}

// table returns the sub-table k. When k is absent or not a table it returns
// an empty table (so callers can still apply defaults) and false.
func (t *table) table(k string) (*table, bool) {
	v, ok := t.get(k)
	if !ok {
		return t.p.newTable(t.sub(k), nil), false
	}
	m, isTable := v.(map[string]any)
	if !isTable {
		t.problem(k, "must be a table, not %s", typeName(v))
		return t.p.newTable(t.sub(k), nil), false
	}
	return t.p.newTable(t.sub(k), m), true
}

func (t *table) str(k string) (string, bool) {
	v, ok := t.get(k)
	if !ok {
		return "", false
	}
	s, isString := v.(string)
	if !isString {
		t.problem(k, "must be a string, not %s", typeName(v))
	}
	return s, isString
}

func (t *table) integer(k string) (int64, bool) {
	v, ok := t.get(k)
	if !ok {
		return 0, false
	}
	n, isInt := v.(int64)
	if !isInt {
		t.problem(k, "must be an integer, not %s", typeName(v))
	}
	return n, isInt
}

func (t *table) boolean(k string) (bool, bool) {
	v, ok := t.get(k)
	if !ok {
		return false, false
	}
	b, isBool := v.(bool)
	if !isBool {
		t.problem(k, "must be a boolean (true or false), not %s", typeName(v))
	}
	return b, isBool
}

// number accepts a TOML integer or a finite float.
func (t *table) number(k string) (float64, bool) {
	v, ok := t.get(k)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			t.problem(k, "must be a finite number")
			return 0, false
		}
		return n, true
	}
	t.problem(k, "must be a number, not %s", typeName(v))
	return 0, false
}

// duration accepts a Go duration string such as "30s" or "1h30m".
func (t *table) duration(k string) (time.Duration, bool) {
	v, ok := t.get(k)
	if !ok {
		return 0, false
	}
	s, isString := v.(string)
	if !isString {
		t.problem(k, `must be a duration string such as "30s" or "10m", not %s`, typeName(v))
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.problem(k, `%q is not a duration (write e.g. "30s", "10m", "1h30m")`, s)
		return 0, false
	}
	return d, true
}

// size accepts a size string (see ParseSize) or an integer number of bytes.
func (t *table) size(k string) (int64, bool) {
	v, ok := t.get(k)
	if !ok {
		return 0, false
	}
	switch s := v.(type) {
	case int64:
		if s < 0 {
			t.problem(k, "must not be negative")
			return 0, false
		}
		return s, true
	case string:
		n, err := ParseSize(s)
		if err != nil {
			t.problem(k, "%v", err)
			return 0, false
		}
		return n, true
	}
	t.problem(k, `must be a size such as "2GiB" or an integer number of bytes, not %s`, typeName(v))
	return 0, false
}

// intList accepts an array of integers; ok is false when k is absent or
// malformed (reported).
func (t *table) intList(k string) ([]int64, bool) {
	v, ok := t.get(k)
	if !ok {
		return nil, false
	}
	arr, isArray := v.([]any)
	if !isArray {
		t.problem(k, "must be an array of integers, not %s", typeName(v))
		return nil, false
	}
	out := make([]int64, 0, len(arr))
	for i, e := range arr {
		n, isInt := e.(int64)
		if !isInt {
			t.problem(k, "element %d must be an integer, not %s", i+1, typeName(e))
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// stringList accepts an array of strings.
func (t *table) stringList(k string) ([]string, bool) {
	v, ok := t.get(k)
	if !ok {
		return nil, false
	}
	arr, isArray := v.([]any)
	if !isArray {
		t.problem(k, "must be an array of strings, not %s", typeName(v))
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, isString := e.(string)
		if !isString {
			t.problem(k, "element %d must be a string, not %s", i+1, typeName(e))
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// typeName names the TOML type of a decoded value, with its article.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}
