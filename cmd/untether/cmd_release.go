package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/blang/semver/v4"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/untether-go/untether/internal/atomicfile"
)

// The staging instance runs a released build. Releases are installed side by
// side, one directory per version, and the binary the staging unit runs
// (ExecStart=%h/.local/bin/untether) is a symlink to one of them. Switching
// replaces the symlink atomically; the running daemon keeps its binary until
// it is restarted, so a switch never interrupts a run.

// Environment variables that stand in for the release flags.
const (
	envReleasesDir = "UNTETHER_RELEASES_DIR"
	envReleaseLink = "UNTETHER_RELEASE_LINK"
	envReleaseFrom = "UNTETHER_RELEASE_FROM"
)

// sumsFile lists the sha256 of every artifact, as sha256sum writes it.
const sumsFile = "SHA256SUMS"

type releaseOptions struct {
	dir  string
	link string
}

func (o *releaseOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.dir, "releases", "", "directory of the installed versions (default $"+envReleasesDir+", else ~/.local/share/untether/releases)")
	f.StringVar(&o.link, "link", "", "the symlink the staging unit runs (default $"+envReleaseLink+", else ~/.local/bin/untether)")
}

func newReleaseCommand() *cobra.Command {
	var opts releaseOptions
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Install released builds side by side and switch the staging instance between them",
	}
	opts.AddFlags(cmd.PersistentFlags())
	var from string
	install := &cobra.Command{
		Use:   "install VERSION",
		Short: "Fetch, verify and install VERSION (X.Y.Z or X.Y.Z-rc.N), then switch staging to it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReleaseInstall(cmd.Context(), opts, from, args[0], cmd.OutOrStdout())
		},
	}
	install.Flags().StringVar(&from, "from", "", "the `DIR|URL` (a directory or an http(s) URL) holding untether-VERSION-linux-"+runtime.GOARCH+
		" and "+sumsFile+" (default $"+envReleaseFrom+", else ./bin/release/VERSION, where make release writes it)")
	cmd.AddCommand(install,
		&cobra.Command{
			Use:   "rollback",
			Short: "Switch staging to the newest stable release older than the current one",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runReleaseRollback(opts, cmd.OutOrStdout())
			},
		},
		&cobra.Command{
			Use:   "reset",
			Short: "Switch staging to the newest stable release installed",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runReleaseReset(opts, cmd.OutOrStdout())
			},
		},
		&cobra.Command{
			Use:   "status",
			Short: "Show the current release and the installed ones",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runReleaseStatus(opts, cmd.OutOrStdout())
			},
		})
	return cmd
}

// releaseLayout is where releases live: dir/<version>/untether, and the
// link that points at the current one.
type releaseLayout struct {
	dir  string
	link string
}

func (o releaseOptions) layout() (releaseLayout, error) {
	l := releaseLayout{dir: o.dir, link: o.link}
	if l.dir == "" {
		l.dir = os.Getenv(envReleasesDir)
	}
	if l.link == "" {
		l.link = os.Getenv(envReleaseLink)
	}
	if l.dir == "" || l.link == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return l, &exitError{exitConfig, errors.New("untether: no home directory: pass --releases and --link")}
		}
		if l.dir == "" {
			l.dir = filepath.Join(home, ".local", "share", "untether", "releases")
		}
		if l.link == "" {
			l.link = filepath.Join(home, ".local", "bin", unitFor(false).Binary)
		}
	}
	var err error
	if l.dir, err = filepath.Abs(l.dir); err != nil {
		return l, &exitError{exitConfig, fmt.Errorf("untether: --releases: %w", err)}
	}
	if l.link, err = filepath.Abs(l.link); err != nil {
		return l, &exitError{exitConfig, fmt.Errorf("untether: --link: %w", err)}
	}
	return l, nil
}

func (l releaseLayout) binary(v semver.Version) string {
	return filepath.Join(l.dir, v.String(), "untether")
}

func (l releaseLayout) has(v semver.Version) bool {
	fi, err := os.Stat(l.binary(v))
	return err == nil && fi.Mode().IsRegular()
}

