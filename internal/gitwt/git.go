package gitwt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// safeConfig is given to every git this package runs. The common dir is
// writable from the containers, so its hooks and fsmonitor are not the
// user's any more: git must not run them on the host. Links stay absolute
// whatever the user's config says, for the mount contract; git versions
// before worktree.useRelativePaths (2.48) ignore the key and write absolute
// links anyway.
var safeConfig = []string{
	"-c", "core.hooksPath=/dev/null",
	"-c", "core.fsmonitor=false",
	"-c", "worktree.useRelativePaths=false",
}

// gitEnv is the whole environment of the git this package runs: nothing
// of the daemon's GIT_* variables leaks in (GIT_DIR, GIT_WORK_TREE,
// GIT_INDEX_FILE would point git elsewhere), git never prompts, and its
// messages are in English so that they read the same in every log.
func gitEnv() []string {
	env := []string{"GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "LANGUAGE=C"}
	for _, k := range []string{"PATH", "HOME", "XDG_CONFIG_HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// ownerEnv keeps a git run as the owner off root's home and config, which
// it could not read: git then has no global config, as a fresh user.
func ownerEnv() []string {
	var env []string
	for _, kv := range gitEnv() {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME=/", "GIT_CONFIG_GLOBAL=/dev/null")
}

// GitError is a git command that failed: its subcommand and what it said.
type GitError struct {
	Args   []string // the arguments after the safe config
	Stderr string   // git's message, trimmed, at most a few lines joined by "; "
	Err    error    // the *exec.ExitError, or the context's error
}

func (e *GitError) Error() string {
	op := "git"
	if len(e.Args) > 0 {
		op += " " + e.Args[0]
		if len(e.Args) > 1 && !strings.HasPrefix(e.Args[1], "-") && e.Args[0] == "worktree" {
			op += " " + e.Args[1]
		}
	}
	if e.Stderr != "" {
		return op + ": " + e.Stderr
	}
	return op + ": " + e.Err.Error()
}

func (e *GitError) Unwrap() error { return e.Err }

// exitCode is the exit status of the git that failed with err, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// gitTimeout bounds one git run when the caller's ctx does not bound it
// sooner: the checkout of a large tree takes a while, a hung git forever.
const gitTimeout = 5 * time.Minute

// run runs git with args in dir and returns its standard output with the
// trailing newline trimmed. ctx bounds it; a cancelled ctx is returned as
// the GitError's Err.
func run(ctx context.Context, owner *Owner, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append(append([]string{}, safeConfig...), args...)...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	if owner != nil && os.Geteuid() == 0 {
		// As root, git runs as the owner: what it writes in the shared git
		// dir (refs, logs, objects) stays writable by the agent, and the
		// repository, the owner's, passes git's ownership check.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(owner.UID), Gid: uint32(owner.GID)}}
		cmd.Env = ownerEnv()
	}
	cmd.WaitDelay = 5 * time.Second // a filter git started may hold the pipes
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return strings.TrimRight(stdout.String(), "\n"), nil
	}
	if errors.Is(err, exec.ErrNotFound) {
		return "", fmt.Errorf("run git: git is not installed on the host: %w", err)
	}
	if cmd.SysProcAttr != nil && cmd.ProcessState == nil && errors.Is(err, os.ErrPermission) {
		return "", fmt.Errorf("%w: git runs as the agent's user (uid %d), which cannot reach the project folder", ErrRefused, owner.UID)
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return "", &GitError{Args: args, Stderr: message(stderr.String()), Err: err}
}

// message makes git's stderr an error message: its "fatal:" and "error:"
// lines without the prefix, or when it has none its other lines, at most
// three, hints and progress left out.
func message(stderr string) string {
	var errs, other []string
	for l := range strings.SplitSeq(stderr, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "hint:") || strings.HasPrefix(l, "Preparing worktree"):
		case strings.HasPrefix(l, "fatal: "):
			errs = append(errs, strings.TrimPrefix(l, "fatal: "))
		case strings.HasPrefix(l, "error: "):
			errs = append(errs, strings.TrimPrefix(l, "error: "))
		default:
			other = append(other, l)
		}
	}
	if len(errs) == 0 {
		errs = other
	}
	return strings.Join(errs[:min(len(errs), 3)], "; ")
}
