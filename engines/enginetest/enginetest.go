// Package enginetest owns the fake engines' side of the test harness: it
// builds the offline test image (images/testengine) that carries the fake
// CLIs of engines/enginetest/fakeengine, and reads the files a fake leaves in
// the project directory (the calls log and the probe report).
//
// Only tests import it. It imports the standard library only: it runs the go
// and podman commands, never a Podman API client, so importing it costs a
// test nothing.
package enginetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// DefaultTag is the test image's tag.
const DefaultTag = "localhost/untether-testengine:latest"

// HashLabel is the image label that holds the hash of the build context
// (the fake's binary, the names it is installed under, the Containerfile and
// the directory skeleton).
const HashLabel = "untether.testengine.hash"

// EngineNames returns the CLIs the test image answers as: the fake is
// installed as /usr/local/bin/<name> for each.
func EngineNames() []string {
	return []string{"claude", "codex", "opencode", "pi", "gemini", "amp"}
}

// StdinHelper is the live-stdin helper sandbox/podman wraps interactive
// runs in (`untether-stdin run FIFO -- ARGV...`, `untether-stdin write
// FIFO`); the fake answers to that name too, and the test image installs
// it as /usr/local/bin/untether-stdin.
const StdinHelper = "untether-stdin"

const (
	modulePath     = "github.com/untether-go/untether"
	fakePackage    = "./engines/enginetest/fakeengine"
	containerfile  = "images/testengine/Containerfile"
	hashBuildArg   = "UNTETHER_TESTENGINE_HASH"
	stderrTailSize = 2000
)

// skeletonDir is an empty directory of the image: scratch has no shell to
// create it, so the context carries it.
type skeletonDir struct {
	path string
	mode os.FileMode
}

// The home directory is open to any user: rootful Podman runs the image as
// root without capabilities, rootless Podman (--userns=keep-id) as the
// invoking user's uid, and a run's home volume is a copy of this directory,
// owner and mode included. The real images own it by their agent user instead.
func skeleton() []skeletonDir {
	return []skeletonDir{
		{"tmp", 0o777 | os.ModeSticky},
		{"home", 0o755},
		{"home/agent", 0o777},
		{"workspace", 0o755},
	}
}

// BuildImage builds the test image and tags it tag. It compiles the fake
// statically, assembles a build context in a temporary directory and runs
// `podman build` with env appended to the environment (tests pass
// CONTAINERS_CONF=...). When the image tagged tag already carries the
// context's hash in HashLabel it builds nothing, so repeated test runs are
// fast; an image it replaces is removed.
//
// It needs the go command and the module's source (it finds the module root
// from this file's location, else with `go env GOMOD`). It is safe for
// concurrent use, also across processes: builds take a lock file in
// os.TempDir. Errors name the failing step and end with the tail of the
// command's stderr.
func BuildImage(ctx context.Context, tag string, env []string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return fmt.Errorf("build test image %s: %w", tag, err)
	}
	work, err := os.MkdirTemp("", "untether-testengine-")
	if err != nil {
		return fmt.Errorf("build test image %s: %w", tag, err)
	}
	defer os.RemoveAll(work)
	contextDir := filepath.Join(work, "context")
	hash, err := assembleContext(ctx, root, contextDir)
	if err != nil {
		return fmt.Errorf("build test image %s: %w", tag, err)
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		return fmt.Errorf("build test image %s: podman is not installed (apt-get install podman runc): %w", tag, err)
	}

	unlock, err := lockBuild(ctx, tag)
	if err != nil {
		return fmt.Errorf("build test image %s: %w", tag, err)
	}
	defer unlock()

	oldID, oldHash := inspectImage(ctx, podman, env, tag)
	if oldHash == hash {
		return nil
	}
	iidFile := filepath.Join(work, "iid")
	_, err = runCommand(ctx, "", env, podman, "build",
		"--tag", tag,
		"--file", filepath.Join(contextDir, "Containerfile"),
		"--build-arg", hashBuildArg+"="+hash,
		"--layers=false",
		"--iidfile", iidFile,
		contextDir)
	if err != nil {
		return fmt.Errorf("build test image %s: podman build: %w", tag, err)
	}
	iid, err := os.ReadFile(iidFile)
	if err != nil {
		return fmt.Errorf("build test image %s: read image id: %w", tag, err)
	}
	if newID := strings.TrimPrefix(strings.TrimSpace(string(iid)), "sha256:"); oldID != "" && oldID != newID {
		// Best effort: the old image may still serve a container, or another tag.
		_, _ = runCommand(ctx, "", env, podman, "image", "rm", oldID)
	}
	return nil
}

