package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/untether-go/untether/internal/atomicfile"
)

// fileVersion is the version of the file's layout.
const fileVersion = 1

// file is the JSON file of a Scheduler.
type file struct {
	Version int `json:"version"`
	// Timers are pending, soonest first.
	Timers []Timer `json:"timers"`
	// Crons holds each configured cron's state by ID.
	Crons map[string]cronState `json:"crons"`
}

// readFile reads the file at path; a missing file is an empty one.
func readFile(path string) (file, error) {
	f := file{Crons: map[string]cronState{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return file{}, fmt.Errorf("read schedule file: %w", err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return file{}, corrupt(path, err)
	}
	if f.Version != fileVersion {
		return file{}, corrupt(path, fmt.Errorf("version %d, not %d", f.Version, fileVersion))
	}
	if f.Crons == nil {
		f.Crons = map[string]cronState{}
	}
	type key struct {
		chat int64
		id   int
	}
	seen := map[key]bool{}
	for i, t := range f.Timers {
		k := key{t.ChatID, t.ID}
		switch {
		case t.ID <= 0 || t.ChatID == 0 || t.Due.IsZero():
			return file{}, corrupt(path, fmt.Errorf("timer %d lacks its id, chat or due time", i+1))
		case seen[k]:
			return file{}, corrupt(path, fmt.Errorf("timer %d of chat %d is listed twice", t.ID, t.ChatID))
		}
		seen[k] = true
	}
	return f, nil
}

func corrupt(path string, err error) error {
	return fmt.Errorf("schedule file %s is corrupt (%v): move it aside to start with no pending timers", path, err)
}

// writeFile replaces the file at path with f.
func writeFile(path string, f file) error {
	f.Version = fileVersion
	if f.Timers == nil {
		f.Timers = []Timer{}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save schedule file: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save schedule file: %w", err)
	}
	return nil
}
