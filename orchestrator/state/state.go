// Package state keeps the daemon's durable state in JSON files beside the
// config: the Telegram update offset, the sessions of each chat, the lock that
// makes an instance single. Every write goes through internal/atomicfile
// (temp file, fsync, rename, fsync of the directory), so a crash leaves the
// old or the new file, never a torn one; and a change reaches memory only
// once it is on disk.
//
// It imports only the standard library and internal/atomicfile.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/untether-go/untether/internal/atomicfile"
)

// File names inside the instance directory.
const (
	OffsetFile   = "last_update_id.json"
	SessionsFile = "sessions.json"
	ChatsFile    = "chats.json"
)

// ErrLocked is returned when another daemon holds the instance's lock.
var ErrLocked = errors.New("another untether daemon is running with this config")

// Lock is an exclusive, advisory lock on `<config>.lock`. The kernel drops
// it when the process dies, so a crashed daemon never blocks the next one.
type Lock struct {
	f *os.File
}

// AcquireLock takes the lock of the instance whose config is at configPath.
// When another process holds it, the error wraps ErrLocked and names its pid.
func AcquireLock(configPath string) (*Lock, error) {
	path := configPath + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			return nil, fmt.Errorf("lock %s (held by pid %s): %w", path, pid, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock. The lock file stays: removing it would race with
// a daemon that is just opening it.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	cerr := l.f.Close()
	l.f = nil
	return errors.Join(err, cerr)
}

// Offset persists the id of the last Telegram update that was handled.
type Offset struct {
	path string
}

// NewOffset returns the offset store of the instance directory dir.
func NewOffset(dir string) *Offset { return &Offset{path: filepath.Join(dir, OffsetFile)} }

type offsetFile struct {
	LastUpdateID int64     `json:"last_update_id"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Load returns the last handled update id; ok is false when none was saved.
func (o *Offset) Load() (id int64, ok bool, err error) {
	data, err := os.ReadFile(o.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read offset: %w", err)
	}
	var f offsetFile
	if err := json.Unmarshal(data, &f); err != nil {
		return 0, false, fmt.Errorf("read offset %s: %w", o.path, err)
	}
	return f.LastUpdateID, true, nil
}

// Save records id as handled. It is called after each update is handled.
func (o *Offset) Save(id int64) error {
	data, err := json.Marshal(offsetFile{LastUpdateID: id, UpdatedAt: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("save offset: %w", err)
	}
	return atomicfile.WriteFile(o.path, append(data, '\n'), 0o600)
}

// store is a map persisted as one JSON file, rewritten atomically on every
// change. A change is written to disk before readers see it: when the write
// fails, the store reports what it did before and the error is returned.
// Values are copied in and out, so a V holding a map or a slice must not be
// changed in place once stored: update's change replaces such fields.
// Safe for concurrent use.
type store[V any] struct {
	path string
	mu   sync.Mutex
	m    map[string]V // replaced, never changed in place, once saved
}

func openStore[V any](path string) (*store[V], error) {
	s := &store[V]{path: path, m: map[string]V{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	if err := json.Unmarshal(data, &s.m); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if s.m == nil { // the file holds null
		s.m = map[string]V{}
	}
	return s, nil
}

func (s *store[V]) get(key string) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok
}

// all returns a copy of the map.
func (s *store[V]) all() map[string]V {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m)
}

func (s *store[V]) put(key string, v V) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(s.m)
	next[key] = v
	return s.saveLocked(next)
}

// update changes the value of key (the zero value when absent) and persists
// the store. change gets a copy: it must replace, not modify, the maps and
// slices the value holds.
func (s *store[V]) update(key string, change func(v *V)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[key]
	change(&v)
	next := maps.Clone(s.m)
	next[key] = v
	return s.saveLocked(next)
}

// delete removes key and persists the store; an absent key costs no write.
func (s *store[V]) delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok {
		return nil
	}
	next := maps.Clone(s.m)
	delete(next, key)
	return s.saveLocked(next)
}

// saveLocked writes next to disk and, once it is there, makes it the
// store's map.
func (s *store[V]) saveLocked(next map[string]V) error {
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return fmt.Errorf("save %s: %w", filepath.Base(s.path), err)
	}
	if err := atomicfile.WriteFile(s.path, append(data, '\n'), 0o600); err != nil {
		return err
	}
	s.m = next
	return nil
}

// Sessions maps a conversation key (chat, topic, user, engine) to the
// engine session it continues. Safe for concurrent use; every Put is
// persisted.
type Sessions struct {
	s *store[Session]
}

// Session is the stored resume token of one conversation.
type Session struct {
	Engine    string    `json:"engine"`
	Resume    string    `json:"resume"`
	UpdatedAt time.Time `json:"updated_at"`
}

// OpenSessions loads the sessions file of the instance directory dir (a
// missing file is an empty store).
func OpenSessions(dir string) (*Sessions, error) {
	s, err := openStore[Session](filepath.Join(dir, SessionsFile))
	if err != nil {
		return nil, err
	}
	return &Sessions{s: s}, nil
}

// Get returns the session stored under key.
func (s *Sessions) Get(key string) (engine, resume string, ok bool) {
	v, ok := s.s.get(key)
	return v.Engine, v.Resume, ok
}

// Put stores the session of key and persists the store.
func (s *Sessions) Put(key, engine, resume string) error {
	return s.s.put(key, Session{Engine: engine, Resume: resume, UpdatedAt: time.Now().UTC()})
}

// Delete forgets the session of key; an absent key costs no write.
func (s *Sessions) Delete(key string) error { return s.s.delete(key) }

// Chats keeps per-chat settings, such as the engine chosen with /agent.
// Safe for concurrent use; every change is persisted.
type Chats struct {
	s *store[Chat]
}

// Chat is the stored settings of one chat or topic.
type Chat struct {
	Engine string `json:"engine,omitempty"`
	// Models maps an engine name to the model chosen with /model.
	Models map[string]string `json:"models,omitempty"`
	// Settings are the chat's other choices (/approvals, /planmode).
	Settings  map[string]string `json:"settings,omitempty"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// OpenChats loads the chat settings of the instance directory dir.
func OpenChats(dir string) (*Chats, error) {
	s, err := openStore[Chat](filepath.Join(dir, ChatsFile))
	if err != nil {
		return nil, err
	}
	return &Chats{s: s}, nil
}

// Engine returns the engine chosen for key.
func (c *Chats) Engine(key string) (string, bool) {
	v, ok := c.s.get(key)
	return v.Engine, ok && v.Engine != ""
}

// SetEngine records the engine chosen for key.
func (c *Chats) SetEngine(key, engine string) error {
	return c.s.update(key, func(v *Chat) {
		v.Engine, v.UpdatedAt = engine, time.Now().UTC()
	})
}

// Model returns the model chosen for engine in key.
func (c *Chats) Model(key, engine string) (string, bool) {
	v, ok := c.s.get(key)
	m := v.Models[engine]
	return m, ok && m != ""
}

// SetModel records the model chosen for engine in key; an empty model
// forgets the choice.
func (c *Chats) SetModel(key, engine, model string) error {
	return c.s.update(key, func(v *Chat) {
		// A new map: the stored one is shared with readers until the write
		// succeeds.
		models := maps.Clone(v.Models)
		if model == "" {
			delete(models, engine)
		} else {
			if models == nil {
				models = map[string]string{}
			}
			models[engine] = model
		}
		v.Models, v.UpdatedAt = models, time.Now().UTC()
	})
}

// Setting returns the chat setting name of key.
func (c *Chats) Setting(key, name string) (string, bool) {
	v, ok := c.s.get(key)
	s := v.Settings[name]
	return s, ok && s != ""
}

// SetSetting records the chat setting name of key; an empty value forgets
// it.
func (c *Chats) SetSetting(key, name, value string) error {
	return c.s.update(key, func(v *Chat) {
		settings := maps.Clone(v.Settings) // the stored map is shared with readers
		if value == "" {
			delete(settings, name)
		} else {
			if settings == nil {
				settings = map[string]string{}
			}
			settings[name] = value
		}
		v.Settings, v.UpdatedAt = settings, time.Now().UTC()
	})
}
