package gitwt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain gives git a home of its own, so that the host's config plays no
// part, and an identity for the commits the tests make.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "gitwt-home-")
	if err != nil {
		panic(err)
	}
	cfg := "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(cfg), 0o644); err != nil {
		panic(err)
	}
	os.Setenv("HOME", home)
	os.Unsetenv("XDG_CONFIG_HOME")
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// git runs git in dir for a test and returns its output, trimmed.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes name in dir and commits it.
func commit(t *testing.T, dir, name string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", name)
	git(t, dir, "commit", "-q", "-m", "add "+name)
	return git(t, dir, "rev-parse", "HEAD")
}

// newProject makes a repository with one commit on main (or on the branch
// given) and returns its folder.
func newProject(t *testing.T, branch string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "project")
	git(t, filepath.Dir(dir), "init", "-q", "-b", branch, dir)
	commit(t, dir, "README")
	return dir
}

// cloned makes an upstream with main and the branch remote/x, a bare
// "origin" cloned from it, and a project cloned from origin; it returns the
// project and the commits of origin's main and remote/x.
func cloned(t *testing.T) (project, mainSHA, remoteSHA string) {
	t.Helper()
	up := newProject(t, "main")
	mainSHA = git(t, up, "rev-parse", "HEAD")
	git(t, up, "checkout", "-q", "-b", "remote/x")
	remoteSHA = commit(t, up, "remote.txt")
	git(t, up, "checkout", "-q", "main")
	root := t.TempDir()
	git(t, root, "clone", "-q", "--bare", up, "origin.git")
	git(t, root, "clone", "-q", filepath.Join(root, "origin.git"), "project")
	return filepath.Join(root, "project"), mainSHA, remoteSHA
}

func open(t *testing.T, project string, owner *Owner) *Repo {
	t.Helper()
	r, err := Open(context.Background(), project, owner)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func worktree(t *testing.T, r *Repo, dir, branch, base string) Worktree {
	t.Helper()
	wt, err := r.Worktree(context.Background(), dir, branch, base)
	if err != nil {
		t.Fatal(err)
	}
	return wt
}

func TestLocalBranch(t *testing.T) {
	p := newProject(t, "main")
	git(t, p, "checkout", "-q", "-b", "feat")
	sha := commit(t, p, "feat.txt")
	git(t, p, "checkout", "-q", "main")
	wt := worktree(t, open(t, p, nil), "", "feat", "")
	if want := filepath.Join(realPath(t, p), ".worktrees", "feat"); wt.Path != want || !wt.Created || wt.Branch != "feat" {
		t.Fatalf("got %+v, want a new worktree at %s", wt, want)
	}
	if got := git(t, wt.Path, "rev-parse", "HEAD"); got != sha {
		t.Errorf("the worktree is at %s, want the local branch's %s", got, sha)
	}
	if _, err := os.Stat(filepath.Join(wt.Path, "feat.txt")); err != nil {
		t.Error(err)
	}
}

func TestOriginBranch(t *testing.T) {
	p, _, remoteSHA := cloned(t)
	wt := worktree(t, open(t, p, nil), "", "remote/x", "")
	if want := filepath.Join(realPath(t, p), ".worktrees", "remote", "x"); wt.Path != want {
		t.Fatalf("path %s, want %s", wt.Path, want)
	}
	if got := git(t, wt.Path, "rev-parse", "HEAD"); got != remoteSHA {
		t.Errorf("the worktree is at %s, want origin/remote/x's %s", got, remoteSHA)
	}
	if got := git(t, wt.Path, "rev-parse", "--abbrev-ref", "@{upstream}"); got != "origin/remote/x" {
		t.Errorf("upstream %s, want origin/remote/x", got)
	}
}

func TestNewBranch(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (project, base, wantSHA string)
	}{
		{"from base", func(t *testing.T) (string, string, string) {
			p := newProject(t, "main")
			git(t, p, "checkout", "-q", "-b", "dev")
			sha := commit(t, p, "dev.txt")
			git(t, p, "checkout", "-q", "main")
			commit(t, p, "main.txt")
			return p, "dev", sha
		}},
		{"from origin/HEAD", func(t *testing.T) (string, string, string) {
			p, mainSHA, _ := cloned(t)
			git(t, p, "checkout", "-q", "-b", "local")
			commit(t, p, "local.txt")
			return p, "", mainSHA
		}},
		{"from the current branch", func(t *testing.T) (string, string, string) {
			p := newProject(t, "trunk")
			return p, "", git(t, p, "rev-parse", "HEAD")
		}},
		{"from main when detached", func(t *testing.T) (string, string, string) {
			p := newProject(t, "main")
			sha := git(t, p, "rev-parse", "HEAD")
			commit(t, p, "more.txt")
			git(t, p, "checkout", "-q", "--detach", "HEAD")
			git(t, p, "branch", "-q", "-f", "main", sha)
			return p, "", sha
		}},
		{"from master", func(t *testing.T) (string, string, string) {
			p := newProject(t, "master")
			sha := git(t, p, "rev-parse", "HEAD")
			git(t, p, "checkout", "-q", "--detach", "HEAD")
			commit(t, p, "detached.txt")
			return p, "", sha
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, base, want := tt.setup(t)
			wt := worktree(t, open(t, p, nil), "", "new/branch", base)
			if got := git(t, wt.Path, "rev-parse", "HEAD"); got != want {
				t.Errorf("the new branch starts at %s, want %s", got, want)
			}
			if got := git(t, wt.Path, "symbolic-ref", "HEAD"); got != "refs/heads/new/branch" {
				t.Errorf("HEAD is %s", got)
			}
			cmd := exec.Command("git", "config", "branch.new/branch.remote")
			cmd.Dir, cmd.Env = p, gitEnv()
			if out, err := cmd.Output(); err == nil {
				t.Errorf("the new branch tracks %s; it should track nothing", out)
			}
		})
	}
}

