package podman

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// writeTree writes files (path relative to root → content) under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCgroupFilesRead(t *testing.T) {
	const path = "/libpod_parent/libpod-abc"
	tests := []struct {
		name    string
		version string
		files   map[string]string
		want    reading
	}{{
		name:    "v1 cgroupfs",
		version: "v1",
		files: map[string]string{
			"memory" + path + "/memory.usage_in_bytes":     "1048576\n",
			"memory" + path + "/memory.max_usage_in_bytes": "4194304\n",
			"memory" + path + "/memory.limit_in_bytes":     "268435456\n",
			"memory" + path + "/memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
			"cpu,cpuacct" + path + "/cpuacct.usage":        "1500000000\n",
		},
		want: reading{memory: 1 << 20, peak: 4 << 20, limit: 256 << 20, cpu: 1500 * time.Millisecond, oomKills: 2},
	}, {
		name:    "v1 without a limit",
		version: "v1",
		files: map[string]string{
			"memory" + path + "/memory.usage_in_bytes":     "10\n",
			"memory" + path + "/memory.max_usage_in_bytes": "20\n",
			"memory" + path + "/memory.limit_in_bytes":     "9223372036854771712\n",
			"memory" + path + "/memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\n",
			"cpuacct" + path + "/cpuacct.usage":            "7\n",
		},
		want: reading{memory: 10, peak: 20, cpu: 7},
	}, {
		name:    "v2 systemd",
		version: "v2",
		files: map[string]string{
			path + "/memory.current": "2048\n",
			path + "/memory.peak":    "8192\n",
			path + "/memory.max":     "max\n",
			path + "/memory.events":  "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
			path + "/cpu.stat":       "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
		},
		want: reading{memory: 2048, peak: 8192, cpu: 2500 * time.Millisecond, oomKills: 1},
	}, {
		name:    "v2 without memory.peak",
		version: "v2",
		files: map[string]string{
			path + "/memory.current": "2048\n",
			path + "/memory.max":     "1073741824\n",
			path + "/memory.events":  "oom_kill 0\n",
			path + "/cpu.stat":       "usage_usec 1\n",
		},
		want: reading{memory: 2048, limit: 1 << 30, cpu: time.Microsecond},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tt.files)
			c, err := locateCgroup(root, tt.version, path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.read()
			if err != nil {
				t.Fatal(err)
			}
			got.at = time.Time{}
			if got != tt.want {
				t.Errorf("read = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCgroupGoneIsNoCgroup(t *testing.T) {
	root := t.TempDir()
	const path = "/machine.slice/libpod-x.scope"
	if _, err := locateCgroup(root, "v2", path); !errors.Is(err, errNoCgroup) {
		t.Fatalf("locate in an empty tree: %v, want errNoCgroup", err)
	}
	if _, err := locateCgroup(root, "v2", "../etc"); !errors.Is(err, errNoCgroup) {
		t.Fatalf("locate a relative path: %v, want errNoCgroup", err)
	}
	writeTree(t, root, map[string]string{
		path + "/memory.current": "1\n", path + "/memory.max": "max\n",
		path + "/memory.events": "oom_kill 0\n", path + "/cpu.stat": "usage_usec 1\n",
	})
	c, err := locateCgroup(root, "v2", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, path)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.read(); !errors.Is(err, errNoCgroup) {
		t.Errorf("read of a removed cgroup: %v, want errNoCgroup", err)
	}
}

func TestMeterAdd(t *testing.T) {
	m := &meter{limit: 100}
	t0 := time.Now()
	m.add(reading{at: t0, memory: 10, cpu: 0})
	m.add(reading{at: t0.Add(500 * time.Millisecond), memory: 60, cpu: 100 * time.Millisecond})
	m.add(reading{at: t0.Add(2 * time.Second), memory: 20, peak: 0, cpu: time.Second, oomKills: 1})
	u := m.u
	if u.PeakMemory != 60 || u.Memory != 20 || u.MemoryLimit != 100 || u.CPU != time.Second || u.OOMKills != 1 {
		t.Errorf("usage = %+v", u)
	}
	if u.CPUPercent != 50 {
		t.Errorf("CPU percent = %v, want 50 (1 s of CPU over 2 s)", u.CPUPercent)
	}
}

func TestKilledBy(t *testing.T) {
	const limit = 100
	tests := []struct {
		name       string
		res        sandbox.Result
		conmonOOM  bool
		outside    int
		wantOOM    bool
		wantKilled bool
	}{
		{"clean exit", sandbox.Result{ExitCode: 0}, false, outsideUnknown, false, false},
		{"conmon saw it", sandbox.Result{ExitCode: 137}, true, outsideUnknown, true, false},
		{"cgroup counted it", sandbox.Result{ExitCode: 1, Usage: &sandbox.Usage{OOMKills: 1}}, false, outsideUnknown, true, false},
		{"a child killed, the agent fine", sandbox.Result{ExitCode: 0, Usage: &sandbox.Usage{OOMKills: 1}}, false, outsideUnknown, false, false},
		{"sigkill, no usage known", sandbox.Result{ExitCode: 137}, false, outsideUnknown, true, false},
		{"sigkill, complete count says no", sandbox.Result{ExitCode: 137, Usage: &sandbox.Usage{Complete: true, PeakMemory: 99, MemoryLimit: limit}}, false, outsideUnknown, false, true},
		{"sigkill near the limit", sandbox.Result{ExitCode: 137, Usage: &sandbox.Usage{PeakMemory: 95, MemoryLimit: limit}}, false, outsideUnknown, true, false},
		{"sigkill far below the limit", sandbox.Result{ExitCode: 137, Usage: &sandbox.Usage{PeakMemory: 5, MemoryLimit: limit}}, false, outsideUnknown, false, true},
		{"podman kill, cgroup gone", sandbox.Result{ExitCode: 137, Usage: &sandbox.Usage{PeakMemory: 95, MemoryLimit: limit}}, false, outsideKill, false, true},
		{"no podman kill, cgroup gone early", sandbox.Result{ExitCode: 137, Usage: &sandbox.Usage{PeakMemory: 5, MemoryLimit: limit}}, false, outsideNone, true, false},
		{"our cancel", sandbox.Result{ExitCode: 137, Cancelled: true, Usage: &sandbox.Usage{PeakMemory: 5, MemoryLimit: limit}}, false, outsideUnknown, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oom, killed := killedBy(tt.res, tt.conmonOOM, true, tt.outside)
			if oom != tt.wantOOM || killed != tt.wantKilled {
				t.Errorf("killedBy = oom %v killed %v, want %v %v", oom, killed, tt.wantOOM, tt.wantKilled)
			}
		})
	}
}
