// Package ledger is an instance's cost ledger: one JSON line per finished
// run (orchestrator.CostRecord) in ledger.jsonl beside the config. A
// Ledger is an orchestrator.CostLedger.
//
// The file is append-only. Each record is one write of one line, synced
// to disk before Record returns, so a bridge killed at any moment (kill -9)
// loses at most the record it was writing: a torn last line is cut off,
// with a warning, when the ledger is opened again, and a line that does
// not decode is skipped with a warning, never fatal. A run is recorded
// once: a record for a run the ledger holds already (a run reattached
// after a restart, concluded again) is not written again.
//
// It imports the standard library and its parent orchestrator only (for
// the record type); only cmd/untether wires it in.
package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/untether-go/untether/orchestrator"
)

// File is the ledger's name in the instance's directory.
const File = "ledger.jsonl"

// DefaultKeep is how far back a Ledger keeps records in memory by default:
// enough for this month and this week in any time zone.
const DefaultKeep = 45 * 24 * time.Hour

// Options configure Open.
type Options struct {
	// Dir is the instance's directory (the config's).
	Dir string
	// Keep is how far back records are held in memory, for Since and for
	// recognising a run recorded already; 0 means DefaultKeep. Older
	// records stay in the file.
	Keep time.Duration
	// Logger gets the warnings about damaged lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Ledger is an open ledger file. Safe for concurrent use.
type Ledger struct {
	mu   sync.Mutex
	f    *os.File
	path string
	size int64 // bytes of whole lines in the file
	recs []orchestrator.CostRecord
	runs map[string]bool
	keep time.Duration
	now  func() time.Time
	log  *slog.Logger
}

var _ orchestrator.CostLedger = (*Ledger)(nil)

// Open opens (or creates) the ledger of opts.Dir and reads its records.
func Open(opts Options) (*Ledger, error) {
	l := &Ledger{
		path: filepath.Join(opts.Dir, File), runs: map[string]bool{},
		keep: opts.Keep, now: opts.Now, log: opts.Logger,
	}
	if l.keep <= 0 {
		l.keep = DefaultKeep
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open cost ledger: %w", err)
	}
	l.f = f
	if err := l.load(); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// load reads the file's records; a torn last line is cut off.
func (l *Ledger) load() error {
	cutoff := l.now().Add(-l.keep)
	r := bufio.NewReader(l.f)
	var off int64
	lineNo, skipped := 0, 0
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				l.log.Warn("cost ledger: cutting off a torn last line (the bridge died while writing it)",
					"file", l.path, "bytes", len(line))
				if err := l.f.Truncate(off); err != nil {
					return fmt.Errorf("cut the torn end of %s: %w", l.path, err)
				}
				if err := l.f.Sync(); err != nil {
					return fmt.Errorf("sync %s: %w", l.path, err)
				}
			}
			break
		}
		if err != nil {
			return fmt.Errorf("read cost ledger: %w", err)
		}
		off += int64(len(line))
		lineNo++
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 {
			continue
		}
		var rec orchestrator.CostRecord
		if err := json.Unmarshal(trimmed, &rec); err != nil || rec.Time.IsZero() {
			skipped++
			l.log.Warn("cost ledger: skipping a line that does not decode", "file", l.path, "line", lineNo)
			continue
		}
		if rec.Time.Before(cutoff) {
			continue
		}
		l.recs = append(l.recs, rec)
		if rec.Run != "" {
			l.runs[rec.Run] = true
		}
	}
	l.size = off
	return nil
}

// Record implements orchestrator.CostLedger: rec is on disk when it
// returns nil. A failed write is undone, so the next record starts on a
// line of its own.
func (l *Ledger) Record(rec orchestrator.CostRecord) (bool, error) {
	if rec.Time.IsZero() {
		rec.Time = l.now()
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return false, fmt.Errorf("encode cost record: %w", err)
	}
	data = append(data, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return false, errors.New("record cost: the ledger is closed")
	}
	if rec.Run != "" && l.runs[rec.Run] {
		return false, nil
	}
	if _, err := l.f.Write(data); err != nil {
		l.f.Truncate(l.size) // best effort: no torn line for the next record
		return false, fmt.Errorf("write %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return false, fmt.Errorf("sync %s: %w", l.path, err)
	}
	l.size += int64(len(data))
	l.prune()
	l.recs = append(l.recs, rec)
	if rec.Run != "" {
		l.runs[rec.Run] = true
	}
	return true, nil
}

// prune forgets the records older than keep. l.mu is held.
func (l *Ledger) prune() {
	cutoff := l.now().Add(-l.keep)
	n := 0
	for n < len(l.recs) && l.recs[n].Time.Before(cutoff) {
		delete(l.runs, l.recs[n].Run)
		n++
	}
	if n > 0 {
		l.recs = append(l.recs[:0:0], l.recs[n:]...)
	}
}

// Since implements orchestrator.CostLedger. Records older than the
// ledger's Keep are not returned.
func (l *Ledger) Since(t time.Time) []orchestrator.CostRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []orchestrator.CostRecord
	for _, r := range l.recs {
		if !r.Time.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

// Close closes the file; Record fails afterwards.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
