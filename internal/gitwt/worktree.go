package gitwt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// entry is a worktree as `git worktree list --porcelain` names it.
type entry struct {
	path   string
	branch string // full ref; "" when detached or bare
}

// list returns the worktrees registered in the repository, the project's
// own first.
func (r *Repo) list(ctx context.Context) ([]entry, error) {
	out, err := run(ctx, r.owner, r.top, "worktree", "list", "--porcelain")
	if err != nil {
		return nil, err
	}
	var es []entry
	for l := range strings.SplitSeq(out, "\n") {
		switch k, v, _ := strings.Cut(l, " "); k {
		case "worktree":
			es = append(es, entry{path: v})
		case "branch":
			if len(es) > 0 {
				es[len(es)-1].branch = v
			}
		}
	}
	return es, nil
}

// ensure is one try of Worktree, under the lock.
func (r *Repo) ensure(ctx context.Context, dir, branch, base string) (Worktree, error) {
	rel := filepath.Join(dir, filepath.FromSlash(branch))
	wtPath := filepath.Join(r.top, rel)
	ref := "refs/heads/" + branch
	es, err := r.list(ctx)
	if err != nil {
		return Worktree{}, err
	}
	if stale(es) {
		if _, err := run(ctx, r.owner, r.top, "worktree", "prune"); err != nil {
			return Worktree{}, err
		}
		if es, err = r.list(ctx); err != nil {
			return Worktree{}, err
		}
	}
	for _, e := range es {
		switch {
		case samePath(e.path, wtPath) && e.branch == ref:
			return r.describe(ctx, wtPath, branch)
		case samePath(e.path, wtPath) && e.branch == "":
			return Worktree{}, refused("the worktree %s has a detached HEAD, not branch %s", rel, branch)
		case samePath(e.path, wtPath):
			return Worktree{}, refused("the worktree %s is on branch %s, not %s", rel, strings.TrimPrefix(e.branch, "refs/heads/"), branch)
		case e.branch == ref && samePath(e.path, r.top):
			return Worktree{}, refused("branch %s is checked out in the project folder itself", branch)
		case e.branch == ref:
			where, err := filepath.Rel(r.top, e.path)
			if err != nil || strings.HasPrefix(where, "..") {
				return Worktree{}, refused("branch %s is checked out in a worktree outside the project", branch)
			}
			return Worktree{}, refused("branch %s is checked out in another worktree, %s", branch, where)
		}
	}
	if ents, err := os.ReadDir(wtPath); err == nil && len(ents) > 0 {
		return Worktree{}, refused("%s exists and is not a worktree of this repository", rel)
	} else if errors.Is(err, syscall.ENOTDIR) {
		return Worktree{}, refused("%s is a file in the way of the worktree", rel)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Worktree{}, fmt.Errorf("read %s: %w", rel, err)
	}
	return r.create(ctx, wtPath, branch, base)
}

