package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVersionOrder(t *testing.T) {
	// Each is older than the next, as semver orders them: numeric
	// identifiers compare as numbers and before alphanumeric ones, a longer
	// pre-release after its prefix, a release after its pre-releases.
	ordered := []string{
		"0.9.0", "0.10.0", "1.0.0-0", "1.0.0-2", "1.0.0-10", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
		"1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0-rc.1.1", "1.0.0", "1.0.1",
		"1.1.0-RC.1", "1.1.0-rc.1", "1.1.0-rc.2", "1.1.0-rc.10", "1.1.0", "1.2.0", "1.10.0", "2.0.0",
	}
	for i := range ordered {
		for j := range ordered {
			a, err := parseVersion(ordered[i])
			if err != nil {
				t.Fatal(err)
			}
			b, _ := parseVersion(ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", a, b, got, want)
			}
			if got := newestFirst(a, b); got != -want {
				t.Errorf("newestFirst(%s, %s) = %d, want %d", a, b, got, -want)
			}
		}
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in, want string
		stable   bool
	}{
		{"1.2.3", "1.2.3", true},
		{"v1.2.3", "1.2.3", true},
		{"0.0.0", "0.0.0", true},
		{"1.2.0", "1.2.0", true},
		{"1.1.0-rc.1", "1.1.0-rc.1", false},
		{"v1.1.0-rc.1", "1.1.0-rc.1", false},
		{"1.2.3-0.3.7", "1.2.3-0.3.7", false},
		{"1.2.3-x-y.z", "1.2.3-x-y.z", false},
		{"1.2.3-rc.1-2", "1.2.3-rc.1-2", false},
		{"1.2.3--", "1.2.3--", false},
		{"18446744073709551615.0.0", "18446744073709551615.0.0", true},
	}
	for _, tt := range tests {
		v, err := parseVersion(tt.in)
		if err != nil || v.String() != tt.want || stable(v) != tt.stable {
			t.Errorf("parseVersion(%q) = %s (stable %v), %v; want %s (stable %v)", tt.in, v, stable(v), err, tt.want, tt.stable)
		}
	}
	bad := []string{
		"", "v", "vv1.2.3", "V1.2.3", "1", "1.2", "v1.2", "1.2.3.4", "1..3", "1.2.", ".1.2",
		"01.2.3", "1.02.3", "1.2.03", "1.2.-3", "-1.2.3", "+1.2.3",
		"1.2.3-", "1.2.3-rc..1", "1.2.3-rc.", "1.2.3-.rc", "1.2.3-01", "1.2.3-rc.01", "1.2.3-rc_1", "1.2.3-rc 1", "1.2.3-ü",
		"1.2.3+build", "1.2.3-rc.1+build", "1.2.3+", "1.2.3+a..b",
		"a.b.c", "1.2.x", "1.2.3 ", " 1.2.3", "dev", "latest",
		"99999999999999999999.0.0", "1.2.3-99999999999999999999",
	}
	for _, in := range bad {
		v, err := parseVersion(in)
		if err == nil {
			t.Errorf("parseVersion(%q) = %s, want an error", in, v)
			continue
		}
		if !errors.Is(err, errBadVersion) || !strings.Contains(err.Error(), fmt.Sprintf("%q is not a release version", in)) {
			t.Errorf("parseVersion(%q): error %q does not say what a release version is", in, err)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	code, out, _ := runCLI(t, "--version")
	if code != exitOK || strings.TrimSpace(out) != "untether version "+version {
		t.Fatalf("untether --version: exit %d, %q", code, out)
	}
}

// releaseVersions are built once, by `make release`, for the release tests.
var releaseVersions = []string{"1.0.0", "1.1.0-rc.1", "1.1.0"}

var (
	artifactsOnce sync.Once
	artifactsDir  string
	artifactsErr  error
)

// releaseArtifacts returns a directory that `make release` filled with a
// real build of each of releaseVersions and their SHA256SUMS.
func releaseArtifacts(t *testing.T) string {
	t.Helper()
	artifactsOnce.Do(func() {
		dir := filepath.Join(filepath.Dir(binPath), "release") // removed with binPath
		for _, v := range releaseVersions {
			start := time.Now()
			out, err := exec.Command("make", "-C", "../..", "release", "VERSION="+v, "RELEASE_DIR="+dir, "RELEASE_FLAGS=").CombinedOutput()
			if err != nil {
				artifactsErr = fmt.Errorf("make release VERSION=%s: %v\n%s", v, err, out)
				return
			}
			t.Logf("make release VERSION=%s: %v", v, time.Since(start).Round(time.Second))
		}
		artifactsDir = dir
	})
	if artifactsErr != nil {
		t.Fatal(artifactsErr)
	}
	return artifactsDir
}

// reportedVersion is what `bin --version` says.
func reportedVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	f := strings.Fields(string(out))
	return f[len(f)-1]
}

// releaseCLI runs `untether release ARGS` on a private releases dir and link.
type releaseCLI struct {
	t    *testing.T
	dir  string
	link string
}

func newReleaseCLI(t *testing.T) releaseCLI {
	root := t.TempDir()
	return releaseCLI{t: t, dir: filepath.Join(root, "releases"), link: filepath.Join(root, "bin", "untether")}
}

func (r releaseCLI) run(args ...string) (int, string) {
	r.t.Helper()
	code, out, errOut := runCLI(r.t, append(append([]string{"release"}, args...), "--releases", r.dir, "--link", r.link)...)
	return code, out + errOut
}

func (r releaseCLI) ok(args ...string) string {
	r.t.Helper()
	code, out := r.run(args...)
	if code != exitOK {
		r.t.Fatalf("release %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// TestReleaseWorkflow installs real builds, switches between them, and runs
// each as the staging daemon: healthcheck --version must name the version
// the daemon runs after every switch and restart.
func TestReleaseWorkflow(t *testing.T) {
	arts := releaseArtifacts(t)
	r := newReleaseCLI(t)
	w := newWorld(t, worldOptions{backend: "process"})
	srv := httptest.NewServer(http.FileServer(http.Dir(arts)))
	defer srv.Close()

	var d *daemon
	prev := ""
	switched := func(out, want string) {
		t.Helper()
		if !strings.Contains(out, "staging now runs "+want) || !strings.Contains(out, "systemctl --user restart untether\n") {
			t.Fatalf("switch to %s said:\n%s", want, out)
		}
		if got := reportedVersion(t, r.link); got != want {
			t.Fatalf("after the switch to %s, the link runs %s", want, got)
		}
		if d != nil {
			d.stop(t) // systemctl --user restart untether
		}
		d = w.startBinary(r.link)
		code, out, errOut := runCLI(t, "healthcheck", "--config", w.configPath, "--wait", "30s", "--version", want)
		if code != exitOK {
			t.Fatalf("healthcheck --version %s: exit %d: %s%s\ndaemon output:\n%s", want, code, out, errOut, d.out.String())
		}
		if prev != "" && prev != want {
			code, _, errOut := runCLI(t, "healthcheck", "--config", w.configPath, "--version", prev)
			if code != exitUnhealthy || !strings.Contains(errOut, "runs version "+want+", not "+prev) {
				t.Fatalf("healthcheck --version %s against %s: exit %d, %q", prev, want, code, errOut)
			}
		}
		prev = want
	}
	switched(r.ok("install", "1.0.0", "--from", arts), "1.0.0")
	switched(r.ok("install", "1.1.0-rc.1", "--from", arts), "1.1.0-rc.1")
	switched(r.ok("rollback"), "1.0.0")
	switched(r.ok("install", "1.1.0", "--from", srv.URL+"/"), "1.1.0")
	switched(r.ok("rollback"), "1.0.0")
	switched(r.ok("reset"), "1.1.0")

	code, out, _ := runCLI(t, "status", "--config", w.configPath)
	for _, want := range []string{"1.1.0\n", "(alive)", "0 in flight, 0 queued"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("status of the running release: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
	d.stop(t)
	if code, _, errOut := runCLI(t, "healthcheck", "--config", w.configPath); code != exitUnhealthy || !strings.Contains(errOut, "stopped at") {
		t.Errorf("healthcheck after the daemon stopped: exit %d, %q", code, errOut)
	}

	if out := r.ok("reset"); !strings.Contains(out, "already runs 1.1.0") {
		t.Errorf("reset at the newest stable release said:\n%s", out)
	}
	if out := r.ok("install", "1.1.0-rc.1"); !strings.Contains(out, "already installed") || reportedVersion(t, r.link) != "1.1.0-rc.1" {
		t.Errorf("install of an installed version without --from said:\n%s", out)
	}
	status := r.ok("status")
	for _, want := range []string{"current: 1.1.0-rc.1", "* 1.1.0-rc.1  pre-release", "1.1.0       stable", "1.0.0       stable"} {
		if !strings.Contains(status, want) {
			t.Errorf("release status lacks %q:\n%s", want, status)
		}
	}
	if strings.Index(status, "1.1.0 ") > strings.Index(status, "1.0.0") {
		t.Errorf("release status is not newest first:\n%s", status)
	}
	r.ok("rollback")
	if code, out := r.run("rollback"); code != exitFailure || !strings.Contains(out, "no stable release older than 1.0.0") {
		t.Errorf("rollback past the oldest: exit %d\n%s", code, out)
	}
}

func TestReleaseRefusals(t *testing.T) {
	arts := releaseArtifacts(t)
	r := newReleaseCLI(t)
	artifact := func(v string) string { return fmt.Sprintf("untether-%s-linux-%s", v, runtime.GOARCH) }
	good, err := os.ReadFile(filepath.Join(arts, artifact("1.0.0")))
	if err != nil {
		t.Fatal(err)
	}
	// source makes an artifact directory holding files, with a SHA256SUMS
	// of sums (name → content) unless sums is nil.
	source := func(files, sums map[string][]byte) string {
		dir := t.TempDir()
		var lines strings.Builder
		for name, data := range files {
			os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
		for name, data := range sums {
			h := sha256.Sum256(data)
			fmt.Fprintf(&lines, "%s  %s\n", hex.EncodeToString(h[:]), name)
		}
		if sums != nil {
			os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(lines.String()), 0o644)
		}
		return dir
	}
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)/2] ^= 0xff
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"not a version", []string{"install", "banana", "--from", arts}, exitConfig, `"banana" is not a release version: want X.Y.Z or X.Y.Z-rc.N`},
		{"unknown version", []string{"install", "9.9.9", "--from", arts}, exitFailure,
			"9.9.9 is not released there for linux/" + runtime.GOARCH + " (it has: 1.1.0, 1.1.0-rc.1, 1.0.0)"},
		{"bad checksum", []string{"install", "1.0.0", "--from", source(
			map[string][]byte{artifact("1.0.0"): tampered}, map[string][]byte{artifact("1.0.0"): good})},
			exitFailure, "checksum mismatch: " + artifact("1.0.0") + " has sha256"},
		{"no SHA256SUMS", []string{"install", "1.0.0", "--from", source(map[string][]byte{artifact("1.0.0"): good}, nil)},
			exitFailure, "no SHA256SUMS in"},
		{"artifact missing", []string{"install", "1.0.0", "--from", source(nil, map[string][]byte{artifact("1.0.0"): good})},
			exitFailure, "no " + artifact("1.0.0") + " in"},
		{"mislabelled", []string{"install", "2.0.0", "--from", source(
			map[string][]byte{artifact("2.0.0"): good}, map[string][]byte{artifact("2.0.0"): good})},
			exitFailure, `the artifact says it is "untether version 1.0.0", not 2.0.0`},
		{"rollback with nothing installed", []string{"rollback"}, exitFailure, "does not exist: install a release first"},
		{"reset with nothing installed", []string{"reset"}, exitFailure, "does not exist: install a release first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := r.run(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tt.code, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(r.dir); len(entries) != 0 {
		t.Errorf("refused installs left files behind: %v", entries)
	}
	if _, err := os.Lstat(r.link); !os.IsNotExist(err) {
		t.Errorf("refused installs made the link: %v", err)
	}

	// A build copied to the link path by hand is not replaced.
	os.MkdirAll(filepath.Dir(r.link), 0o755)
	os.WriteFile(r.link, []byte("hand-installed"), 0o755)
	if code, out := r.run("install", "1.0.0", "--from", arts); code != exitFailure || !strings.Contains(out, "is a file, not a release symlink") {
		t.Errorf("install over a regular file: exit %d\n%s", code, out)
	}
	if data, _ := os.ReadFile(r.link); string(data) != "hand-installed" {
		t.Errorf("the hand-installed file was replaced")
	}
}
