package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
)

// probeFile is the report fake:probe writes in the working directory.
// enginetest.ReadProbe reads it.
const probeFile = ".fakeengine-probe.json"

// probe is what the sandbox looks like from inside.
type probe struct {
	UID            int      `json:"uid"`
	GID            int      `json:"gid"`
	Groups         []int    `json:"groups"`
	CapEff         string   `json:"cap_eff"`      // hex, from /proc/self/status
	NoNewPrivs     string   `json:"no_new_privs"` // "1" when set
	Seccomp        string   `json:"seccomp"`      // "2" when filtering
	RootWritable   bool     `json:"root_writable"`
	RootWriteError string   `json:"root_write_error,omitempty"`
	TmpWritable    bool     `json:"tmp_writable"`
	TmpWriteError  string   `json:"tmp_write_error,omitempty"`
	Mounts         []mount  `json:"mounts"`
	EnvKeys        []string `json:"env_keys"`
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	Path    string `json:"path"`
	FSType  string `json:"fstype"`
	Options string `json:"options"` // per-mount options: "ro,nosuid,..."
}

// writeProbe looks around and writes the report to name.
func writeProbe(name string) error {
	p := probe{UID: os.Getuid(), GID: os.Getgid(), EnvKeys: envKeys()}
	p.Groups, _ = os.Getgroups()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(status)) {
		key, value, _ := strings.Cut(strings.TrimSpace(line), ":")
		value = strings.TrimSpace(value)
		switch key {
		case "CapEff":
			p.CapEff = value
		case "NoNewPrivs":
			p.NoNewPrivs = value
		case "Seccomp":
			p.Seccomp = value
		}
	}
	p.RootWritable, p.RootWriteError = tryWrite(func() error {
		const name = "/probe-write-test"
		if err := os.WriteFile(name, nil, 0o600); err != nil {
			return err
		}
		return os.Remove(name)
	})
	p.TmpWritable, p.TmpWriteError = tryWrite(func() error {
		f, err := os.CreateTemp("/tmp", "probe-write-test-")
		if err != nil {
			return err
		}
		f.Close()
		return os.Remove(f.Name())
	})
	if p.Mounts, err = readMounts("/proc/self/mountinfo"); err != nil {
		return err
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(name, append(data, '\n'), 0o644)
}

func tryWrite(write func() error) (bool, string) {
	if err := write(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// readMounts parses mountinfo (proc(5)): field 5 is the mount point, 6 its
// options, and the file system type follows the "-" separator.
func readMounts(name string) ([]mount, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var mounts []mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) {
			return nil, errors.New("mountinfo: malformed line: " + sc.Text())
		}
		mounts = append(mounts, mount{
			Path:    unescapeOctal(fields[4]),
			FSType:  fields[sep+1],
			Options: fields[5],
		})
	}
	return mounts, sc.Err()
}

// unescapeOctal undoes the kernel's \ooo escapes of spaces, tabs, newlines
// and backslashes in mount paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
