package podman

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
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

// v1Files is a v1 container cgroup under root whose oom_kill counter is
// kills.
func v1Files(t *testing.T, root string, kills int) {
	t.Helper()
	const path = "/libpod_parent/libpod-abc"
	writeTree(t, root, map[string]string{
		"memory" + path + "/memory.usage_in_bytes":     "1048576\n",
		"memory" + path + "/memory.max_usage_in_bytes": "4194304\n",
		"memory" + path + "/memory.limit_in_bytes":     "268435456\n",
		"memory" + path + "/memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\noom_kill " + strconv.Itoa(kills) + "\n",
		"cpu,cpuacct" + path + "/cpuacct.usage":        "1500000000\n",
	})
}

func testMeter(t *testing.T, root string) (*meter, source) {
	t.Helper()
	c, err := locateCgroup(root, "v1", "/libpod_parent/libpod-abc")
	if err != nil {
		t.Fatal(err)
	}
	m := New(Options{URL: "unix:///nonexistent"}).newMeter("abc", "untether-x", 0, slog.New(slog.DiscardHandler))
	src := filesSource{c}
	m.src = src
	m.started = true
	t.Cleanup(func() { m.cancel() })
	return m, src
}

// TestMeterReadsAPutOffPoke: output soon after a reading (a build in the
// agent's shell killed for memory, say) is read pokeGap later, not at the
// next tick.
func TestMeterReadsAPutOffPoke(t *testing.T) {
	root := t.TempDir()
	v1Files(t, root, 0)
	m, src := testMeter(t, root)
	go func() {
		defer close(m.done)
		m.read(src, time.Hour)
	}()
	pollMeter(t, m, func(u sandbox.Usage) bool { return u.CPU > 0 })
	v1Files(t, root, 1)
	m.poke() // within pokeGap of the first reading
	start := time.Now()
	pollMeter(t, m, func(u sandbox.Usage) bool { return u.OOMKills == 1 })
	if waited := time.Since(start); waited > pokeGap+time.Second {
		t.Errorf("the poke was read after %v, want within about %v", waited, pokeGap)
	}
}

// TestMeterFlushReadsAtOnce: when the output closes, the cgroup is read at
// once, and no more after finish.
func TestMeterFlushReadsAtOnce(t *testing.T) {
	root := t.TempDir()
	v1Files(t, root, 0)
	m, _ := testMeter(t, root)
	close(m.done) // no reading goroutine: only flush reads
	m.flush()
	v1Files(t, root, 3)
	m.flush()
	if u, _ := m.usage(); u.OOMKills != 3 {
		t.Errorf("after flush: %+v, want 3 OOM kills", u)
	}
	u := m.finish()
	if u == nil || u.OOMKills != 3 || !u.Complete {
		t.Fatalf("finish = %+v", u)
	}
	v1Files(t, root, 5)
	m.flush() // the files are closed: a no-op
	if u, _ := m.usage(); u.OOMKills != 3 {
		t.Errorf("a flush after finish read: %+v", u)
	}
}

func pollMeter(t *testing.T, m *meter, ok func(sandbox.Usage) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if u, seen := m.usage(); seen && ok(u) {
			return
		}
		if time.Now().After(deadline) {
			u, _ := m.usage()
			t.Fatalf("meter usage %+v after 5s", u)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMeterReadsWhenMemoryEventsChange: a v2 cgroup's OOM kill is read as
// soon as memory.events changes, with no reading due and no output.
func TestMeterReadsWhenMemoryEventsChange(t *testing.T) {
	root := t.TempDir()
	const path = "/user.slice/libpod-x.scope"
	files := func(kills int) map[string]string {
		return map[string]string{
			path + "/memory.current": "2048\n", path + "/memory.max": "max\n",
			path + "/memory.events": "max 3\noom 1\noom_kill " + strconv.Itoa(kills) + "\n",
			path + "/cpu.stat":      "usage_usec 1\n",
		}
	}
	writeTree(t, root, files(0))
	c, err := locateCgroup(root, "v2", path)
	if err != nil {
		t.Fatal(err)
	}
	m := New(Options{URL: "unix:///nonexistent"}).newMeter("x", "untether-x", 0, slog.New(slog.DiscardHandler))
	m.src, m.started = filesSource{c}, true
	stop, err := watchFile(filepath.Join(root, path, "memory.events"), m.flush)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	m.flush()
	writeTree(t, root, files(1))
	pollMeter(t, m, func(u sandbox.Usage) bool { return u.OOMKills == 1 })
}
