// Package projectfs moves files into and out of a project folder on behalf
// of chat users, and never outside it: every path is taken relative to the
// project, refused when it is absolute, climbs out with "..", matches a
// deny-glob, or leads out through a symlink; and every operation goes
// through an os.Root, so a symlink swapped in mid-way cannot lead out
// either. Writes are atomic (a temporary file renamed into place, never a
// half-written file under the final name) and may be given to an owner,
// the user the agent's container runs as.
//
// Errors meant for the user wrap ErrRefused or ErrTooBig and read as one
// sentence.
package projectfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/untether-go/untether/internal/units"
)

// ErrRefused marks a path the project's rules refuse; ErrTooBig a file or
// folder over a size limit.
var (
	ErrRefused = errors.New("refused")
	ErrTooBig  = errors.New("too big")
)

// Owner is a numeric owner given to what the FS writes.
type Owner struct{ UID, GID int }

// FS is one project folder. Safe for concurrent use.
type FS struct {
	dir   string
	root  *os.Root
	deny  []string
	owner *Owner
}

// Open opens the project folder dir. Paths matching a deny glob (doublestar
// syntax, against slash-separated paths relative to dir) are refused both
// ways. A non-nil owner gets what the FS writes. Close the FS when done.
func Open(dir string, deny []string, owner *Owner) (*FS, error) {
	for _, g := range deny {
		if !doublestar.ValidatePattern(g) {
			return nil, fmt.Errorf("deny glob %q is not a valid pattern", g)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open project folder: %w", err)
	}
	return &FS{dir: dir, root: root, deny: deny, owner: owner}, nil
}

// Close releases the project folder.
func (p *FS) Close() error { return p.root.Close() }

func refused(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRefused}, a...)...)
}

// Clean checks rel against the rules that need no disk: not empty, not
// absolute, not out with "..", not denied. It returns rel cleaned, slash-
// separated.
func (p *FS) Clean(rel string) (string, error) {
	rel = strings.TrimSpace(rel)
	if rel == "" {
		return "", refused("no path given")
	}
	if strings.ContainsRune(rel, 0) {
		return "", refused("the path %q holds a NUL byte", rel)
	}
	if path.IsAbs(rel) || filepath.IsAbs(rel) {
		return "", refused("%s is absolute; give a path inside the project", rel)
	}
	clean := path.Clean(filepath.ToSlash(rel))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", refused("%s leads out of the project", rel)
	}
	if g, ok := p.denied(clean); ok {
		return "", refused("%s is denied by the rule %q", clean, g)
	}
	return clean, nil
}

// denied returns the deny glob clean matches, itself or through one of its
// parent folders.
func (p *FS) denied(clean string) (string, bool) {
	for _, g := range p.deny {
		for q := clean; q != "." && q != "/"; q = path.Dir(q) {
			if ok, _ := doublestar.Match(g, q); ok {
				return g, true
			}
		}
	}
	return "", false
}

// resolve is Clean, then the disk: every symlink on the way must stay in
// the project. It returns the cleaned path.
func (p *FS) resolve(rel string) (string, error) {
	clean, err := p.Clean(rel)
	if err != nil {
		return "", err
	}
	if clean == "." {
		return clean, nil
	}
	// os.Root refuses a path that escapes; tell the user which part did.
	parts := strings.Split(clean, "/")
	for i := range parts {
		q := strings.Join(parts[:i+1], "/")
		fi, err := p.root.Lstat(q)
		if errors.Is(err, fs.ErrNotExist) {
			return clean, nil
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if _, err := p.root.Stat(q); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", refused("%s is a symlink that leads out of the project", q)
		}
		target, _ := os.Readlink(filepath.Join(p.dir, filepath.FromSlash(q)))
		resolved := path.Clean(path.Join(path.Dir(q), filepath.ToSlash(target)))
		if path.IsAbs(target) {
			if in, err := filepath.Rel(p.dir, target); err == nil {
				resolved = filepath.ToSlash(in)
			}
		}
		if g, ok := p.denied(resolved); ok {
			return "", refused("%s leads to %s, denied by the rule %q", q, resolved, g)
		}
	}
	return clean, nil
}

// Stat describes the project path rel after the rules.
func (p *FS) Stat(rel string) (fs.FileInfo, error) {
	clean, err := p.resolve(rel)
	if err != nil {
		return nil, err
	}
	fi, err := p.root.Stat(clean)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrRefused, clean)
	}
	return fi, err
}

// Path is the host path of the project path rel, after the rules.
func (p *FS) Path(rel string) (string, error) {
	clean, err := p.resolve(rel)
	if err != nil {
		return "", err
	}
	return filepath.Join(p.dir, filepath.FromSlash(clean)), nil
}

// limitedCopy copies at most max bytes of src to dst; more is ErrTooBig.
func limitedCopy(dst io.Writer, src io.Reader, max int64) (int64, error) {
	n, err := io.Copy(dst, io.LimitReader(src, max+1))
	if err != nil {
		return n, err
	}
	if n > max {
		return n, fmt.Errorf("%w: the file is over the %s limit", ErrTooBig, units.Bytes(max))
	}
	return n, nil
}