// installed lists the installed versions, newest first.
func (l releaseLayout) installed() ([]semver.Version, error) {
	entries, err := os.ReadDir(l.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	var out []semver.Version
	for _, e := range entries {
		if v, err := parseVersion(e.Name()); err == nil && e.IsDir() && v.String() == e.Name() && l.has(v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, newestFirst)
	return out, nil
}

// errNotReleaseLink: the link path holds something this command did not put
// there, such as a build copied in by hand.
var errNotReleaseLink = errors.New("not a release symlink")

// current returns the version the link points at; ok is false when there is
// no link yet.
func (l releaseLayout) current() (v semver.Version, ok bool, err error) {
	target, err := os.Readlink(l.link)
	if errors.Is(err, fs.ErrNotExist) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("%s: %w", l.link, errNotReleaseLink)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(l.link), target)
	}
	dir := filepath.Dir(target)
	v, perr := parseVersion(filepath.Base(dir))
	if perr != nil || filepath.Dir(dir) != l.dir || filepath.Base(target) != "untether" {
		return v, false, fmt.Errorf("%s points to %s, outside %s: %w", l.link, target, l.dir, errNotReleaseLink)
	}
	return v, true, nil
}

// switchTo points the link at version v, atomically: a new symlink renamed
// over the old one, so the unit never finds the link missing.
func (l releaseLayout) switchTo(v semver.Version) error {
	if err := l.checkLink(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(l.link), 0o755); err != nil {
		return fmt.Errorf("switch to %s: %w", v, err)
	}
	if err := atomicfile.Symlink(l.binary(v), l.link); err != nil {
		return fmt.Errorf("switch to %s: %w", v, err)
	}
	return nil
}

// checkLink refuses to replace anything at the link path but a symlink: a
// build copied there by hand is not this command's to delete.
func (l releaseLayout) checkLink() error {
	if fi, err := os.Lstat(l.link); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("%s is a file, not a release symlink: move it away (mv %s %s.old) and run this again", l.link, l.link, l.link)
	}
	return nil
}

// switchAndTell switches to v and says what to run next: the switch takes
// effect when the daemon restarts.
func (l releaseLayout) switchAndTell(v semver.Version, out io.Writer) error {
	prev, hadPrev, _ := l.current()
	if err := l.switchTo(v); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	was := ""
	if hadPrev && !prev.Equals(v) {
		was = fmt.Sprintf(" (was %s)", prev)
	}
	unit := unitFor(false)
	fmt.Fprintf(out, "staging now runs %s%s: %s -> %s\n", v, was, l.link, l.binary(v))
	fmt.Fprintf(out, "The running daemon keeps its version until it restarts:\n  systemctl --user restart %s\n", unit.Name)
	fmt.Fprintf(out, "then check it:\n  %s healthcheck --wait 60s --version %s\n", unit.Binary, v)
	return nil
}

func runReleaseInstall(ctx context.Context, opts releaseOptions, from, arg string, out io.Writer) error {
	l, err := opts.layout()
	if err != nil {
		return err
	}
	v, err := parseVersion(arg)
	if err != nil {
		return &exitError{exitConfig, fmt.Errorf("untether: release install: %w", err)}
	}
	if from == "" {
		from = os.Getenv(envReleaseFrom)
	}
	if err := l.checkLink(); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: release install %s: %w", v, err)}
	}
	if from == "" && l.has(v) {
		fmt.Fprintf(out, "%s is already installed in %s\n", v, filepath.Dir(l.binary(v)))
		return l.switchAndTell(v, out)
	}
	if from == "" {
		from = filepath.Join("bin", "release", v.String())
		if _, err := os.Stat(from); err != nil {
			return &exitError{exitConfig, fmt.Errorf("untether: release install %s: no --from, and no %s here\nhint: pass --from with the directory or URL holding %s and %s", v, from, artifactName(v), sumsFile)}
		}
	}
	if err := l.install(ctx, v, from); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: release install %s: %w", v, err)}
	}
	fmt.Fprintf(out, "installed %s from %s (sha256 verified)\n", v, from)
	return l.switchAndTell(v, out)
}

