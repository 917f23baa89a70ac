package podman

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A container's cgroup is the truth about what it used: the kernel keeps
// its memory peak, CPU time and OOM kills there. Podman's stats give only
// current figures, and its OOMKilled flag misses kills conmon did not see.
// The cgroup goes away with the container's last process (systemd removes
// its scope at once, cgroupfs when podman cleans up), so it is read while
// the run lasts; the counters read are monotonic, so the last reading
// holds all but the run's last moment.

// reading is one look at a container's counters.
type reading struct {
	at     time.Time
	memory int64 // current use, bytes
	// peak is the kernel's high-water mark; 0 when this kernel keeps none
	// (cgroup v2 before Linux 5.19): the meter then keeps the highest
	// memory it saw.
	peak     int64
	limit    int64 // 0: none
	cpu      time.Duration
	oomKills int
}

// cgroupFS is where cgroup file systems are mounted; a field of the
// cgroup files, so tests can point it elsewhere.
const cgroupFS = "/sys/fs/cgroup"

// cgroupFiles reads a container's counters from its cgroup on this host.
type cgroupFiles struct {
	v2     bool
	mem    string // the memory controller's directory (v2: the cgroup's)
	cpu    string // the cpuacct controller's directory (v2: the cgroup's)
	noPeak bool   // v2 without memory.peak
}

// errNoCgroup: the container's cgroup is not on this host's file system
// (a remote service, another mount namespace, or gone already).
var errNoCgroup = errors.New("container cgroup not found on this host")

// locateCgroup finds the cgroup files of a container whose cgroup path (as
// podman's inspect reports it, relative to the hierarchy's root) is path,
// under root (cgroupFS), for cgroup version "v1" or "v2".
func locateCgroup(root, version, path string) (*cgroupFiles, error) {
	if path == "" || !filepath.IsAbs(path) || strings.Contains(path, "..") {
		return nil, fmt.Errorf("cgroup path %q: %w", path, errNoCgroup)
	}
	if version == "v2" {
		dir := filepath.Join(root, path)
		if !fileExists(filepath.Join(dir, "memory.current")) {
			return nil, fmt.Errorf("%s: %w", dir, errNoCgroup)
		}
		return &cgroupFiles{v2: true, mem: dir, cpu: dir, noPeak: !fileExists(filepath.Join(dir, "memory.peak"))}, nil
	}
	mem := filepath.Join(root, "memory", path)
	if !fileExists(filepath.Join(mem, "memory.max_usage_in_bytes")) {
		return nil, fmt.Errorf("%s: %w", mem, errNoCgroup)
	}
	for _, ctl := range []string{"cpuacct", "cpu,cpuacct", "cpuacct,cpu"} {
		cpu := filepath.Join(root, ctl, path)
		if fileExists(filepath.Join(cpu, "cpuacct.usage")) {
			return &cgroupFiles{mem: mem, cpu: cpu}, nil
		}
	}
	return nil, fmt.Errorf("cpuacct of %s: %w", path, errNoCgroup)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// read reads the counters. A cgroup that went away is errNoCgroup.
func (c *cgroupFiles) read() (reading, error) {
	rd := reading{at: time.Now()}
	var err error
	if c.v2 {
		err = c.readV2(&rd)
	} else {
		err = c.readV1(&rd)
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
		return rd, fmt.Errorf("%w: %w", errNoCgroup, err)
	}
	return rd, err
}

func (c *cgroupFiles) readV1(rd *reading) error {
	var err error
	if rd.memory, err = readInt(filepath.Join(c.mem, "memory.usage_in_bytes")); err != nil {
		return err
	}
	if rd.peak, err = readInt(filepath.Join(c.mem, "memory.max_usage_in_bytes")); err != nil {
		return err
	}
	if rd.limit, err = readInt(filepath.Join(c.mem, "memory.limit_in_bytes")); err != nil {
		return err
	}
	if rd.limit >= unlimitedV1 {
		rd.limit = 0
	}
	ns, err := readInt(filepath.Join(c.cpu, "cpuacct.usage"))
	if err != nil {
		return err
	}
	rd.cpu = time.Duration(ns)
	kills, err := readKey(filepath.Join(c.mem, "memory.oom_control"), "oom_kill")
	rd.oomKills = int(kills)
	return err
}

// unlimitedV1 and above is what cgroup v1 shows for "no limit" (the
// largest page-aligned int64).
const unlimitedV1 = 1 << 62

func (c *cgroupFiles) readV2(rd *reading) error {
	var err error
	if rd.memory, err = readInt(filepath.Join(c.mem, "memory.current")); err != nil {
		return err
	}
	if !c.noPeak {
		if rd.peak, err = readInt(filepath.Join(c.mem, "memory.peak")); err != nil {
			return err
		}
	}
	max, err := os.ReadFile(filepath.Join(c.mem, "memory.max"))
	if err != nil {
		return err
	}
	if s := string(bytes.TrimSpace(max)); s != "max" {
		if rd.limit, err = strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Errorf("memory.max %q: %w", s, err)
		}
	}
	usec, err := readKey(filepath.Join(c.cpu, "cpu.stat"), "usage_usec")
	if err != nil {
		return err
	}
	rd.cpu = time.Duration(usec) * time.Microsecond
	kills, err := readKey(filepath.Join(c.mem, "memory.events"), "oom_kill")
	rd.oomKills = int(kills)
	return err
}

// readInt reads a file holding one integer.
func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// readKey reads the value of key in a flat keyed file ("key value" lines,
// as memory.events and cpu.stat are); a missing key is 0 (older kernels
// lack oom_kill).
func readKey(path, key string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || k != key {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", path, key, err)
		}
		return n, nil
	}
	return 0, nil
}
