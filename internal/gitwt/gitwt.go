// Package gitwt gives each branch of a project its own git worktree on the
// host, so that parallel runs on one repository never share a folder. The
// worktree of branch b lives at <project>/<dir>/<b> (dir defaults to
// .worktrees; a b with "/" makes nested folders), is made with
// `git worktree add` on first use and reused after.
//
// The mount contract. A worktree's .git is a file whose gitdir line names
// its own git dir, <common>/worktrees/<name>, by absolute host path; that
// dir names the common dir (objects, refs, config) relative to itself. A
// container that mounts Worktree.Path at /workspace must also mount
// Worktree.CommonDir read-write at the very same absolute path, so that
// git inside the container resolves the gitdir line, reads the objects and
// writes commits. This package makes sure the gitdir line is absolute and
// lies under CommonDir. The containers can then write the common dir, its
// config and hooks included: the git this package runs on the host never
// runs hooks or an fsmonitor.
//
// Errors that wrap ErrInvalidBranch, ErrRefused or ErrNotRepo read as one
// sentence a user may be shown; they name paths relative to the project.
// Other errors, git's own included, are for the log.
//
// The package runs the git binary, never a library, in a fixed
// environment. It imports only the standard library.
package gitwt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultDir is the folder of the worktrees, relative to the project.
const DefaultDir = ".worktrees"

// ErrNotRepo marks a project folder that is not the top of a git work tree.
// ErrRefused marks a request this package will not carry out as asked: a
// bad folder or base, a branch checked out elsewhere, a folder in the way.
var (
	ErrNotRepo = errors.New("not a git work tree")
	ErrRefused = errors.New("refused")
)

func refused(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRefused}, a...)...)
}

// Owner is a numeric owner given to what the package creates.
type Owner struct{ UID, GID int }

// Worktree is what a container needs to run in a branch's worktree.
type Worktree struct {
	Path      string // host path of the worktree, mounted at /workspace
	Branch    string // the branch checked out in it
	GitDir    string // the worktree's own git dir, absolute, under CommonDir
	CommonDir string // the repository's common git dir, absolute
	Created   bool   // made by this call, not reused
}

// Repo is the git repository of one project folder. It is safe for
// concurrent use; Worktree calls on one repository are serialized, across
// Repo values and processes too (see Worktree).
type Repo struct {
	top    string // the project folder, symlinks resolved
	common string // the common git dir, absolute
	owner  *Owner
	sem    chan struct{}
}

// Open opens the repository whose work tree is the folder project. It
// refuses, with ErrNotRepo, a folder that is not a work tree or that lies
// inside one without being its top. A non-nil owner gets the worktrees the
// Repo creates.
func Open(ctx context.Context, project string, owner *Owner) (*Repo, error) {
	real, err := filepath.EvalSymlinks(project)
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	out, err := run(ctx, owner, real, "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir")
	var ge *GitError
	if errors.As(err, &ge) && exitCode(ge.Err) == 128 && notRepo(ge.Stderr) {
		return nil, fmt.Errorf("open repository: %w: the project folder is not a git work tree", ErrNotRepo)
	}
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	top, common, ok := strings.Cut(out, "\n")
	if !ok {
		return nil, fmt.Errorf("open repository: git rev-parse said %q", out)
	}
	if !samePath(top, real) {
		return nil, fmt.Errorf("open repository: %w: the project folder is inside a git work tree, not at its top", ErrNotRepo)
	}
	return &Repo{top: top, common: filepath.Clean(common), owner: owner, sem: make(chan struct{}, 1)}, nil
}

// notRepo reports whether git's message says its folder is no work tree.
func notRepo(msg string) bool {
	return strings.Contains(msg, "not a git repository") || strings.Contains(msg, "must be run in a work tree")
}

// CommonDir is the repository's common git dir, absolute.
func (r *Repo) CommonDir() string { return r.common }

