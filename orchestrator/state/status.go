package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/untether-go/untether/internal/atomicfile"
)

// StatusFile is the daemon's report on itself, beside the config. The
// daemon rewrites it every few seconds; `untether status` and `untether
// healthcheck` read it, so that neither needs to talk to the daemon.
const StatusFile = "status.json"

// Values of Status.State.
const (
	// StateRunning: the daemon takes new runs.
	StateRunning = "running"
	// StateDraining: SIGTERM arrived; runs in flight finish, new ones are
	// refused.
	StateDraining = "draining"
	// StateStopped: the daemon finished its drain and exited cleanly.
	StateStopped = "stopped"
)

// ErrNoStatus is returned (wrapped) by ReadStatus when the file does not
// exist: no daemon has started with this config yet.
var ErrNoStatus = errors.New("no status file")

// Status is what a daemon says about itself.
type Status struct {
	PID        int
	Version    string
	Instance   string
	ConfigPath string
	Started    time.Time
	// Ready is set once a getUpdates succeeded: the daemon hears Telegram.
	Ready bool
	// LastPoll is the end of the last successful getUpdates; zero before
	// the first one.
	LastPoll time.Time
	// PollTimeout is the long-poll timeout the daemon uses, so that a
	// reader can tell a stale LastPoll from a long poll in progress.
	PollTimeout time.Duration
	// Running and Queued count the runs in flight and the messages waiting.
	Running int
	Queued  int
	// State is StateRunning, StateDraining or StateStopped.
	State string
	// Updated is when the daemon wrote this.
	Updated time.Time
}

// statusFile is Status as stored: durations as Go duration strings, times
// in UTC, RFC 3339.
type statusFile struct {
	PID         int       `json:"pid"`
	Version     string    `json:"version"`
	Instance    string    `json:"instance"`
	ConfigPath  string    `json:"config_path"`
	Started     time.Time `json:"started"`
	Ready       bool      `json:"ready"`
	LastPoll    time.Time `json:"last_poll,omitzero"`
	PollTimeout string    `json:"poll_timeout,omitempty"`
	Running     int       `json:"runs_in_flight"`
	Queued      int       `json:"queued"`
	State       string    `json:"state"`
	Updated     time.Time `json:"updated"`
}

// StatusPath is the status file of the instance directory dir.
func StatusPath(dir string) string { return filepath.Join(dir, StatusFile) }

// WriteStatus replaces the status file at path, atomically: a reader sees
// the previous report or this one, never a mix.
func WriteStatus(path string, s Status) error {
	f := statusFile{
		PID: s.PID, Version: s.Version, Instance: s.Instance, ConfigPath: s.ConfigPath,
		Started: s.Started.UTC(), Ready: s.Ready, LastPoll: s.LastPoll.UTC(),
		Running: s.Running, Queued: s.Queued, State: s.State, Updated: s.Updated.UTC(),
	}
	if s.PollTimeout > 0 {
		f.PollTimeout = s.PollTimeout.String()
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save status: %w", err)
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}

// ReadStatus reads the status file at path. A missing file is an error
// wrapping ErrNoStatus.
func ReadStatus(path string) (Status, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Status{}, fmt.Errorf("read status %s: %w", path, ErrNoStatus)
	}
	if err != nil {
		return Status{}, fmt.Errorf("read status: %w", err)
	}
	var f statusFile
	if err := json.Unmarshal(data, &f); err != nil {
		return Status{}, fmt.Errorf("read status %s: %w", path, err)
	}
	s := Status{
		PID: f.PID, Version: f.Version, Instance: f.Instance, ConfigPath: f.ConfigPath,
		Started: f.Started, Ready: f.Ready, LastPoll: f.LastPoll,
		Running: f.Running, Queued: f.Queued, State: f.State, Updated: f.Updated,
	}
	if f.PollTimeout != "" {
		d, err := time.ParseDuration(f.PollTimeout)
		if err != nil {
			return Status{}, fmt.Errorf("read status %s: poll_timeout: %w", path, err)
		}
		s.PollTimeout = d
	}
	return s, nil
}
