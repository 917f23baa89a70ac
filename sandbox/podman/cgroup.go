package podman

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

	// The files stay open between readings: a reading is then a pread
	// of each, without walking the cgroup's path again. Not safe for
	// concurrent use.
	open map[string]*os.File
	buf  [4096]byte
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
	if rd.memory, err = c.readInt(filepath.Join(c.mem, "memory.usage_in_bytes")); err != nil {
		return err
	}
	if rd.peak, err = c.readInt(filepath.Join(c.mem, "memory.max_usage_in_bytes")); err != nil {
		return err
	}
	if rd.limit, err = c.readInt(filepath.Join(c.mem, "memory.limit_in_bytes")); err != nil {
		return err
	}
	if rd.limit >= unlimitedV1 {
		rd.limit = 0
	}
	ns, err := c.readInt(filepath.Join(c.cpu, "cpuacct.usage"))
	if err != nil {
		return err
	}
	rd.cpu = time.Duration(ns)
	kills, err := c.readKey(filepath.Join(c.mem, "memory.oom_control"), "oom_kill")
	rd.oomKills = int(kills)
	return err
}

// unlimitedV1 and above is what cgroup v1 shows for "no limit" (the
// largest page-aligned int64).
const unlimitedV1 = 1 << 62

func (c *cgroupFiles) readV2(rd *reading) error {
	var err error
	if rd.memory, err = c.readInt(filepath.Join(c.mem, "memory.current")); err != nil {
		return err
	}
	if !c.noPeak {
		if rd.peak, err = c.readInt(filepath.Join(c.mem, "memory.peak")); err != nil {
			return err
		}
	}
	max, err := c.contents(filepath.Join(c.mem, "memory.max"))
	if err != nil {
		return err
	}
	if s := string(bytes.TrimSpace(max)); s != "max" {
		if rd.limit, err = strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Errorf("memory.max %q: %w", s, err)
		}
	}
	usec, err := c.readKey(filepath.Join(c.cpu, "cpu.stat"), "usage_usec")
	if err != nil {
		return err
	}
	rd.cpu = time.Duration(usec) * time.Microsecond
	kills, err := c.readKey(filepath.Join(c.mem, "memory.events"), "oom_kill")
	rd.oomKills = int(kills)
	return err
}

// contents reads a cgroup file from its start, through a descriptor kept
// open. The bytes are valid until the next call.
func (c *cgroupFiles) contents(path string) ([]byte, error) {
	f := c.open[path]
	if f == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		if c.open == nil {
			c.open = map[string]*os.File{}
		}
		c.open[path] = f
	}
	n, err := f.ReadAt(c.buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return c.buf[:n], nil
}

// close closes the files kept open. Idempotent.
func (c *cgroupFiles) close() {
	for p, f := range c.open {
		f.Close()
		delete(c.open, p)
	}
}

// readInt reads a file holding one integer.
func (c *cgroupFiles) readInt(path string) (int64, error) {
	data, err := c.contents(path)
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
func (c *cgroupFiles) readKey(path, key string) (int64, error) {
	data, err := c.contents(path)
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(data) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
		if !ok || string(k) != key {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", path, key, err)
		}
		return n, nil
	}
	return 0, nil
}