func TestNoStart(t *testing.T) {
	p := newProject(t, "main")
	r := open(t, p, nil)
	_, err := r.Worktree(context.Background(), "", "x", "nope")
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "the base nope is not a branch or commit") {
		t.Errorf("a base that does not resolve: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	git(t, filepath.Dir(empty), "init", "-q", empty)
	_, err = open(t, empty, nil).Worktree(context.Background(), "", "x", "")
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no commit to start a branch from") {
		t.Errorf("a repository without commits: %v", err)
	}
}

func TestReuse(t *testing.T) {
	p := newProject(t, "main")
	r := open(t, p, nil)
	first := worktree(t, r, "", "feat", "")
	second := worktree(t, open(t, p, nil), "", "feat", "")
	if second.Created {
		t.Error("the second call created the worktree again")
	}
	first.Created = false
	if first != second {
		t.Errorf("second call %+v, first %+v", second, first)
	}
}

func TestStaleRegistration(t *testing.T) {
	p := newProject(t, "main")
	r := open(t, p, nil)
	wt := worktree(t, r, "", "feat", "")
	commit(t, wt.Path, "kept.txt")
	if err := os.RemoveAll(wt.Path); err != nil {
		t.Fatal(err)
	}
	again := worktree(t, r, "", "feat", "")
	if !again.Created || again.Path != wt.Path {
		t.Fatalf("got %+v after the folder was removed, want it made again at %s", again, wt.Path)
	}
	if _, err := os.Stat(filepath.Join(again.Path, "kept.txt")); err != nil {
		t.Errorf("the branch's commit is not checked out: %v", err)
	}
	if n := strings.Count(git(t, p, "worktree", "list", "--porcelain"), "\nworktree "); n != 1 {
		t.Errorf("%d linked worktrees registered, want 1", n)
	}
}

