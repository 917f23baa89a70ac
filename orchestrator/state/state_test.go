package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLockRefusesSecondHolder(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "untether.toml")
	l1, err := AcquireLock(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLock(cfg); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: got %v, want ErrLocked", err)
	}
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(cfg)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}

func TestOffsetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	o := NewOffset(dir)
	if _, ok, err := o.Load(); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	for _, id := range []int64{100001, 100002} {
		if err := o.Save(id); err != nil {
			t.Fatal(err)
		}
	}
	id, ok, err := NewOffset(dir).Load()
	if err != nil || !ok || id != 100002 {
		t.Fatalf("Load = %d, %v, %v; want 100002", id, ok, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestOffsetCorruptFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, OffsetFile), []byte("{"), 0o600)
	if _, _, err := NewOffset(dir).Load(); err == nil {
		t.Fatal("corrupt offset file loaded without error")
	}
}

func TestSessionsPersist(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSessions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("chat:-1:0", "claude", "abc"); err != nil {
		t.Fatal(err)
	}
	s.Put("chat:-2:0", "claude", "def")
	s.Delete("chat:-2:0")
	s2, err := OpenSessions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if e, r, ok := s2.Get("chat:-1:0"); !ok || e != "claude" || r != "abc" {
		t.Fatalf("Get = %q %q %v", e, r, ok)
	}
	if _, _, ok := s2.Get("chat:-2:0"); ok {
		t.Fatal("deleted session came back")
	}
}

func TestChatsPersist(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenChats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Engine("chat:1:0"); ok {
		t.Fatal("empty store has an engine")
	}
	if err := c.SetEngine("chat:1:0", "codex"); err != nil {
		t.Fatal(err)
	}
	c2, err := OpenChats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := c2.Engine("chat:1:0"); !ok || e != "codex" {
		t.Fatalf("Engine = %q, %v", e, ok)
	}
}

