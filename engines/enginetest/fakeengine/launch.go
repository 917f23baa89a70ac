package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// maxLaunchHeader bounds the launch header the helper reads.
const maxLaunchHeader = 1 << 20

// stdinLaunch is `untether-stdin launch`, what a warm container runs
// (sandbox/podman/launch.go): it reads the launch header from stdin one
// byte at a time, so that the rest of stdin stays the program's, exports
// the header's environment and replaces itself by its argv. It returns only
// on failure.
func stdinLaunch(stdin io.Reader) error {
	env, err := launchFields(stdin)
	if err != nil {
		return fmt.Errorf("launch header: %w", err)
	}
	argv, err := launchFields(stdin)
	if err != nil {
		return fmt.Errorf("launch header: %w", err)
	}
	if len(argv) == 0 {
		return errors.New("launch header: no command")
	}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("launch header: %q is not KEY=VALUE", kv)
		}
		os.Setenv(k, v)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}

// launchFields reads "+"-prefixed NUL-terminated fields up to an empty one.
func launchFields(r io.Reader) ([]string, error) {
	var fields []string
	var cur []byte
	one := make([]byte, 1)
	total := 0
	for {
		if _, err := io.ReadFull(r, one); err != nil {
			return nil, err
		}
		if total++; total > maxLaunchHeader {
			return nil, errors.New("too long")
		}
		if one[0] != 0 {
			cur = append(cur, one[0])
			continue
		}
		if len(cur) == 0 {
			return fields, nil
		}
		if cur[0] != '+' {
			return nil, fmt.Errorf("field %q does not start with +", cur)
		}
		fields = append(fields, string(cur[1:]))
		cur = cur[:0]
	}
}
