package projectfs

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"time"

	"github.com/untether-go/untether/internal/units"
)

// Export is a copy of a project file, or a zip of a folder, taken out of
// the project so it can be sent however long that takes: the project may
// change meanwhile. Close removes it.
type Export struct {
	// Path is the copy on disk; Name the name to show (a folder's name
	// with .zip).
	Path string
	Name string
	Zip  bool
	Size int64
	// Left are the folder's entries left out of a zip: denied paths,
	// symlinks and other non-regular files.
	Left []string
}

// Close removes the copy.
func (e Export) Close() error { return os.Remove(e.Path) }

// MaxZipFiles bounds the files of a zipped folder.
const MaxZipFiles = 10000

// Export copies the project path rel into a new file in tmpDir: a file as
// it is, a folder as a zip of its regular files. A file over max bytes, or
// a folder whose files add up to more (counted before anything is
// written, so a huge folder costs no disk), is refused with ErrTooBig.
func (p *FS) Export(rel, tmpDir string, max int64) (Export, error) {
	fi, err := p.Stat(rel)
	if err != nil {
		return Export{}, err
	}
	clean, _ := p.Clean(rel)
	switch {
	case fi.Mode().IsRegular():
		if fi.Size() > max {
			return Export{}, fmt.Errorf("%w: %s is %s; the limit is %s", ErrTooBig, clean, units.Bytes(fi.Size()), units.Bytes(max))
		}
		return p.exportFile(clean, tmpDir, max)
	case fi.IsDir():
		return p.exportZip(clean, tmpDir, max)
	}
	return Export{}, refused("%s is not a file or a folder", clean)
}

func (p *FS) exportFile(clean, tmpDir string, max int64) (Export, error) {
	src, err := p.root.Open(clean)
	if err != nil {
		return Export{}, fmt.Errorf("read %s: %w", clean, err)
	}
	defer src.Close()
	dst, err := os.CreateTemp(tmpDir, "untether-get-*")
	if err != nil {
		return Export{}, err
	}
	e := Export{Path: dst.Name(), Name: path.Base(clean)}
	if clean == "." {
		e.Name = "project"
	}
	n, err := limitedCopy(dst, src, max)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		e.Close()
		return Export{}, err
	}
	e.Size = n
	return e, nil
}

// zipEntry is a regular file of a folder to zip.
type zipEntry struct {
	rel  string // relative to the project
	name string // inside the zip
	fi   fs.FileInfo
}

func (p *FS) exportZip(clean, tmpDir string, max int64) (Export, error) {
	entries, left, err := p.walk(clean, max)
	if err != nil {
		return Export{}, err
	}
	dst, err := os.CreateTemp(tmpDir, "untether-get-*.zip")
	if err != nil {
		return Export{}, err
	}
	name := path.Base(clean)
	if clean == "." {
		name = "project"
	}
	e := Export{Path: dst.Name(), Name: name + ".zip", Zip: true, Left: left}
	err = p.writeZip(dst, entries, max)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		var fi fs.FileInfo
		if fi, err = os.Stat(e.Path); err == nil {
			e.Size = fi.Size()
			if e.Size > max {
				err = fmt.Errorf("%w: the zip of %s is %s; the limit is %s", ErrTooBig, clean, units.Bytes(e.Size), units.Bytes(max))
			}
		}
	}
	if err != nil {
		e.Close()
		return Export{}, err
	}
	return e, nil
}

// walk lists the regular files under the project folder dir, refusing
// with ErrTooBig once their sizes add up to more than max.
func (p *FS) walk(dir string, max int64) ([]zipEntry, []string, error) {
	var entries []zipEntry
	var left []string
	var total int64
	err := fs.WalkDir(p.root.FS(), dir, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if q == dir {
			return nil
		}
		inZip := q
		if dir != "." {
			inZip = q[len(dir)+1:]
		}
		if _, denied := p.denied(q); denied {
			left = append(left, inZip)
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			left = append(left, inZip)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		total += fi.Size()
		if total > max {
			return fmt.Errorf("%w: the files in %s add up to more than the %s limit", ErrTooBig, dir, units.Bytes(max))
		}
		if len(entries) == MaxZipFiles {
			return fmt.Errorf("%w: %s holds more than %d files", ErrTooBig, dir, MaxZipFiles)
		}
		entries = append(entries, zipEntry{rel: q, name: inZip, fi: fi})
		return nil
	})
	if err != nil && !errors.Is(err, ErrTooBig) {
		err = fmt.Errorf("read %s: %w", dir, err)
	}
	slices.Sort(left)
	return entries, left, err
}

func (p *FS) writeZip(w io.Writer, entries []zipEntry, max int64) error {
	zw := zip.NewWriter(w)
	var total int64
	for _, e := range entries {
		h, err := zip.FileInfoHeader(e.fi)
		if err != nil {
			return err
		}
		h.Name, h.Method = e.name, zip.Deflate
		h.Modified = e.fi.ModTime().UTC().Truncate(time.Second)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		src, err := p.root.Open(e.rel)
		if err != nil {
			return fmt.Errorf("read %s: %w", e.rel, err)
		}
		// The file may have grown since it was counted.
		n, err := limitedCopy(fw, src, max-total)
		src.Close()
		if err != nil {
			return err
		}
		total += n
	}
	return zw.Close()
}

// Outbox lists the regular files directly in the project folder dir, by
// name; a missing folder holds none. Others (folders, symlinks) are
// returned in other.
func (p *FS) Outbox(dir string) (files, other []string, err error) {
	clean, err := p.resolve(dir)
	if err != nil {
		return nil, nil, err
	}
	ents, err := fs.ReadDir(p.root.FS(), clean)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", clean, err)
	}
	for _, e := range ents {
		if len(e.Name()) > len(tempPrefix) && e.Name()[:len(tempPrefix)] == tempPrefix {
			continue
		}
		if e.Type().IsRegular() {
			files = append(files, path.Join(clean, e.Name()))
		} else {
			other = append(other, path.Join(clean, e.Name()))
		}
	}
	return files, other, nil
}
