package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStatusRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := StatusPath(dir)
	if filepath.Base(path) != StatusFile || filepath.Dir(path) != dir {
		t.Fatalf("StatusPath(%s) = %s", dir, path)
	}
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	want := Status{
		PID: 4242, Version: "1.1.0-rc.1", Instance: "staging", ConfigPath: "/home/u/.untether/untether.toml",
		Started: started, Ready: true, LastPoll: started.Add(time.Minute), PollTimeout: 30 * time.Second,
		Running: 2, Queued: 1, State: StateDraining, Updated: started.Add(2 * time.Minute),
	}
	for i := range 3 {
		want.Running = i
		if err := WriteStatus(path, want); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []*time.Time{&want.Started, &want.LastPoll, &want.Updated} {
		*ts = ts.UTC()
	}
	if got != want {
		t.Fatalf("ReadStatus =\n%+v\nwant\n%+v", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestStatusBeforeFirstPoll(t *testing.T) {
	path := StatusPath(t.TempDir())
	if err := WriteStatus(path, Status{PID: 1, State: StateRunning}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "last_poll") || strings.Contains(string(data), "poll_timeout") {
		t.Errorf("unset fields are written:\n%s", data)
	}
	got, err := ReadStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastPoll.IsZero() || got.Ready || got.PollTimeout != 0 {
		t.Errorf("ReadStatus = %+v, want no poll yet", got)
	}
}

func TestReadStatusErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadStatus(StatusPath(dir)); !errors.Is(err, ErrNoStatus) {
		t.Errorf("missing file: got %v, want ErrNoStatus", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"pid": 1,`), 0o600)
	if _, err := ReadStatus(bad); err == nil || errors.Is(err, ErrNoStatus) {
		t.Errorf("corrupt file: got %v, want a decode error", err)
	}
	os.WriteFile(bad, []byte(`{"pid": 1, "poll_timeout": "soon"}`), 0o600)
	if _, err := ReadStatus(bad); err == nil {
		t.Error("bad poll_timeout read without error")
	}
}

// A reader racing the writer sees a whole file every time.
func TestStatusWriteIsAtomic(t *testing.T) {
	path := StatusPath(t.TempDir())
	if err := WriteStatus(path, Status{PID: 1, Version: strings.Repeat("x", 4096)}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			WriteStatus(path, Status{PID: i + 2, Version: strings.Repeat("y", 4096+i)})
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		if _, err := ReadStatus(path); err != nil {
			t.Fatalf("read during writes: %v", err)
		}
	}
}
