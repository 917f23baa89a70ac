// Package atomicfile replaces files so that a reader, and the disk after a
// crash, sees the old content or the new, never a torn mix: the new content
// goes to a temporary file beside the target, is synced, and is renamed over
// it; then the directory is synced, so that the rename survives a power loss
// too. It is the module's only home for that sequence: the daemon's state
// files, the systemd units and the release binaries and symlinks all go
// through it.
//
// Any package of the module may import it. It imports only the standard
// library, and must stay that way: orchestrator/state, held to the standard
// library itself, depends on it.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// WriteFile replaces path with data, with mode perm. Path's directory must
// exist. When WriteFile fails, path is as it was and no temporary file is
// left behind.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return f.Commit()
}

// File is the pending new content of a path: it is written like a file,
// then committed (renamed over the path) or aborted (removed). Callers that
// stream a large content, or check it before it takes the path's place, use
// File; the others use WriteFile. A File is not safe for concurrent use.
type File struct {
	path      string
	perm      fs.FileMode
	f         *os.File
	sealed    bool
	committed bool
}

// Create starts replacing path with a temporary file in path's directory,
// which must exist. It refuses a path that exists and is not a regular file
// (a symlink to one is replaced by the new file). The caller must Commit or
// Abort the File.
func Create(path string, perm fs.FileMode) (*File, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("replace %s: it exists and is not a regular file", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), tempPattern(path))
	if err != nil {
		return nil, fmt.Errorf("replace %s: %w", path, err)
	}
	return &File{path: path, perm: perm, f: f}, nil
}

// tempPattern names temporary files after their target, hidden, so that a
// leftover from a crash says what it was for.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// Write appends p to the new content; it fails after Seal.
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// Name is the temporary file's path. After Seal its content is final and
// may be read, or run, before Commit puts it in place.
func (f *File) Name() string { return f.f.Name() }

// Seal gives the temporary file its mode, syncs it to disk and closes it.
// Commit seals the file when the caller has not; a caller seals first to
// check the content under Name before it replaces the path.
func (f *File) Seal() error {
	if f.sealed {
		return nil
	}
	if err := f.f.Chmod(f.perm); err != nil {
		f.f.Close()
		return fmt.Errorf("replace %s: %w", f.path, err)
	}
	if err := f.f.Sync(); err != nil {
		f.f.Close()
		return fmt.Errorf("replace %s: sync: %w", f.path, err)
	}
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("replace %s: %w", f.path, err)
	}
	f.sealed = true
	return nil
}

// Commit seals the file, renames it over the path and syncs the directory.
// When it fails, the path is as it was; the caller still Aborts.
func (f *File) Commit() error {
	if err := f.Seal(); err != nil {
		return err
	}
	if err := os.Rename(f.f.Name(), f.path); err != nil {
		return fmt.Errorf("replace %s: %w", f.path, err)
	}
	f.committed = true
	syncDir(filepath.Dir(f.path))
	return nil
}

// Abort removes the temporary file unless Commit succeeded. It may be
// called more than once, and after Commit, so that callers defer it.
func (f *File) Abort() {
	if f.committed {
		return
	}
	f.f.Close()
	os.Remove(f.f.Name())
}

// Symlink replaces path with a symbolic link to target: a new link made
// beside path is renamed over it, so that path always resolves, to the old
// target or the new one. Whatever is at path is replaced; callers that must
// not replace a regular file check first. Path's directory must exist.
func Symlink(target, path string) error {
	var tmp string
	for i := 0; ; i++ {
		tmp = filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		err := os.Symlink(target, tmp)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i == 100 {
			return fmt.Errorf("replace %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes a rename in dir durable. It reports nothing: the new content
// is in place whatever happens here, and some filesystems cannot sync a
// directory at all; a failure only means a power loss might bring the old
// content back.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
