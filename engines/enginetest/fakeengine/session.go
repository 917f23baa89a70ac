package main

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// sessionStore keeps an engine's sessions the way the real CLIs keep state
// under $HOME: one file per session id, one JSON line per run. A resume of
// a session the home never saw fails, so a test proves the engine's home
// survives between runs.
type sessionStore struct {
	dir string
}

// sessionRecord is one run of a session.
type sessionRecord struct {
	Time    time.Time `json:"time"`
	Resumed bool      `json:"resumed"`
	Cwd     string    `json:"cwd"`
	Prompt  string    `json:"prompt"`
}

// validSessionID accepts ids that are safe as a file name.
func validSessionID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, "/\\\x00")
}

func (st sessionStore) path(id string) string {
	return filepath.Join(st.dir, id)
}

// exists reports whether the store has the session id.
func (st sessionStore) exists(id string) bool {
	return validSessionID(id) && fileExists(st.path(id))
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// save appends one run to the session's file.
func (st sessionStore) save(id string, rec sessionRecord) error {
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return err
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(st.path(id), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// latest returns the session whose last run in cwd is the most recent, or
// "" when there is none; cwd "" matches every directory.
func (st sessionStore) latest(cwd string) (string, error) {
	entries, err := os.ReadDir(st.dir)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var best string
	var bestTime time.Time
	for _, e := range entries {
		t, err := st.lastRun(e.Name(), cwd)
		if err != nil {
			return "", err
		}
		if !t.IsZero() && t.After(bestTime) {
			best, bestTime = e.Name(), t
		}
	}
	return best, nil
}

// lastRun returns the time of the session's last run in cwd.
func (st sessionStore) lastRun(id, cwd string) (time.Time, error) {
	f, err := os.Open(st.path(id))
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	var last time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var rec sessionRecord
		if json.Unmarshal(sc.Bytes(), &rec) == nil && (cwd == "" || rec.Cwd == cwd) && rec.Time.After(last) {
			last = rec.Time
		}
	}
	return last, sc.Err()
}

// homeDir returns the directory named by $HOME, where the CLIs keep their
// state.
func homeDir() (string, error) {
	home := os.Getenv("HOME")
	if home == "" {
		return "", fmt.Errorf("HOME is not set; the CLI keeps its sessions under $HOME")
	}
	return home, nil
}

// underHome returns a session directory function for dir under $HOME.
func underHome(dir ...string) func() (string, error) {
	return func() (string, error) {
		home, err := homeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(append([]string{home}, dir...)...), nil
	}
}

// randomUUID returns a version 4 UUID.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
