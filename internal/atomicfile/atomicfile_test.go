package atomicfile

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// entries lists the names in dir, so that a test sees leftover temp files.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name string
		old  []byte // nil: no file yet
		perm fs.FileMode
	}{
		{"new file", nil, 0o600},
		{"replaces a file", []byte("old content"), 0o644},
		{"replaces with a wider mode", []byte("old"), 0o755},
		{"empty content", []byte("old"), 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			if tt.old != nil {
				if err := os.WriteFile(path, tt.old, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			data := []byte(tt.name)
			if tt.name == "empty content" {
				data = nil
			}
			if err := WriteFile(path, data, tt.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("content = %q, %v; want %q", got, err, data)
			}
			fi, _ := os.Stat(path)
			if fi.Mode().Perm() != tt.perm {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.perm)
			}
			if names := entries(t, dir); !slices.Equal(names, []string{"f.json"}) {
				t.Errorf("directory holds %v, want only f.json", names)
			}
		})
	}
}

// A failed write changes nothing in the directory: no new file, no
// temporary file.
func TestWriteFileFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to write
	}{
		{"directory missing", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "missing", "f.json")
		}},
		{"directory is a file", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "notdir"), []byte("x"), 0o600)
			return filepath.Join(dir, "notdir", "f.json")
		}},
		{"path is a directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "f.json")
			os.MkdirAll(filepath.Join(p, "child"), 0o755)
			return p
		}},
		{"path is a fifo", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "f.json")
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := entries(t, dir)
			if err := WriteFile(path, []byte("new"), 0o600); err == nil {
				t.Fatal("WriteFile succeeded")
			}
			if after := entries(t, dir); !slices.Equal(after, before) {
				t.Errorf("directory holds %v after the failure, had %v", after, before)
			}
		})
	}
}

// A File's content is readable under Name once sealed, and takes the
// path's place only at Commit.
func TestFileSealThenCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bin")
	os.WriteFile(path, []byte("v1"), 0o755)
	f, err := Create(path, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	f.Write([]byte("v2"))
	if err := f.Seal(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.Name()); string(got) != "v2" {
		t.Fatalf("sealed temp file holds %q", got)
	}
	if got, _ := os.ReadFile(path); string(got) != "v1" {
		t.Fatalf("path holds %q before Commit", got)
	}
	if _, err := f.Write([]byte("more")); err == nil {
		t.Error("Write after Seal succeeded")
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // a no-op after Commit
	if got, _ := os.ReadFile(path); string(got) != "v2" {
		t.Fatalf("path holds %q after Commit", got)
	}
	if names := entries(t, dir); !slices.Equal(names, []string{"bin"}) {
		t.Errorf("directory holds %v", names)
	}
}

func TestFileAbort(t *testing.T) {
	for _, seal := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		os.WriteFile(path, []byte("old"), 0o600)
		f, err := Create(path, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("new"))
		if seal {
			if err := f.Seal(); err != nil {
				t.Fatal(err)
			}
		}
		f.Abort()
		f.Abort()
		if got, _ := os.ReadFile(path); string(got) != "old" {
			t.Errorf("sealed %v: path holds %q after Abort", seal, got)
		}
		if names := entries(t, dir); !slices.Equal(names, []string{"f"}) {
			t.Errorf("sealed %v: directory holds %v after Abort", seal, names)
		}
	}
}

func TestSymlink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "current")
	for _, target := range []string{"/releases/1.0.0/untether", "/releases/1.1.0/untether"} {
		if err := Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if got, err := os.Readlink(link); err != nil || got != target {
			t.Fatalf("link = %q, %v; want %q", got, err, target)
		}
	}
	if names := entries(t, dir); !slices.Equal(names, []string{"current"}) {
		t.Errorf("directory holds %v", names)
	}
	if err := Symlink("/x", filepath.Join(dir, "missing", "link")); err == nil {
		t.Error("Symlink into a missing directory succeeded")
	}
	if names := entries(t, dir); !slices.Equal(names, []string{"current"}) {
		t.Errorf("directory holds %v after a failure", names)
	}
}

// A reader racing the writer sees a whole file every time.
func TestWriteFileIsAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	whole := func(b byte) []byte { return bytes.Repeat([]byte{b}, 1<<16) }
	if err := WriteFile(path, whole('a'), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		for i := range 200 {
			if err := WriteFile(path, whole(byte('a'+i%26)), 0o600); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read during writes: %v", err)
		}
		if len(got) != 1<<16 || bytes.Count(got, got[:1]) != len(got) {
			t.Fatalf("read a torn file: %d bytes", len(got))
		}
	}
}