func TestGitFileIsAbsoluteUnderCommonDir(t *testing.T) {
	p := newProject(t, "main")
	wt := worktree(t, open(t, p, nil), "", "a/b/c", "")
	data, err := os.ReadFile(filepath.Join(wt.Path, ".git"))
	if err != nil {
		t.Fatal(err)
	}
	gitDir := strings.TrimPrefix(strings.TrimSpace(string(data)), "gitdir: ")
	if !filepath.IsAbs(gitDir) || gitDir != wt.GitDir {
		t.Errorf("the .git file names %q, want the absolute %q", gitDir, wt.GitDir)
	}
	if !strings.HasPrefix(wt.GitDir, wt.CommonDir+string(filepath.Separator)) {
		t.Errorf("GitDir %s is not under CommonDir %s", wt.GitDir, wt.CommonDir)
	}
	if want := git(t, p, "rev-parse", "--path-format=absolute", "--git-common-dir"); !samePath(wt.CommonDir, want) || !filepath.IsAbs(wt.CommonDir) {
		t.Errorf("CommonDir %s, want %s", wt.CommonDir, want)
	}
	rel, err := os.ReadFile(filepath.Join(wt.GitDir, "commondir"))
	if err != nil {
		t.Fatal(err)
	}
	if got := filepath.Join(wt.GitDir, strings.TrimSpace(string(rel))); got != wt.CommonDir {
		t.Errorf("the git dir's commondir leads to %s, want %s", got, wt.CommonDir)
	}
}

// TestRelativeGitFileRefused stands for a worktree made by a git told to
// link by relative paths: a container could not follow its .git file.
func TestRelativeGitFileRefused(t *testing.T) {
	p := newProject(t, "main")
	r := open(t, p, nil)
	wt := worktree(t, r, "", "feat", "")
	rel, err := filepath.Rel(wt.Path, wt.GitDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wt.Path, ".git"), []byte("gitdir: "+rel+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = r.Worktree(context.Background(), "", "feat", "")
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "links its git dir by a relative path") {
		t.Errorf("got %v, want a refusal of the relative link", err)
	}
}

func TestCommitInWorktree(t *testing.T) {
	p := newProject(t, "main")
	mainSHA := git(t, p, "rev-parse", "main")
	r := open(t, p, nil)
	a := worktree(t, r, "", "a", "")
	b := worktree(t, r, "", "b", "")
	shaA := commit(t, a.Path, "a.txt")
	shaB := commit(t, b.Path, "b.txt")
	if got := git(t, p, "rev-parse", "a"); got != shaA {
		t.Errorf("branch a is at %s, want the worktree's commit %s", got, shaA)
	}
	if got := git(t, p, "rev-parse", "b"); got != shaB {
		t.Errorf("branch b is at %s, want the worktree's commit %s", got, shaB)
	}
	if got := git(t, p, "rev-parse", "main"); got != mainSHA {
		t.Errorf("main moved to %s", got)
	}
	if log := git(t, a.Path, "log", "--oneline"); !strings.Contains(log, "add a.txt") || strings.Contains(log, "b.txt") {
		t.Errorf("git log in worktree a:\n%s", log)
	}
	if st := git(t, p, "status", "--porcelain"); st != "" {
		t.Errorf("the project's status lists the worktrees:\n%s", st)
	}
}

