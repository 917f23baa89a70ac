package podman

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// A warm container (see pool.go) is made before anyone knows what it will
// run: it runs the helper's launch command, which waits on its standard
// input for the run's environment and command line and then executes it.
// So the session's argv and secrets never enter the container's
// configuration (what `podman inspect` shows), only the process that
// runs it:
//
//	untether-stdin launch   read the launch header from stdin, export its
//	                        environment, exec its argv; the rest of stdin is
//	                        the program's
//
// The header is NUL-terminated fields, each "+" and a value (so that an
// empty value is not the end): the environment's KEY=VALUE fields, an
// empty field, the argv's fields, an empty field. A shell reads it with
// bash's `read -d ""`, byte by byte, leaving the rest of stdin unread.
var launchArgv = []string{stdinHelper, "launch"}

// launchHeader encodes argv and env for the launcher. Arguments and
// variables cannot hold NUL bytes, nor names "=".
func launchHeader(argv []string, env map[string]string) ([]byte, error) {
	var b bytes.Buffer
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := env[k]
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.Contains(v, "\x00") {
			return nil, fmt.Errorf("environment variable %q cannot be passed to a launcher", k)
		}
		b.WriteString("+" + k + "=" + v + "\x00")
	}
	b.WriteByte(0)
	if len(argv) == 0 {
		return nil, fmt.Errorf("launch: empty argv")
	}
	for _, a := range argv {
		if strings.Contains(a, "\x00") {
			return nil, fmt.Errorf("argument %q holds a NUL byte", a)
		}
		b.WriteString("+" + a + "\x00")
	}
	b.WriteByte(0)
	return b.Bytes(), nil
}