// Save writes r to the project path rel atomically: into a temporary file
// beside it, renamed into place once whole. It makes missing folders. An
// existing file is replaced only with force. It returns the cleaned path
// and the bytes written; on error nothing new is left behind.
func (p *FS) Save(rel string, r io.Reader, max int64, force bool) (string, int64, error) {
	clean, err := p.resolve(rel)
	if err != nil {
		return "", 0, err
	}
	if clean == "." {
		return "", 0, refused("give a file name, not the project folder")
	}
	if fi, err := p.root.Stat(clean); err == nil && fi.IsDir() {
		return "", 0, refused("%s is a folder", clean)
	} else if err == nil && !force {
		return "", 0, refused("%s exists; send it again with /file put --force %s to replace it", clean, clean)
	}
	tmp, n, err := p.writeTemp(path.Dir(clean), r, max)
	if err != nil {
		return "", 0, err
	}
	if force {
		err = p.root.Rename(tmp, clean)
	} else {
		err = p.link(tmp, clean)
	}
	if err != nil {
		p.root.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return "", 0, refused("%s exists; send it again with /file put --force %s to replace it", clean, clean)
		}
		return "", 0, fmt.Errorf("save %s: %w", clean, err)
	}
	p.syncDir(path.Dir(clean))
	return clean, n, nil
}

// SaveNew writes r atomically as a new file in the project folder dir,
// named after name (its last element, made safe), or with _1, _2… before
// the extension when that exists. It returns the path it took.
func (p *FS) SaveNew(dir, name string, r io.Reader, max int64) (string, int64, error) {
	cleanDir, err := p.resolve(dir)
	if err != nil {
		return "", 0, err
	}
	name = SafeName(name)
	if _, err := p.Clean(path.Join(cleanDir, name)); err != nil {
		return "", 0, err
	}
	tmp, n, err := p.writeTemp(cleanDir, r, max)
	if err != nil {
		return "", 0, err
	}
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 0; i < 1000; i++ {
		cand := path.Join(cleanDir, name)
		if i > 0 {
			cand = path.Join(cleanDir, fmt.Sprintf("%s_%d%s", stem, i, ext))
		}
		err := p.link(tmp, cand)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		p.root.Remove(tmp)
		if err != nil {
			return "", 0, fmt.Errorf("save %s: %w", cand, err)
		}
		p.syncDir(cleanDir)
		return cand, n, nil
	}
	p.root.Remove(tmp)
	return "", 0, refused("%s and 999 numbered copies of it exist in %s", name, cleanDir)
}

// SafeName makes a sender's file name safe to save: its last element,
// without control characters, not hidden, never empty.
func SafeName(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if name == "" || name == "/" {
		return "file"
	}
	if len(name) > 200 {
		ext := path.Ext(name)
		if len(ext) > 20 {
			ext = ""
		}
		name = name[:200-len(ext)] + ext
	}
	return name
}

// tempPrefix names the temporary files of writes in progress.
const tempPrefix = ".untether-part-"

// writeTemp copies at most max bytes of r into a new temporary file in the
// project folder dir (made if missing), synced and given to the owner.
func (p *FS) writeTemp(dir string, r io.Reader, max int64) (string, int64, error) {
	if err := p.mkdirAll(dir); err != nil {
		return "", 0, err
	}
	var f *os.File
	var tmp string
	for i := 0; ; i++ {
		tmp = path.Join(dir, tempPrefix+randomSuffix())
		var err error
		f, err = p.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i > 10 {
			return "", 0, fmt.Errorf("save in %s: %w", dir, err)
		}
	}
	n, err := limitedCopy(f, r, max)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && p.owner != nil {
		err = p.root.Lchown(tmp, p.owner.UID, p.owner.GID)
	}
	if err != nil {
		p.root.Remove(tmp)
		return "", 0, err
	}
	return tmp, n, nil
}

// link gives the temporary file tmp the name final unless final exists
// (fs.ErrExist), then drops the temporary name.
func (p *FS) link(tmp, final string) error {
	if err := p.root.Link(tmp, final); err != nil {
		return err
	}
	p.root.Remove(tmp)
	return nil
}

// mkdirAll makes the project folder dir and its missing parents, owned by
// the owner.
func (p *FS) mkdirAll(dir string) error {
	if dir == "." {
		return nil
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		q := strings.Join(parts[:i+1], "/")
		err := p.root.Mkdir(q, 0o755)
		switch {
		case errors.Is(err, fs.ErrExist):
			fi, err := p.root.Stat(q)
			if err != nil {
				return fmt.Errorf("make folder %s: %w", q, err)
			}
			if !fi.IsDir() {
				return refused("%s is a file, not a folder", q)
			}
		case err != nil:
			return fmt.Errorf("make folder %s: %w", q, err)
		case p.owner != nil:
			if err := p.root.Lchown(q, p.owner.UID, p.owner.GID); err != nil {
				return fmt.Errorf("make folder %s: %w", q, err)
			}
		}
	}
	return nil
}

// syncDir makes a rename in the project folder dir survive a crash; its
// failure only weakens that, so it is not reported.
func (p *FS) syncDir(dir string) {
	if d, err := p.root.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Remove removes the project file rel.
func (p *FS) Remove(rel string) error {
	clean, err := p.resolve(rel)
	if err != nil {
		return err
	}
	return p.root.Remove(clean)
}
