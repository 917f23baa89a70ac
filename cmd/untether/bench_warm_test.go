package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkFirstEvent compares, in one run, the time from a message to its
// engine's first event (the first edit of its progress message) with a
// container made for the message (cold), a container started ahead
// (warm = true) and a plain process (no container). Each message goes to
// a group and project of its own, so that Telegram's pace does not count.
// The engine's later lines come 300 ms apart, so that every run's first
// event shows as an edit before its answer replaces the progress message.
func BenchmarkFirstEvent(b *testing.B) {
	const slow = "fake:delay=300ms"
	b.Run("cold", func(b *testing.B) { benchRunsWith(b, true, "", false, slow) })
	b.Run("warm", func(b *testing.B) { benchRunsWith(b, true, "", true, slow) })
	b.Run("process", func(b *testing.B) { benchRunsWith(b, true, "process", false, slow) })
}

// readyWarmN waits until n warm containers of the world are ready.
func (w *world) readyWarmN(n int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pollUntil(w.t, fmt.Sprintf("%d warm containers", n), 5*time.Minute, func() bool {
		return len(w.warmContainers(ctx)) >= n
	})
	time.Sleep(time.Second) // past the pool's check that they keep running
}

// BenchmarkBridgeFootprint measures the bridge's own resident memory when
// idle, and its resident memory and CPU while 50 runs are in flight
// (their engines silent, so what is measured is the bridge's upkeep of
// them: progress, usage readings, container checks).
func BenchmarkBridgeFootprint(b *testing.B) {
	const inFlight = 50
	groups := make([]int64, inFlight)
	for i := range groups {
		groups[i] = -3000000 - int64(i)
	}
	w := newWorld(b, worldOptions{moreGroups: groups, maxRuns: 64, memory: "64MiB", pids: 32})
	w.cleanupVolumes()
	d := w.start()
	pid := d.cmd.Process.Pid
	time.Sleep(3 * time.Second)
	b.ReportMetric(float64(rssKiB(b, pid))/1024, "idle-rss-MiB")

	for _, g := range groups {
		w.tg.UserSays(g, alice, "wait a while fake:sleep=90s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pollUntil(b, fmt.Sprintf("%d running containers", inFlight), 4*time.Minute, func() bool {
		out, err := podmanSvc.Podman(ctx, "ps", "--filter", "label=untether.instance="+w.instance,
			"--filter", "status=running", "--format", "{{.Names}}")
		return err == nil && len(strings.Fields(string(out))) >= inFlight
	})
	time.Sleep(5 * time.Second) // past the runs' start
	const window = 20 * time.Second
	before := cpuTicks(b, pid)
	time.Sleep(window)
	used := cpuTicks(b, pid) - before
	b.ReportMetric(100*float64(used)/100/window.Seconds(), "cpu-%-50-runs")
	b.ReportMetric(float64(rssKiB(b, pid))/1024, "rss-50-runs-MiB")
	b.ReportMetric(0, "ns/op")
	d.stop(b)
}

// rssKiB is a process's resident memory.
func rssKiB(tb testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// cpuTicks is a process's user and system CPU time in clock ticks (1/100 s
// on Linux).
func cpuTicks(tb testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}