// artifactName is the file a release holds for this host's architecture.
func artifactName(v semver.Version) string {
	return fmt.Sprintf("untether-%s-linux-%s", v, runtime.GOARCH)
}

// install fetches v's artifact from src, checks it against src's
// SHA256SUMS and the version it reports, and moves it into place. Nothing
// is left behind when any step fails.
func (l releaseLayout) install(ctx context.Context, v semver.Version, src string) (err error) {
	name := artifactName(v)
	sums, err := readSums(ctx, src)
	if err != nil {
		return err
	}
	want, ok := sums[name]
	if !ok {
		return fmt.Errorf("%s/%s has no %s: %s is not released there for linux/%s (it has: %s)",
			src, sumsFile, name, v, runtime.GOARCH, listed(sums))
	}
	dir := filepath.Dir(l.binary(v))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(dir) // only if empty: it may hold v, installed before
		}
	}()
	f, err := atomicfile.Create(l.binary(v), 0o755)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fetchInto(ctx, src, name, f, want); err != nil {
		return err
	}
	if err := f.Seal(); err != nil {
		return err
	}
	if err := checkReportedVersion(ctx, f.Name(), v); err != nil {
		return err
	}
	return f.Commit()
}

// fetchInto copies src's artifact name into w and checks its sha256.
func fetchInto(ctx context.Context, src, name string, w io.Writer, want string) error {
	r, err := openArtifact(ctx, src, name)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
		return fmt.Errorf("fetch %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("checksum mismatch: %s has sha256 %s, %s says %s: refusing to install it", name, got, sumsFile, want)
	}
	return nil
}

// checkReportedVersion runs the new binary: it must start on this host and
// call itself v, or a mislabelled artifact would pass as v.
func checkReportedVersion(ctx context.Context, bin string, v semver.Version) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return fmt.Errorf("run the artifact's --version: %w", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 || strings.TrimPrefix(fields[len(fields)-1], "v") != v.String() {
		return fmt.Errorf("the artifact says it is %q, not %s: refusing to install it", strings.TrimSpace(string(out)), v)
	}
	return nil
}

// maxSumsSize bounds SHA256SUMS: it has a line per artifact.
const maxSumsSize = 1 << 20

// readSums reads src's SHA256SUMS: artifact name → lowercase hex sha256.
func readSums(ctx context.Context, src string) (map[string]string, error) {
	r, err := openArtifact(ctx, src, sumsFile)
	if err != nil {
		return nil, fmt.Errorf("%w: refusing artifacts that cannot be verified", err)
	}
	defer r.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(r, maxSumsSize))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || len(f[0]) != sha256.Size*2 {
			continue
		}
		if _, err := hex.DecodeString(f[0]); err != nil {
			continue
		}
		sums[path.Base(strings.TrimPrefix(f[1], "*"))] = strings.ToLower(f[0])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", sumsFile, err)
	}
	return sums, nil
}

// listed names the versions a SHA256SUMS holds for this architecture.
func listed(sums map[string]string) string {
	var vs []semver.Version
	suffix := "-linux-" + runtime.GOARCH
	for name := range sums {
		s, ok := strings.CutPrefix(name, "untether-")
		if !ok || !strings.HasSuffix(s, suffix) {
			continue
		}
		if v, err := parseVersion(strings.TrimSuffix(s, suffix)); err == nil {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return "nothing for this architecture"
	}
	slices.SortFunc(vs, newestFirst)
	return joinVersions(vs)
}

func joinVersions(vs []semver.Version) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, ", ")
}

// fetchTimeout bounds one download, so that a stalled server fails the
// install instead of hanging it.
const fetchTimeout = 15 * time.Minute

