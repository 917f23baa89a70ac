package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/orchestrator/state"
)

// Neither command parses the config: only its path matters, and the bot
// token it may need could live in the unit's environment file, which a shell
// does not have.

// instanceFlags pick the instance whose status file is read.
type instanceFlags struct {
	configPath string
	dev        bool
}

func (o *instanceFlags) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.configPath, "config", "", "config file (default $"+config.EnvConfigPath+", else ~/.untether/untether.toml)")
	f.BoolVar(&o.dev, "dev", false, "the dev instance: ~/.untether-dev/untether.toml, the config untether-dev.service runs")
}

// statusPath is the status file beside the instance's config, resolved as
// `untether run` resolves it; --dev stands for the dev unit's config path.
func (o instanceFlags) statusPath() (string, error) {
	home, _ := os.UserHomeDir()
	flag := o.configPath
	if o.dev {
		if flag != "" {
			return "", &exitError{exitConfig, errors.New("untether: --dev and --config both pick the instance: pass one of them")}
		}
		if home == "" {
			return "", &exitError{exitConfig, errors.New("untether: --dev: no home directory: pass --config")}
		}
		flag = filepath.Join(home, unitFor(true).StateDir, "untether.toml")
	}
	path, err := config.ResolvePath(flag, os.Getenv, home)
	if err != nil {
		return "", &exitError{exitConfig, fmt.Errorf("untether: %w", err)}
	}
	return state.StatusPath(filepath.Dir(path)), nil
}

// readStatus reads the status file, explaining a missing one.
func readStatus(path string) (state.Status, error) {
	s, err := state.ReadStatus(path)
	if errors.Is(err, state.ErrNoStatus) {
		return s, &exitError{exitUnhealthy, fmt.Errorf("untether: no status file at %s: no daemon has started with this config\nhint: pick the instance with --config or --dev", path)}
	}
	if err != nil {
		return s, &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	return s, nil
}

type statusOptions struct {
	instanceFlags
}

func newStatusCommand() *cobra.Command {
	var opts statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the instance's daemon reports: pid, version, uptime, last poll, runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(opts, cmd.OutOrStdout())
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runStatus(opts statusOptions, out io.Writer) error {
	path, err := opts.statusPath()
	if err != nil {
		return err
	}
	s, err := readStatus(path)
	if err != nil {
		return err
	}
	now := time.Now()
	alive := pidAlive(s.PID)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "instance\t%s\n", s.Instance)
	fmt.Fprintf(tw, "config\t%s\n", s.ConfigPath)
	fmt.Fprintf(tw, "version\t%s\n", s.Version)
	if alive {
		fmt.Fprintf(tw, "pid\t%d (alive)\n", s.PID)
	} else {
		fmt.Fprintf(tw, "pid\t%d (not running)\n", s.PID)
	}
	fmt.Fprintf(tw, "state\t%s\n", s.State)
	if alive && s.State != state.StateStopped {
		fmt.Fprintf(tw, "uptime\t%s (since %s)\n", age(now.Sub(s.Started)), s.Started.Local().Format(time.DateTime))
	} else {
		fmt.Fprintf(tw, "started\t%s\n", s.Started.Local().Format(time.DateTime))
	}
	switch {
	case s.LastPoll.IsZero():
		fmt.Fprintf(tw, "last poll\tnone yet\n")
	default:
		fmt.Fprintf(tw, "last poll\t%s ago\n", age(now.Sub(s.LastPoll)))
	}
	fmt.Fprintf(tw, "runs\t%d in flight, %d queued\n", s.Running, s.Queued)
	fmt.Fprintf(tw, "reported\t%s ago\n", age(now.Sub(s.Updated)))
	health := "ok"
	if err := checkHealth(s, alive, now, ""); err != nil {
		health = "NOT OK: " + err.Error()
	}
	fmt.Fprintf(tw, "health\t%s\n", health)
	return tw.Flush()
}

// age rounds a duration for people: to the second, or the minute past an hour.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d >= time.Hour {
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return d.Round(time.Second).String()
}

type healthcheckOptions struct {
	instanceFlags
	version string
	wait    time.Duration
}

