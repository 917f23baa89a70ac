package main

import (
	"bytes"
	"io/fs"
	"sort"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/captures"
)

// BenchmarkDecode measures each engine's stream decoder on its largest
// captured stream, replayed many times: lines per second on one core
// (make bench runs it with -cpu 1).
func BenchmarkDecode(b *testing.B) {
	names := make([]string, 0, 6)
	for n := range availableEngines() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		lines := largestCapture(b, name)
		eng := availableEngines()[name]
		b.Run(name, func(b *testing.B) {
			var n, size int
			for _, l := range lines {
				size += len(l) + 1
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				dec := eng.NewDecoder()
				for _, l := range lines {
					dec.Decode(l)
				}
				dec.Finish(engines.Exit{})
				n += len(lines)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// largestCapture returns the lines of the engine's largest *.jsonl capture.
func largestCapture(b *testing.B, engine string) [][]byte {
	b.Helper()
	fsys := captures.Engine(engine)
	files, err := fs.Glob(fsys, "*.jsonl")
	if err != nil || len(files) == 0 {
		b.Fatalf("no captures for %s: %v", engine, err)
	}
	var best []byte
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			b.Fatal(err)
		}
		if len(data) > len(best) {
			best = data
		}
	}
	return bytes.Split(bytes.TrimSpace(best), []byte("\n"))
}