func TestChatsModelsSurviveEngineChange(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenChats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetModel("chat:1:0", "claude", "claude-opus-4"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetEngine("chat:1:0", "codex"); err != nil {
		t.Fatal(err)
	}
	c2, err := OpenChats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := c2.Model("chat:1:0", "claude"); !ok || m != "claude-opus-4" {
		t.Fatalf("Model = %q, %v after SetEngine", m, ok)
	}
	if _, ok := c2.Model("chat:1:0", "codex"); ok {
		t.Fatal("codex has a model nobody chose")
	}
	if err := c2.SetModel("chat:1:0", "claude", ""); err != nil {
		t.Fatal(err)
	}
	if m, ok := c2.Model("chat:1:0", "claude"); ok {
		t.Fatalf("Model = %q after clearing", m)
	}
	if e, ok := c2.Engine("chat:1:0"); !ok || e != "codex" {
		t.Fatalf("Engine = %q, %v after SetModel", e, ok)
	}
}

func TestRecordsPersist(t *testing.T) {
	type rec struct {
		Chat int64  `json:"chat"`
		Note string `json:"note"`
	}
	dir := t.TempDir()
	r, err := OpenRecords[rec](dir, RunsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Put("a", rec{1, "x"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Put("b", rec{2, "y"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete("never"); err != nil {
		t.Fatalf("Delete of an absent id: %v", err)
	}
	r2, err := OpenRecords[rec](dir, RunsFile)
	if err != nil {
		t.Fatal(err)
	}
	all := r2.All()
	if len(all) != 1 || all["b"] != (rec{2, "y"}) {
		t.Fatalf("All() = %+v", all)
	}
}

// stores is one instance directory's stores, for tests that change any.
type stores struct {
	sessions *Sessions
	chats    *Chats
	runs     *Records[string]
	offset   *Offset
}

func openStores(t *testing.T, dir string) stores {
	t.Helper()
	var s stores
	var err error
	if s.sessions, err = OpenSessions(dir); err != nil {
		t.Fatal(err)
	}
	if s.chats, err = OpenChats(dir); err != nil {
		t.Fatal(err)
	}
	if s.runs, err = OpenRecords[string](dir, RunsFile); err != nil {
		t.Fatal(err)
	}
	s.offset = NewOffset(dir)
	return s
}

// report is everything the stores say, as readers see it.
func (s stores) report(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, key := range []string{"k", "other"} {
		e, r, ok := s.sessions.Get(key)
		fmt.Fprintf(&b, "session %s: %q %q %v\n", key, e, r, ok)
		engine, ok := s.chats.Engine(key)
		fmt.Fprintf(&b, "chat %s: engine %q %v", key, engine, ok)
		for _, eng := range []string{"claude", "codex"} {
			m, ok := s.chats.Model(key, eng)
			fmt.Fprintf(&b, ", %s model %q %v", eng, m, ok)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "runs: %v\n", s.runs.All())
	id, ok, err := s.offset.Load()
	fmt.Fprintf(&b, "offset: %d %v %v\n", id, ok, err)
	return b.String()
}

// A change whose write fails is not seen: every store reports what it did
// before, in memory and on disk, and the error is returned.
func TestFailedWriteChangesNothing(t *testing.T) {
	tests := []struct {
		name   string
		change func(s stores) error
	}{
		{"session put", func(s stores) error { return s.sessions.Put("k", "codex", "new") }},
		{"session put of a new key", func(s stores) error { return s.sessions.Put("other", "codex", "new") }},
		{"session delete", func(s stores) error { return s.sessions.Delete("k") }},
		{"chat engine", func(s stores) error { return s.chats.SetEngine("k", "codex") }},
		{"chat engine of a new key", func(s stores) error { return s.chats.SetEngine("other", "codex") }},
		{"chat model change", func(s stores) error { return s.chats.SetModel("k", "claude", "claude-new") }},
		{"chat model added", func(s stores) error { return s.chats.SetModel("k", "codex", "gpt-new") }},
		{"chat model cleared", func(s stores) error { return s.chats.SetModel("k", "claude", "") }},
		{"record put", func(s stores) error { return s.runs.Put("r1", "new") }},
		{"record put of a new id", func(s stores) error { return s.runs.Put("r2", "new") }},
		{"record delete", func(s stores) error { return s.runs.Delete("r1") }},
		{"offset save", func(s stores) error { return s.offset.Save(2) }},
	}
	// Ways to make the write fail that hold for root too, whom permission
	// bits do not stop.
	breaks := []struct {
		name string
		// breakDir makes writes into dir fail and returns what undoes it.
		breakDir func(t *testing.T, dir string) (undo func())
	}{
		{"directory replaced by a file", func(t *testing.T, dir string) func() {
			away := dir + ".away"
			if err := os.Rename(dir, away); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
				t.Fatal(err)
			}
			return func() {
				os.Remove(dir)
				os.Rename(away, dir)
			}
		}},
		{"directory removed", func(t *testing.T, dir string) func() {
			away := dir + ".away"
			if err := os.Rename(dir, away); err != nil {
				t.Fatal(err)
			}
			return func() { os.Rename(away, dir) }
		}},
	}
	for _, br := range breaks {
		for _, tt := range tests {
			t.Run(br.name+"/"+tt.name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "instance")
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				s := openStores(t, dir)
				for _, err := range []error{
					s.sessions.Put("k", "claude", "old"),
					s.chats.SetEngine("k", "claude"),
					s.chats.SetModel("k", "claude", "claude-old"),
					s.runs.Put("r1", "old"),
					s.offset.Save(1),
				} {
					if err != nil {
						t.Fatal(err)
					}
				}
				before := s.report(t)

				undo := br.breakDir(t, dir)
				err := tt.change(s)
				undo()
				if err == nil {
					t.Fatal("the change succeeded although its write could not")
				}
				if got := s.report(t); got != before {
					t.Errorf("after the failed write, memory reports\n%s\nwant, as before,\n%s", got, before)
				}
				if got := openStores(t, dir).report(t); got != before {
					t.Errorf("after the failed write, the disk holds\n%s\nwant, as before,\n%s", got, before)
				}
				if err := tt.change(s); err != nil {
					t.Fatalf("the change once the directory is back: %v", err)
				}
				if got, disk := s.report(t), openStores(t, dir).report(t); got == before || got != disk {
					t.Errorf("after the change, memory reports\n%s\nthe disk holds\n%s\nbefore it was\n%s", got, disk, before)
				}
			})
		}
	}
}

// A store whose file holds JSON null opens empty and takes changes.
func TestStoreFileHoldingNull(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, SessionsFile), []byte("null\n"), 0o600)
	s, err := OpenSessions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("k", "claude", "abc"); err != nil {
		t.Fatal(err)
	}
	if _, r, ok := s.Get("k"); !ok || r != "abc" {
		t.Fatalf("Get = %q, %v", r, ok)
	}
}

// Readers of a chat's models race its writers without a data race: a
// stored value is replaced, never changed in place.
func TestChatsConcurrentModels(t *testing.T) {
	c, err := OpenChats(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				if err := c.SetModel("k", fmt.Sprint("engine", i), fmt.Sprint("model", j)); err != nil {
					t.Error(err)
					return
				}
				c.Model("k", "engine0")
			}
		}()
	}
	wg.Wait()
	for i := range 4 {
		if m, ok := c.Model("k", fmt.Sprint("engine", i)); !ok || m != "model19" {
			t.Errorf("engine%d model = %q, %v", i, m, ok)
		}
	}
}

func TestChatsSettingsPersist(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenChats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetSetting("chat:1:0", "approvals", "on"); err != nil {
		t.Fatal(err)
	}
	c2, err := OpenChats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := c2.Setting("chat:1:0", "approvals"); !ok || v != "on" {
		t.Fatalf("Setting = %q, %v after a reopen", v, ok)
	}
	if err := c2.SetSetting("chat:1:0", "approvals", ""); err != nil {
		t.Fatal(err)
	}
	if v, ok := c2.Setting("chat:1:0", "approvals"); ok {
		t.Fatalf("Setting = %q after it was forgotten", v)
	}
}
