package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/untether-go/untether/internal/atomicfile"
	"github.com/untether-go/untether/orchestrator/config"
)

// cgroup2Magic is CGROUP2_SUPER_MAGIC, the f_type of a cgroup v2 mount.
const cgroup2Magic = 0x63677270

// command runs a program with a timeout and returns its trimmed output.
func command(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// Never hand the service's notify socket on: a child would report as us.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "NOTIFY_SOCKET=") })
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// hostGap is one thing missing on this machine, and the command fixing it.
type hostGap struct {
	what, fix string
}

// hostGaps finds what rootless Podman with enforced limits still needs
// here: Podman itself, cgroup v2, delegated controllers, subordinate ids,
// the user's API socket, and a storage driver other than vfs.
func hostGaps(ctx context.Context, cgroupRoot string, uid int, username string) (ok []string, gaps []hostGap) {
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, []hostGap{{"Podman is not installed", "sudo apt-get install podman crun uidmap slirp4netns fuse-overlayfs"}}
	}
	if v, err := command(ctx, 30*time.Second, "podman", "--version"); err == nil {
		ok = append(ok, v)
	}
	if uid == 0 {
		ok = append(ok, "running as root: Podman runs rootful (the service install is for a user)")
		return ok, gaps
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(cgroupRoot, &st); err != nil || st.Type != cgroup2Magic {
		gaps = append(gaps, hostGap{"cgroup v2 is not in use: rootless Podman cannot enforce memory or pids limits on v1",
			"boot with systemd.unified_cgroup_hierarchy=1 (add it to GRUB_CMDLINE_LINUX in /etc/default/grub, then sudo update-grub and reboot)"})
	} else {
		ok = append(ok, "cgroup v2")
		ctl := filepath.Join(cgroupRoot, "user.slice", fmt.Sprintf("user-%d.slice", uid), fmt.Sprintf("user@%d.service", uid), "cgroup.controllers")
		data, err := os.ReadFile(ctl)
		have := strings.Fields(string(data))
		var missing []string
		for _, c := range []string{"memory", "pids", "cpu"} {
			if !slices.Contains(have, c) {
				missing = append(missing, c)
			}
		}
		switch {
		case err != nil:
			gaps = append(gaps, hostGap{"no systemd user manager found (" + ctl + "): limits need one",
				"log in through a session (ssh or a console), or: sudo loginctl enable-linger " + username})
		case len(missing) > 0:
			gaps = append(gaps, hostGap{"the " + strings.Join(missing, ", ") + " controller(s) are not delegated to your user: runs would have no such limits",
				"sudo mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf && sudo systemctl daemon-reload, then log out and in"})
		default:
			ok = append(ok, "controllers delegated to you: "+strings.Join(have, " "))
		}
	}
	if sub, err := os.ReadFile("/etc/subuid"); err == nil && hasSubIDs(string(sub), username, uid) {
		ok = append(ok, "subordinate user ids for "+username)
	} else {
		gaps = append(gaps, hostGap{"no subordinate ids for " + username + " in /etc/subuid: rootless containers cannot start",
			"sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 " + username})
	}
	if out, err := command(ctx, 15*time.Second, "systemctl", "--user", "is-enabled", "podman.socket"); err == nil && out == "enabled" {
		ok = append(ok, "podman.socket is enabled")
	} else {
		gaps = append(gaps, hostGap{"your Podman API socket is not enabled", "systemctl --user enable --now podman.socket"})
	}
	if drv, err := command(ctx, 60*time.Second, "podman", "info", "--format", "{{.Store.GraphDriverName}}"); err != nil {
		gaps = append(gaps, hostGap{"podman info fails: " + lastLine(drv), "podman info (and fix what it says)"})
	} else if drv == "vfs" {
		gaps = append(gaps, hostGap{"Podman stores images with vfs: slow, and each engine image takes its full size per layer",
			"mkdir -p ~/.config/containers && printf '[storage]\\ndriver = \"overlay\"\\n' > ~/.config/containers/storage.conf && podman system reset (removes your images)"})
	} else {
		ok = append(ok, "storage driver "+drv)
	}
	return ok, gaps
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// hasSubIDs reports whether an /etc/subuid text has a range for the user.
func hasSubIDs(text, name string, uid int) bool {
	for _, line := range strings.Split(text, "\n") {
		who, _, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (who == name || who == strconv.Itoa(uid)) {
			return true
		}
	}
	return false
}

// checkHost prints what is in place and, for each gap, the command that
// fills it. Gaps do not stop setup: they can be fixed in any order.
func checkHost(ctx context.Context, out io.Writer) {
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	ok, gaps := hostGaps(ctx, "/sys/fs/cgroup", os.Getuid(), name)
	for _, o := range ok {
		fmt.Fprintf(out, "ok    %s\n", o)
	}
	for _, g := range gaps {
		fmt.Fprintf(out, "TODO  %s\n      fix: %s\n", g.what, g.fix)
	}
}

// offerImage offers to build the default engine's image when it is missing.
func (s *setup) offerImage(ctx context.Context, cfgPath string) error {
	ref := s.opts.image
	if ref == "" {
		ref = "localhost/untether-" + s.opts.engine + ":latest"
	}
	if _, err := command(ctx, time.Minute, "podman", "image", "exists", ref); err == nil {
		fmt.Fprintf(s.out, "ok    image %s is present\n", ref)
		return nil
	}
	yes, err := s.confirm("build-image", fmt.Sprintf("The image %s is missing. Build it now (takes minutes, needs the network)?", ref), true)
	if err != nil || !yes {
		if err == nil {
			fmt.Fprintf(s.out, "TODO  build the image later: untether images build %s --config %s\n", s.opts.engine, cfgPath)
		}
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: find this program: %w", err)}
	}
	cmd := exec.CommandContext(ctx, self, "images", "build", s.opts.engine, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Run(); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: untether images build %s: %w", s.opts.engine, err)}
	}
	return nil
}

// offerService installs this program and the user unit, enables and starts
// the unit (which is active only once it polls Telegram) and turns on
// linger, so that it runs from boot.
func (s *setup) offerService(ctx context.Context, cfgPath string) error {
	if os.Getuid() == 0 {
		fmt.Fprintf(s.out, "Done. As root there is no user service: run untether run --config %s\n", cfgPath)
		return nil
	}
	dev := cfgPath == filepath.Join(s.home, ".untether-dev", "untether.toml")
	u := unitFor(dev)
	yes, err := s.confirm("service", "Install, enable and start the systemd user service "+u.File()+" now?", true)
	if err != nil {
		return err
	}
	if !yes {
		fmt.Fprintf(s.out, "\nDone. To start it by hand: untether run --config %s\nOr as a service: untether service install%s\n", cfgPath, u.Flag())
		return nil
	}
	if err := s.installBinary(u); err != nil {
		return err
	}
	if err := s.pointUnitAt(u, cfgPath); err != nil {
		return err
	}
	if err := runServiceInstall(serviceOptions{dev: dev}, io.Discard); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "ok    wrote ~/.config/systemd/user/%s\n", u.File())
	if out, err := command(ctx, time.Minute, "systemctl", "--user", "daemon-reload"); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: systemctl --user daemon-reload: %v: %s", err, out)}
	}
	fmt.Fprintf(s.out, "Starting %s (active once it polls Telegram)...\n", u.File())
	if out, err := command(ctx, 5*time.Minute, "systemctl", "--user", "enable", "--now", u.File()); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: systemctl --user enable --now %s: %v: %s\nhint: journalctl --user -u %s -n 50", u.File(), err, out, u.Name)}
	}
	state, _ := command(ctx, 15*time.Second, "systemctl", "--user", "is-active", u.File())
	if state != "active" {
		return &exitError{exitFailure, fmt.Errorf("untether setup: %s is %s, not active\nhint: journalctl --user -u %s -n 50", u.File(), state, u.Name)}
	}
	fmt.Fprintf(s.out, "ok    %s is active and enabled\n", u.File())
	s.linger(ctx)
	fmt.Fprintf(s.out, "\nDone. Write to your bot in Telegram. Its log: journalctl --user -u %s -f\n", u.Name)
	return nil
}

