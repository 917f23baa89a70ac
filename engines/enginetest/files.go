package enginetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Files a fake engine leaves in its working directory (the project directory
// mounted in the container). The fake's own definitions are in
// engines/enginetest/fakeengine; TestImage checks both sides agree.
const (
	// CallsFile gets one JSON line per invocation, written before the fake
	// does anything else.
	CallsFile = ".fakeengine-calls.jsonl"
	// ProbeFile is written by the fake:probe directive.
	ProbeFile = ".fakeengine-probe.json"
)

// Call is one invocation of a fake engine.
type Call struct {
	Argv []string `json:"argv"` // Argv[0] is the name it was called by
	Cwd  string   `json:"cwd"`
	UID  int      `json:"uid"`
	GID  int      `json:"gid"`
	// EnvKeys are the sorted names of the environment; the values are not
	// recorded, since they may be secrets.
	EnvKeys []string `json:"env_keys"`
}

// Probe is what the sandbox looked like from inside the fake.
type Probe struct {
	UID    int   `json:"uid"`
	GID    int   `json:"gid"`
	Groups []int `json:"groups"`
	// CapEff is the effective capability set, hex, as in /proc/self/status.
	CapEff string `json:"cap_eff"`
	// NoNewPrivs is "1" when no_new_privs is set.
	NoNewPrivs string `json:"no_new_privs"`
	// Seccomp is "2" when a seccomp filter is active, "0" when none.
	Seccomp string `json:"seccomp"`
	// RootWritable tells whether creating /probe-write-test worked.
	RootWritable   bool   `json:"root_writable"`
	RootWriteError string `json:"root_write_error,omitempty"`
	// TmpWritable tells whether creating a file in /tmp worked.
	TmpWritable   bool   `json:"tmp_writable"`
	TmpWriteError string `json:"tmp_write_error,omitempty"`
	// Mounts are the lines of /proc/self/mountinfo, in order.
	Mounts  []Mount  `json:"mounts"`
	EnvKeys []string `json:"env_keys"`
}

// Mount is one mount the fake saw.
type Mount struct {
	Path    string `json:"path"`
	FSType  string `json:"fstype"`
	Options string `json:"options"` // per-mount options: "ro,nosuid,..."
}

// MountAt returns the last mount at path (the one in effect), if any.
func (p Probe) MountAt(path string) (Mount, bool) {
	for i := len(p.Mounts) - 1; i >= 0; i-- {
		if p.Mounts[i].Path == path {
			return p.Mounts[i], true
		}
	}
	return Mount{}, false
}

// ReadCalls returns the invocations recorded in dir, oldest first; none
// when the fake never ran there.
func ReadCalls(dir string) ([]Call, error) {
	data, err := os.ReadFile(filepath.Join(dir, CallsFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read calls: %w", err)
	}
	var calls []Call
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("read calls: %s line %d: %w", CallsFile, n, err)
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read calls: %w", err)
	}
	return calls, nil
}

// ReadProbe returns the report fake:probe wrote in dir.
func ReadProbe(dir string) (Probe, error) {
	var p Probe
	data, err := os.ReadFile(filepath.Join(dir, ProbeFile))
	if err != nil {
		return p, fmt.Errorf("read probe: %w", err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("read probe: %s: %w", ProbeFile, err)
	}
	return p, nil
}