// assembleContext builds the fake into dir, linked under each engine's name
// and StdinHelper, with the Containerfile and the skeleton, and returns the
// hash of it all.
func assembleContext(ctx context.Context, root, dir string) (string, error) {
	for _, d := range skeleton() {
		p := filepath.Join(dir, "rootfs", filepath.FromSlash(d.path))
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", fmt.Errorf("make context: %w", err)
		}
		// Chmod, not MkdirAll's mode: the umask must not apply, and only
		// Chmod sets the sticky bit.
		if err := os.Chmod(p, d.mode); err != nil {
			return "", fmt.Errorf("make context: %w", err)
		}
	}
	names := append(EngineNames(), StdinHelper)
	bin := filepath.Join(dir, "bin", names[0])
	_, err := runCommand(ctx, root, []string{"CGO_ENABLED=0", "GOOS=linux"},
		"go", "build", "-trimpath", "-buildvcs=false", "-o", bin, fakePackage)
	if err != nil {
		return "", fmt.Errorf("build fakeengine: %w", err)
	}
	// Hard links, since scratch has no shell to link with: copying the
	// directory keeps them, so the image holds the binary once.
	for _, name := range names[1:] {
		if err := os.Link(bin, filepath.Join(dir, "bin", name)); err != nil {
			return "", fmt.Errorf("make context: %w", err)
		}
	}
	cf, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(containerfile)))
	if err != nil {
		return "", fmt.Errorf("read Containerfile: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), cf, 0o644); err != nil {
		return "", fmt.Errorf("make context: %w", err)
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("hash fakeengine: %w", err)
	}
	h := sha256.New()
	for _, part := range [][]byte{binData, cf} {
		fmt.Fprintf(h, "%d\n", len(part))
		h.Write(part)
	}
	fmt.Fprintf(h, "names %s\n", strings.Join(names, " "))
	for _, d := range skeleton() {
		fmt.Fprintf(h, "%s %v\n", d.path, d.mode)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// inspectImage returns the id of the image tagged tag and its hash label,
// or empty strings when there is no such image.
func inspectImage(ctx context.Context, podman string, env []string, tag string) (id, hash string) {
	out, err := runCommand(ctx, "", env, podman, "image", "inspect",
		"--format", `{{.Id}} {{index .Labels "`+HashLabel+`"}}`, tag)
	if err != nil {
		return "", ""
	}
	id, hash, _ = strings.Cut(strings.TrimSpace(string(out)), " ")
	return id, hash
}

// lockBuild takes an exclusive lock for building tag, waiting as long as ctx
// allows. The returned function releases it.
func lockBuild(ctx context.Context, tag string) (unlock func(), err error) {
	f, err := os.OpenFile(lockPath(tag), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock build: %w", err)
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock build: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock build: wait for another build: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// lockPath is the lock file for building tag. It is left in place: removing
// a lock file another process may have open would let two builds run.
func lockPath(tag string) string {
	sum := sha256.Sum256([]byte(tag))
	return filepath.Join(os.TempDir(), "untether-testengine-"+hex.EncodeToString(sum[:8])+".lock")
}

// moduleRoot finds the directory of the module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	// Without -trimpath the compiler recorded this file's absolute path.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
			if isModuleRoot(filepath.Join(dir, "go.mod")) {
				return dir, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	out, err := runCommand(ctx, "", nil, "go", "env", "GOMOD")
	if err != nil {
		return "", fmt.Errorf("find module root: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if !isModuleRoot(gomod) {
		return "", fmt.Errorf("find module root: not inside module %s (go env GOMOD: %q)", modulePath, gomod)
	}
	return filepath.Dir(gomod), nil
}

// isModuleRoot reports whether gomod is the go.mod of this module.
func isModuleRoot(gomod string) bool {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == modulePath
		}
	}
	return false
}

// runCommand runs name in dir (the current directory when empty) with env
// appended to the environment and returns its stdout. Its error ends with
// the tail of stderr (of stdout when stderr is empty).
func runCommand(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		out := stderr.Bytes()
		if len(bytes.TrimSpace(out)) == 0 {
			out = stdout.Bytes()
		}
		return stdout.Bytes(), fmt.Errorf("%w\n%s", err, tail(out, stderrTailSize))
	}
	return stdout.Bytes(), nil
}

// tail returns about the last n bytes of out, from a line start.
func tail(out []byte, n int) string {
	out = bytes.TrimSpace(out)
	if len(out) > n {
		out = out[len(out)-n:]
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
		return "..." + "\n" + string(out)
	}
	return string(out)
}