// installBinary puts this program where the unit runs it, unless a build
// is there already. A released build of the staging instance goes in as a
// release (a version directory and the symlink), so that `release install`
// and `rollback` can switch it later; any other build is copied.
func (s *setup) installBinary(u serviceUnit) error {
	dst := filepath.Join(s.home, ".local", "bin", u.Binary)
	if _, err := os.Lstat(dst); err == nil {
		fmt.Fprintf(s.out, "ok    %s is there (left as it is)\n", dst)
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: find this program: %w", err)}
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: read this program: %w", err)}
	}
	if v, verr := parseVersion(version); verr == nil && u.Binary == unitFor(false).Binary {
		l, err := releaseOptions{}.layout()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(l.binary(v)), 0o755); err != nil {
			return &exitError{exitFailure, fmt.Errorf("untether setup: %w", err)}
		}
		if err := atomicfile.WriteFile(l.binary(v), data, 0o755); err != nil {
			return &exitError{exitFailure, fmt.Errorf("untether setup: install release %s: %w", v, err)}
		}
		if err := l.switchTo(v); err != nil {
			return &exitError{exitFailure, fmt.Errorf("untether setup: %w", err)}
		}
		fmt.Fprintf(s.out, "ok    installed this program as release %s: %s -> %s\n", v, l.link, l.binary(v))
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: %w", err)}
	}
	if err := atomicfile.WriteFile(dst, data, 0o755); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: install %s: %w", dst, err)}
	}
	fmt.Fprintf(s.out, "ok    installed this program as %s\n", dst)
	return nil
}