func TestExclude(t *testing.T) {
	p := newProject(t, "main")
	r := open(t, p, nil)
	worktree(t, r, "", "x", "")
	worktree(t, r, "", "y", "")
	worktree(t, r, "wt/sub/", "z", "")
	data, err := os.ReadFile(filepath.Join(r.CommonDir(), "info", "exclude"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n/.worktrees/\n"); n != 1 {
		t.Errorf("info/exclude names /.worktrees/ %d times:\n%s", n, data)
	}
	if !strings.HasSuffix(string(data), "\n/wt/sub/\n") {
		t.Errorf("info/exclude does not end with /wt/sub/:\n%s", data)
	}
	if st := git(t, p, "status", "--porcelain", "--ignored=no"); st != "" {
		t.Errorf("the project's status lists the worktrees:\n%s", st)
	}
}

func TestRefused(t *testing.T) {
	p := newProject(t, "main")
	r := open(t, p, nil)
	worktree(t, r, "", "feat", "")
	wt := worktree(t, r, "", "other", "")
	git(t, wt.Path, "checkout", "-q", "-b", "switched")
	det := worktree(t, r, "", "det", "")
	git(t, det.Path, "checkout", "-q", "--detach")
	if err := os.MkdirAll(filepath.Join(p, ".worktrees", "taken"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p, ".worktrees", "taken", "f"), nil, 0o644)
	os.WriteFile(filepath.Join(p, ".worktrees", "file"), nil, 0o644)
	tests := []struct {
		name, dir, branch, want string
		err                     error
	}{
		{"checked out in the project", "", "main", "branch main is checked out in the project folder itself", ErrRefused},
		{"checked out elsewhere", "other-dir", "feat", "branch feat is checked out in another worktree, .worktrees/feat", ErrRefused},
		{"switched away", "", "other", "the worktree .worktrees/other is on branch switched, not other", ErrRefused},
		{"detached", "", "det", "the worktree .worktrees/det has a detached HEAD, not branch det", ErrRefused},
		{"folder in the way", "", "taken", ".worktrees/taken exists and is not a worktree", ErrRefused},
		{"file in the way", "", "file/x", ".worktrees/file/x is a file in the way", ErrRefused},
		{"absolute dir", "/tmp/x", "y", "is absolute", ErrRefused},
		{"dir out", "../x", "y", "leads out of the project", ErrRefused},
		{"dir in .git", ".git/wt", "y", "is inside .git", ErrRefused},
		{"dir is the project", "./", "y", "must be a folder inside the project", ErrRefused},
		{"dots", "", "a..b", `"a..b" holds ".."`, ErrInvalidBranch},
		{"dash", "", "-f", `starts with "-"`, ErrInvalidBranch},
		{"slash", "", "/x", `starts with "/"`, ErrInvalidBranch},
		{"trailing slash", "", "x/", `ends with "/"`, ErrInvalidBranch},
		{"lock", "", "x.lock", `ends with ".lock"`, ErrInvalidBranch},
		{"empty", "", "", "is empty", ErrInvalidBranch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Worktree(context.Background(), tt.dir, tt.branch, "")
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %v saying %q", err, tt.err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(p, "other-dir")); err == nil {
		t.Error("a refused call left other-dir behind")
	}
	if data, _ := os.ReadFile(filepath.Join(r.CommonDir(), "info", "exclude")); strings.Contains(string(data), "other-dir") {
		t.Error("a refused call added its folder to info/exclude")
	}
}

func TestConcurrent(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprintf("shared repo %v", shared), func(t *testing.T) {
			p := newProject(t, "main")
			r := open(t, p, nil)
			var wg sync.WaitGroup
			wts := make([]Worktree, 8)
			errs := make([]error, 8)
			for i := range wts {
				wg.Go(func() {
					rr := r
					if !shared {
						var err error
						if rr, err = Open(context.Background(), p, nil); err != nil {
							errs[i] = err
							return
						}
					}
					wts[i], errs[i] = rr.Worktree(context.Background(), "", "same", "")
				})
			}
			wg.Wait()
			created := 0
			for i, wt := range wts {
				if errs[i] != nil {
					t.Fatalf("call %d: %v", i, errs[i])
				}
				if wt.Created {
					created++
				}
				if wt.Path != wts[0].Path || wt.GitDir != wts[0].GitDir {
					t.Errorf("call %d got %+v, call 0 %+v", i, wt, wts[0])
				}
			}
			if created != 1 {
				t.Errorf("%d calls created the worktree, want 1", created)
			}
			if n := strings.Count(git(t, p, "worktree", "list", "--porcelain"), "\nworktree "); n != 1 {
				t.Errorf("%d linked worktrees registered, want 1", n)
			}
		})
	}
}