// openArtifact opens file name of a release source: a directory, or an
// http(s) URL of one.
func openArtifact(ctx context.Context, src, name string) (io.ReadCloser, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		f, err := os.Open(filepath.Join(src, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no %s in %s", name, src)
		}
		return f, err
	}
	u, err := url.JoinPath(src, name)
	if err != nil {
		return nil, fmt.Errorf("release URL %s: %w", src, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("release URL %s: %w", u, err)
	}
	resp, err := (&http.Client{Timeout: fetchTimeout}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("no %s at %s: %s", name, u, resp.Status)
	}
	return resp.Body, nil
}

func runReleaseRollback(opts releaseOptions, out io.Writer) error {
	l, cur, installed, err := releaseState(opts)
	if err != nil {
		return err
	}
	for _, v := range installed {
		if stable(v) && v.LT(cur) {
			return l.switchAndTell(v, out)
		}
	}
	return &exitError{exitFailure, fmt.Errorf("untether: release rollback: no stable release older than %s is installed (installed: %s)", cur, joinVersions(installed))}
}

func runReleaseReset(opts releaseOptions, out io.Writer) error {
	l, cur, installed, err := releaseState(opts)
	if err != nil {
		return err
	}
	for _, v := range installed {
		if !stable(v) {
			continue
		}
		if v.Equals(cur) {
			fmt.Fprintf(out, "staging already runs %s, the newest stable release installed\n", v)
			return nil
		}
		return l.switchAndTell(v, out)
	}
	return &exitError{exitFailure, fmt.Errorf("untether: release reset: no stable release is installed (installed: %s)", joinVersions(installed))}
}

// releaseState is what rollback and reset start from: a current release.
func releaseState(opts releaseOptions) (releaseLayout, semver.Version, []semver.Version, error) {
	l, err := opts.layout()
	if err != nil {
		return l, semver.Version{}, nil, err
	}
	cur, ok, err := l.current()
	if err == nil && !ok {
		err = fmt.Errorf("%s does not exist: install a release first", l.link)
	}
	if err != nil {
		return l, cur, nil, &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	installed, err := l.installed()
	if err != nil {
		return l, cur, nil, &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	return l, cur, installed, nil
}

func runReleaseStatus(opts releaseOptions, out io.Writer) error {
	l, err := opts.layout()
	if err != nil {
		return err
	}
	cur, ok, curErr := l.current()
	installed, err := l.installed()
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	switch {
	case curErr != nil:
		fmt.Fprintf(out, "current: none (%v)\n", curErr)
	case !ok:
		fmt.Fprintf(out, "current: none (%s does not exist)\n", l.link)
	default:
		fmt.Fprintf(out, "current: %s (%s -> %s)\n", cur, l.link, l.binary(cur))
	}
	if len(installed) == 0 {
		fmt.Fprintf(out, "installed: none in %s\n", l.dir)
		return nil
	}
	fmt.Fprintf(out, "installed in %s:\n", l.dir)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, v := range installed {
		mark, kind := " ", "pre-release"
		if ok && v.Equals(cur) {
			mark = "*"
		}
		if stable(v) {
			kind = "stable"
		}
		fmt.Fprintf(tw, "  %s %s\t%s\n", mark, v, kind)
	}
	return tw.Flush()
}

var errBadVersion = errors.New("want X.Y.Z or X.Y.Z-rc.N")

// parseVersion parses a release version: X.Y.Z with an optional
// pre-release such as -rc.1, as semver orders them; a leading "v" (a git
// tag) is dropped. Build metadata (+...) is refused: it has no order, and a
// release directory is named by its version.
func parseVersion(s string) (semver.Version, error) {
	v, err := semver.Parse(strings.TrimPrefix(s, "v"))
	if err != nil || len(v.Build) > 0 {
		return semver.Version{}, fmt.Errorf("%q is not a release version: %w", s, errBadVersion)
	}
	return v, nil
}

// stable reports whether v is a release rather than a pre-release.
func stable(v semver.Version) bool { return len(v.Pre) == 0 }

// newestFirst orders versions by semver precedence, newest first.
func newestFirst(a, b semver.Version) int { return b.Compare(a) }