// Worktree returns the worktree of branch at <project>/<dir>/<branch>
// (dir "" is DefaultDir), making it when missing:
//   - from the local branch, when it exists;
//   - else from origin/<branch>, tracking it (nothing is fetched);
//   - else as a new branch from base when given (an error if it does not
//     resolve), else from the first of origin/HEAD, the project's current
//     branch, main and master that resolves.
//
// A worktree already registered at that folder on that branch is reused;
// a registration whose folder is gone is pruned and the worktree made
// again. The branch checked out elsewhere, or the folder taken by
// something else, is refused with ErrRefused; a bad name with
// ErrInvalidBranch. It adds /<dir>/ to the repository's info/exclude so
// the project's own status does not list the worktrees.
//
// Calls for one repository are serialized by the Repo and, across
// processes, by a lock file in the common dir. When a git command fails
// (another git, the user's or a container's, may hold one of git's own
// locks), the whole step is tried once more. ctx bounds the waits and
// every git run.
func (r *Repo) Worktree(ctx context.Context, dir, branch, base string) (Worktree, error) {
	if err := ValidBranch(branch); err != nil {
		return Worktree{}, err
	}
	dir, err := cleanDir(dir)
	if err != nil {
		return Worktree{}, err
	}
	if strings.HasPrefix(base, "-") {
		return Worktree{}, refused("the base %q starts with \"-\"", base)
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return Worktree{}, fmt.Errorf("worktree %s: %w", branch, err)
	}
	defer unlock()
	wt, err := r.ensure(ctx, dir, branch, base)
	var ge *GitError
	if errors.As(err, &ge) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		// Another git (the user's, a container's) may hold one of git's
		// own locks for a moment; try once more after it.
		if err := wait(ctx, 300*time.Millisecond); err != nil {
			return Worktree{}, err
		}
		wt, err = r.ensure(ctx, dir, branch, base)
	}
	if err == nil {
		err = r.exclude(dir)
	}
	if err != nil {
		return Worktree{}, fmt.Errorf("worktree %s: %w", branch, err)
	}
	return wt, nil
}

// cleanDir checks the worktrees folder dir: relative, inside the project,
// not the project itself nor in its .git.
func cleanDir(dir string) (string, error) {
	if dir == "" {
		return DefaultDir, nil
	}
	if path.IsAbs(dir) || filepath.IsAbs(dir) {
		return "", refused("the worktrees folder %s is absolute; give a folder inside the project", dir)
	}
	clean := path.Clean(filepath.ToSlash(dir))
	first, _, _ := strings.Cut(clean, "/")
	switch {
	case clean == "." || clean == "..":
		return "", refused("the worktrees folder %q must be a folder inside the project", dir)
	case first == "..":
		return "", refused("the worktrees folder %s leads out of the project", dir)
	case first == ".git":
		return "", refused("the worktrees folder %s is inside .git", dir)
	case strings.ContainsAny(clean, "\x00\n"):
		return "", refused("the worktrees folder %q holds a control character", dir)
	}
	return clean, nil
}

// wait waits d, or less when ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// lockFile is the lock, in the common dir, that serializes the worktree
// changes of processes. It is never removed: that would race with a
// process just opening it.
const lockFile = "untether-worktree.lock"

// lock takes the Repo's turn, then the lock file; unlock gives both back.
func (r *Repo) lock(ctx context.Context) (unlock func(), err error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f, err := os.OpenFile(filepath.Join(r.common, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		<-r.sem
		return nil, fmt.Errorf("lock the repository: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
			err = wait(ctx, 50*time.Millisecond)
		}
		if err != nil {
			f.Close()
			<-r.sem
			return nil, fmt.Errorf("lock the repository: %w", err)
		}
	}
	return func() {
		f.Close() // drops the flock
		<-r.sem
	}, nil
}

// exclude adds /<dir>/ to the common dir's info/exclude unless a line
// there already names it. The user's tracked .gitignore stays untouched.
func (r *Repo) exclude(dir string) error {
	name := filepath.Join(r.common, "info", "exclude")
	data, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read info/exclude: %w", err)
	}
	want := "/" + dir + "/"
	for l := range strings.SplitSeq(string(data), "\n") {
		if l = strings.TrimSpace(l); l == want || l == "/"+dir {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("add %s to info/exclude: %w", want, err)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("add %s to info/exclude: %w", want, err)
	}
	line := want + "\n"
	if len(data) > 0 && data[len(data)-1] != '\n' {
		line = "\n" + line
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("add %s to info/exclude: %w", want, err)
	}
	return nil
}