// TestWaitsForAnotherProcess holds the lock file as another daemon would.
func TestWaitsForAnotherProcess(t *testing.T) {
	p := newProject(t, "main")
	r := open(t, p, nil)
	f, err := os.OpenFile(filepath.Join(r.CommonDir(), lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := r.Worktree(ctx, "", "feat", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with the lock held elsewhere: %v, want the deadline", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Worktree(context.Background(), "", "feat", "")
		done <- err
	}()
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if err := <-done; err != nil {
		t.Fatalf("after the lock was released: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	p := newProject(t, "main")
	os.Mkdir(filepath.Join(p, "sub"), 0o755)
	bare := filepath.Join(t.TempDir(), "bare.git")
	git(t, filepath.Dir(bare), "init", "-q", "--bare", bare)
	tests := []struct{ name, dir, want string }{
		{"plain folder", t.TempDir(), "the project folder is not a git work tree"},
		{"bare repository", bare, "the project folder is not a git work tree"},
		{"inside a work tree", filepath.Join(p, "sub"), "inside a git work tree, not at its top"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(context.Background(), tt.dir, nil)
			if !errors.Is(err, ErrNotRepo) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrNotRepo saying %q", err, tt.want)
			}
		})
	}
}

// TestEnvironmentDoesNotLeak runs with GIT_DIR and GIT_WORK_TREE set to
// elsewhere, as a daemon started from a git hook would be.
func TestEnvironmentDoesNotLeak(t *testing.T) {
	p := newProject(t, "main")
	other := newProject(t, "main")
	t.Setenv("GIT_DIR", filepath.Join(other, ".git"))
	t.Setenv("GIT_WORK_TREE", other)
	t.Setenv("GIT_INDEX_FILE", filepath.Join(other, "index"))
	wt := worktree(t, open(t, p, nil), "", "feat", "")
	if !strings.HasPrefix(wt.Path, realPath(t, p)) {
		t.Errorf("the worktree went to %s", wt.Path)
	}
}

func TestHooksDoNotRun(t *testing.T) {
	p := newProject(t, "main")
	mark := filepath.Join(t.TempDir(), "ran")
	hook := filepath.Join(p, ".git", "hooks", "post-checkout")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\ntouch "+mark+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	worktree(t, open(t, p, nil), "", "feat", "")
	if _, err := os.Stat(mark); err == nil {
		t.Error("the post-checkout hook ran on the host")
	}
}

func TestCancelled(t *testing.T) {
	p := newProject(t, "main")
	r := open(t, p, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Worktree(ctx, "", "feat", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running git as another user needs root")
	}
	p := newProject(t, "main")
	// The project is the owner's, as under rootful Podman the agent's, and
	// the owner can reach it.
	if out, err := exec.Command("chown", "-R", "1000:1000", p).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			os.Chmod(d, fi.Mode().Perm()|0o005)
		}
	}
	r := open(t, p, &Owner{UID: 1000, GID: 1000})
	wt := worktree(t, r, "", "deep/feat", "")
	var made []string
	for _, root := range []string{filepath.Join(p, ".worktrees"), wt.Path, wt.GitDir,
		filepath.Join(p, ".git", "refs", "heads", "deep"), filepath.Join(p, ".git", "logs", "refs", "heads", "deep")} {
		filepath.WalkDir(root, func(path string, _ os.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, path)
			return nil
		})
	}
	for _, path := range made {
		if uid, gid := owner(t, path); uid != 1000 || gid != 1000 {
			t.Errorf("%s is owned by %d:%d, want 1000:1000", path, uid, gid)
		}
	}
}

func owner(t *testing.T, path string) (uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