func (o *healthcheckOptions) AddFlags(f *pflag.FlagSet) {
	o.instanceFlags.AddFlags(f)
	f.StringVar(&o.version, "version", "", "also require the daemon to run this version, e.g. after a release switch")
	f.DurationVar(&o.wait, "wait", 0, "keep checking until healthy or this long has passed, e.g. 60s after a restart")
}

func newHealthcheckCommand() *cobra.Command {
	var opts healthcheckOptions
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if the instance's daemon is alive, ready and polling Telegram (and runs --version)",
		Long: `Exit 0 if the instance's daemon is healthy: its pid is alive, it has not
stopped or begun to drain, its first getUpdates succeeded and its last one
is recent (within two poll timeouts plus ` + healthPollMargin.String() + `), and, with --version, it
runs that version. Otherwise print one line saying why and exit 4.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHealthcheck(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// healthWaitStep is how often --wait checks again.
const healthWaitStep = 250 * time.Millisecond

func runHealthcheck(ctx context.Context, opts healthcheckOptions, out io.Writer) error {
	path, err := opts.statusPath()
	if err != nil {
		return err
	}
	want := ""
	if opts.version != "" {
		want = strings.TrimPrefix(opts.version, "v")
	}
	ctx, cancel := context.WithTimeout(ctx, opts.wait)
	defer cancel()
	t := time.NewTicker(healthWaitStep)
	defer t.Stop()
	for {
		s, err := readStatus(path)
		if err == nil {
			err = checkHealth(s, pidAlive(s.PID), time.Now(), want)
			if err == nil {
				fmt.Fprintf(out, "ok: %s runs %s (pid %d), up %s, last poll %s ago\n", s.Instance, s.Version,
					s.PID, age(time.Since(s.Started)), age(time.Since(s.LastPoll)))
				return nil
			}
			err = &exitError{exitUnhealthy, fmt.Errorf("untether: %s is not healthy: %w", s.Instance, err)}
		}
		select {
		case <-ctx.Done():
			return err
		case <-t.C:
		}
	}
}

// Health thresholds. A daemon long-polls getUpdates with its poll timeout,
// so a healthy one succeeds at least once per poll timeout; the margin
// covers its status file's write interval and a slow Telegram.
const (
	healthPollMargin = 30 * time.Second
	// healthDefaultPollTimeout is assumed when the status file does not
	// say: the config's default poll_timeout.
	healthDefaultPollTimeout = 30 * time.Second
)

// maxPollAge is how long ago the last successful getUpdates may be.
func maxPollAge(pollTimeout time.Duration) time.Duration {
	if pollTimeout <= 0 {
		pollTimeout = healthDefaultPollTimeout
	}
	return 2*pollTimeout + healthPollMargin
}

// checkHealth says in one line why the daemon that wrote s is not healthy,
// or returns nil. alive tells whether s.PID is running; wantVersion, when
// set, is the version it must run.
func checkHealth(s state.Status, alive bool, now time.Time, wantVersion string) error {
	switch {
	case s.State == state.StateStopped:
		return fmt.Errorf("the daemon (pid %d) stopped at %s", s.PID, s.Updated.Local().Format(time.DateTime))
	case !alive:
		return fmt.Errorf("pid %d is not running: the daemon died without stopping cleanly", s.PID)
	case wantVersion != "" && s.Version != wantVersion:
		return fmt.Errorf("it runs version %s, not %s: restart it to run the installed release", s.Version, wantVersion)
	case s.State == state.StateDraining:
		return errors.New("it is draining: stopping after its runs finish")
	case !s.Ready:
		return fmt.Errorf("not ready: no getUpdates has succeeded since it started %s ago", age(now.Sub(s.Started)))
	}
	if limit := maxPollAge(s.PollTimeout); now.Sub(s.LastPoll) > limit {
		return fmt.Errorf("its last successful getUpdates was %s ago (limit %s): Telegram unreachable, or the poll loop stuck", age(now.Sub(s.LastPoll)), limit)
	}
	return nil
}

// pidAlive tells whether a process with this pid exists. EPERM means it
// does, under another user.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
