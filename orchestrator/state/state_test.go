package state

import (
	"errors"
	"os"
	"path/filepath"
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
