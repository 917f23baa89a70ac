package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/untether-go/untether/internal/gitwt"
	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/sandbox"
)

// worktrees gives @branch runs their git worktree (internal/gitwt). Safe
// for concurrent use.
type worktrees struct {
	owner *gitwt.Owner
	log   *slog.Logger
	mu    sync.Mutex
	repos map[string]*gitwt.Repo // by project path
}

var _ orchestrator.Workspaces = (*worktrees)(nil)

func newWorktrees(owner *orchestrator.FileOwner, log *slog.Logger) *worktrees {
	w := &worktrees{repos: map[string]*gitwt.Repo{}, log: log.With("component", "worktrees")}
	if owner != nil {
		w.owner = &gitwt.Owner{UID: owner.UID, GID: owner.GID}
	}
	return w
}

// Worktree returns the worktree of branch in p: its folder is the run's
// /workspace, and the repository's common git dir is mounted read-write
// at its own path, where the worktree's .git file points.
func (w *worktrees) Worktree(ctx context.Context, p orchestrator.Project, branch string) (orchestrator.Workspace, error) {
	repo, err := w.repo(ctx, p.Path)
	if err != nil {
		return orchestrator.Workspace{}, w.userErr(p, branch, err)
	}
	dir := p.WorktreesDir
	if dir == "" {
		dir = gitwt.DefaultDir
	}
	wt, err := repo.Worktree(ctx, dir, branch, p.WorktreeBase)
	if err != nil {
		return orchestrator.Workspace{}, w.userErr(p, branch, err)
	}
	return orchestrator.Workspace{
		Path:   wt.Path,
		Mounts: []sandbox.Mount{{Source: wt.CommonDir, Target: wt.CommonDir}},
	}, nil
}

func (w *worktrees) repo(ctx context.Context, path string) (*gitwt.Repo, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.repos[path]; r != nil {
		return r, nil
	}
	r, err := gitwt.Open(ctx, path, w.owner)
	if err != nil {
		return nil, err
	}
	w.repos[path] = r
	return r, nil
}

// userErr keeps gitwt's sentences for users; the rest goes to the log.
func (w *worktrees) userErr(p orchestrator.Project, branch string, err error) error {
	if errors.Is(err, gitwt.ErrInvalidBranch) || errors.Is(err, gitwt.ErrNotRepo) || errors.Is(err, gitwt.ErrRefused) {
		return err
	}
	w.log.Error("git worktree", "project", p.Name, "branch", branch, "err", err)
	return errors.New("git failed (the bridge's log says why)")
}