// pointUnitAt makes the unit read cfgPath when it is not the unit's
// default, through UNTETHER_CONFIG_PATH in the unit's environment file.
func (s *setup) pointUnitAt(u serviceUnit, cfgPath string) error {
	if cfgPath == filepath.Join(s.home, u.StateDir, "untether.toml") {
		return nil
	}
	envPath := filepath.Join(s.home, u.StateDir, "untether.env")
	old, err := os.ReadFile(envPath)
	if err != nil && !os.IsNotExist(err) {
		return &exitError{exitFailure, fmt.Errorf("untether setup: %w", err)}
	}
	line := config.EnvConfigPath + "=" + cfgPath
	var kept []string
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, config.EnvConfigPath+"=") {
			kept = append(kept, l)
		}
	}
	kept = append(kept, line)
	if err := os.MkdirAll(filepath.Dir(envPath), 0o700); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: %w", err)}
	}
	if err := atomicfile.WriteFile(envPath, []byte(strings.Join(kept, "\n")+"\n"), 0o600); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: %w", err)}
	}
	fmt.Fprintf(s.out, "ok    %s: %s\n", envPath, line)
	return nil
}

// linger lets the user manager, and so the service, run without a login.
func (s *setup) linger(ctx context.Context) {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if _, err := os.Stat(filepath.Join("/var/lib/systemd/linger", name)); err == nil {
		fmt.Fprintf(s.out, "ok    linger is on for %s: the service starts at boot\n", name)
		return
	}
	if out, err := command(ctx, time.Minute, "loginctl", "enable-linger", name); err != nil {
		fmt.Fprintf(s.out, "TODO  turn on linger, so the service starts at boot without a login: sudo loginctl enable-linger %s (%s)\n", name, lastLine(out))
		return
	}
	fmt.Fprintf(s.out, "ok    linger turned on for %s: the service starts at boot\n", name)
}