// stale reports whether a linked worktree's folder is gone.
func stale(es []entry) bool {
	for _, e := range es[min(1, len(es)):] {
		if _, err := os.Lstat(e.path); errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

// create makes the worktree of branch at wtPath, which is missing or an
// empty folder, and gives what it made to the owner.
func (r *Repo) create(ctx context.Context, wtPath, branch, base string) (Worktree, error) {
	args := []string{"worktree", "add"}
	switch {
	case r.resolves(ctx, "refs/heads/"+branch):
		args = append(args, wtPath, branch)
	case r.resolves(ctx, "refs/remotes/origin/"+branch):
		args = append(args, "--track", "-b", branch, wtPath, "refs/remotes/origin/"+branch)
	default:
		start, err := r.start(ctx, base)
		if err != nil {
			return Worktree{}, err
		}
		args = append(args, "--no-track", "-b", branch, wtPath, start)
	}
	made := missing(r.top, wtPath)
	if _, err := run(ctx, r.owner, r.top, args...); err != nil {
		return Worktree{}, err
	}
	wt, err := r.describe(ctx, wtPath, branch)
	if err != nil {
		return Worktree{}, err
	}
	wt.Created = true
	if r.owner != nil {
		if err := r.chown(made, wt); err != nil {
			return Worktree{}, err
		}
	}
	return wt, nil
}

// resolves reports whether rev names a commit.
func (r *Repo) resolves(ctx context.Context, rev string) bool {
	_, err := run(ctx, r.owner, r.top, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	return err == nil
}

// start returns where a new branch starts: base when given, else the
// first of origin/HEAD, the current branch, main and master that resolves.
func (r *Repo) start(ctx context.Context, base string) (string, error) {
	if base != "" {
		if !r.resolves(ctx, base) {
			return "", refused("the base %s is not a branch or commit of the repository", base)
		}
		return base, nil
	}
	cands := []string{"refs/remotes/origin/HEAD"}
	if cur, err := run(ctx, r.owner, r.top, "symbolic-ref", "--quiet", "HEAD"); err == nil {
		cands = append(cands, cur)
	}
	cands = append(cands, "refs/heads/main", "refs/heads/master")
	for _, c := range cands {
		if r.resolves(ctx, c) {
			return c, nil
		}
	}
	return "", refused("the repository has no commit to start a branch from: no origin/HEAD, current branch, main or master")
}

// describe checks that wtPath really is this repository's worktree on
// branch, with an absolute gitdir line under the common dir, and says what
// a container needs of it.
func (r *Repo) describe(ctx context.Context, wtPath, branch string) (Worktree, error) {
	rel, _ := filepath.Rel(r.top, wtPath)
	data, err := os.ReadFile(filepath.Join(wtPath, ".git"))
	if err != nil {
		return Worktree{}, refused("%s is not a worktree: no .git file (%v)", rel, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	gitDir, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir: ")
	switch {
	case !ok:
		return Worktree{}, refused("%s is not a worktree: its .git file names no gitdir", rel)
	case !filepath.IsAbs(gitDir):
		return Worktree{}, refused("the worktree %s links its git dir by a relative path; run git worktree repair there with worktree.useRelativePaths off", rel)
	}
	gitDir = filepath.Clean(gitDir)
	common := filepath.Dir(filepath.Dir(gitDir))
	if filepath.Base(filepath.Dir(gitDir)) != "worktrees" || !samePath(common, r.common) {
		return Worktree{}, refused("%s is a worktree of another repository", rel)
	}
	out, err := run(ctx, r.owner, wtPath, "rev-parse", "--path-format=absolute", "--show-toplevel", "--symbolic-full-name", "HEAD")
	if err != nil {
		return Worktree{}, err
	}
	top, head, _ := strings.Cut(out, "\n")
	switch {
	case !samePath(top, wtPath):
		return Worktree{}, refused("%s is not the top of a worktree", rel)
	case head != "refs/heads/"+branch:
		return Worktree{}, refused("the worktree %s is not on branch %s", rel, branch)
	}
	return Worktree{Path: wtPath, Branch: branch, GitDir: gitDir, CommonDir: common}, nil
}

// samePath reports whether a and b name one file: equal once cleaned, or
// the same file on disk.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// missing returns the folders from just below top down to p that do not
// exist yet, the outermost first.
func missing(top, p string) []string {
	var ds []string
	for d := p; d != top && d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		ds = append([]string{d}, ds...)
	}
	return ds
}

// chown gives the owner the folders in made, the worktree and its git dir,
// all of them made by the worktree's creation.
func (r *Repo) chown(made []string, wt Worktree) error {
	for _, d := range made {
		if d == wt.Path {
			continue
		}
		if err := os.Lchown(d, r.owner.UID, r.owner.GID); err != nil {
			return fmt.Errorf("give the worktree to %d:%d: %w", r.owner.UID, r.owner.GID, err)
		}
	}
	for _, root := range []string{wt.Path, wt.GitDir} {
		err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, r.owner.UID, r.owner.GID)
		})
		if err != nil {
			return fmt.Errorf("give the worktree to %d:%d: %w", r.owner.UID, r.owner.GID, err)
		}
	}
	return nil
}
