package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/amp"
	"github.com/untether-go/untether/engines/claude"
	"github.com/untether-go/untether/engines/codex"
	"github.com/untether-go/untether/engines/gemini"
	"github.com/untether-go/untether/engines/opencode"
	"github.com/untether-go/untether/engines/pi"
	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/orchestrator/ledger"
	"github.com/untether-go/untether/orchestrator/state"
	"github.com/untether-go/untether/orchestrator/telegram"
	"github.com/untether-go/untether/sandbox"
	"github.com/untether-go/untether/sandbox/podman"
	"github.com/untether-go/untether/sandbox/process"
)

type runOptions struct {
	configPath string
	logLevel   string
}

func (o *runOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.configPath, "config", "", "config file (default $"+config.EnvConfigPath+", else ~/.untether/untether.toml)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

func newRunCommand() *cobra.Command {
	var opts runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Start the bridge with the instance's config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRun(cmd.Context(), opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// availableEngines are the engines this build can run.
func availableEngines() map[string]engines.Engine {
	return map[string]engines.Engine{
		"claude":   claude.Engine{},
		"codex":    codex.Engine{},
		"opencode": opencode.Engine{},
		"pi":       pi.Engine{},
		"gemini":   gemini.Engine{},
		"amp":      amp.Engine{},
	}
}

func runRun(ctx context.Context, opts runOptions, stdout, stderr io.Writer) error {
	log, err := newLogger(opts.logLevel, stderr)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	cfg, err := loadConfig(opts.configPath, stdout)
	if err != nil {
		return err
	}
	log = log.With("instance", cfg.Instance)

	lock, err := state.AcquireLock(cfg.Path)
	if errors.Is(err, state.ErrLocked) {
		return &exitError{exitLocked, fmt.Errorf("untether: %w\nhint: stop the other daemon first, or give this one its own config with --config", err)}
	}
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	defer lock.Release()

	st, err := openStores(cfg.Dir, log)
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	defer st.ledger.Close()
	box, err := newBackend(cfg, log)
	if err != nil {
		return &exitError{exitConfig, err}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch {
	case box.pool != nil:
		defer box.pool.Close()
		if err := preflightHosts(ctx, box.pool, log); err != nil {
			return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
		}
	case box.podman != nil:
		if err := preflight(ctx, box.podman, cfg, log); err != nil {
			return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
		}
	default:
		log.Warn("sandbox = process: engines run UNSANDBOXED as plain processes, with no memory, pids or CPU limits")
	}

	notify := newNotifier(log, cfg.Telegram.PollTimeout)
	status := newStatusWriter(statusWriterOptions{
		Path: state.StatusPath(cfg.Dir), Version: version, Instance: cfg.Instance,
		ConfigPath: cfg.Path, PollTimeout: cfg.Telegram.PollTimeout, Logger: log,
	})
	defer status.Close()
	tg, username, err := connectTelegram(ctx, cfg, func() { notify.Polled(); status.Polled() }, log)
	if err != nil {
		return err
	}

	live := &liveOrchestrator{cfg: cfg}
	trig := newTriggers(live, log)
	defer trig.close()
	orch, err := startOrchestrator(ctx, cfg, tg, username, st, box, trig, log)
	if err != nil {
		return err
	}
	live.orch = orch
	if err := trig.apply(ctx, cfg); err != nil {
		orch.Close()
		box.close()
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	status.Start(ctx, live.Stats)
	registerCommands(ctx, tg, orch.Commands(), log)
	announceStart(ctx, tg, cfg, box.label, log)
	rl := &reloader{cfg: cfg, tg: tg, username: username, st: st, live: live, triggers: trig, log: log, box: box}
	err = serveWithStatus(ctx, tg, live, rl, notify, status, log)
	rl.box.close()
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	log.Info("stopped")
	return nil
}

// serveWithStatus serves (see serve) while sd_notify and the status file
// report on the bridge and rl reloads its config when it changes; the
// status file's last write says it stopped.
func serveWithStatus(ctx context.Context, tg *telegram.Client, live *liveOrchestrator, rl *reloader,
	notify *notifier, status *statusWriter, log *slog.Logger) error {
	var wg sync.WaitGroup
	statusCtx, stopStatus := context.WithCancel(context.WithoutCancel(ctx))
	reloadCtx, stopReload := context.WithCancel(context.WithoutCancel(ctx))
	reloaded := make(chan struct{})
	wg.Add(1)
	go func() { defer wg.Done(); notify.run(statusCtx, live.Stats) }()
	go func() { defer close(reloaded); rl.run(reloadCtx) }()
	err := serve(ctx, tg, live, func() {
		// No reload may swap the orchestrator while it drains, and no
		// trigger may start a run it would refuse.
		stopReload()
		<-reloaded
		rl.triggers.close()
		notify.Stopping()
		status.Draining()
	}, log)
	stopReload()
	<-reloaded
	stopStatus()
	wg.Wait()
	status.Close()
	return err
}

// connectTelegram makes the bot's client and checks its token (getMe); it
// returns the bot's username.
func connectTelegram(ctx context.Context, cfg *config.Config, onPolled func(), log *slog.Logger) (*telegram.Client, string, error) {
	tg, err := telegram.New(telegram.Options{
		Token:       cfg.Telegram.BotToken.Reveal(),
		APIURL:      cfg.Telegram.APIURL,
		PollTimeout: cfg.Telegram.PollTimeout,
		Logger:      log.With("component", "telegram"),
		OnPolled:    onPolled,
		NoDrafts:    !cfg.Telegram.Drafts,
	})
	if err != nil {
		return nil, "", &exitError{exitConfig, fmt.Errorf("untether: transports.telegram.bot_token: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	username, err := tg.CheckToken(ctx)
	if err != nil {
		return nil, "", &exitError{exitFailure, fmt.Errorf("untether: %w\nhint: check bot_token and api_url in %s", err, cfg.Path)}
	}
	return tg, username, nil
}

// stores are the instance's state files the orchestrator keeps.
type stores struct {
	sessions *state.Sessions
	chats    *state.Chats
	runs     *state.Records[orchestrator.RunRecord]
	// ledger is the cost ledger, shared by the orchestrators of reloaded
	// configs.
	ledger *ledger.Ledger
}

func openStores(dir string, log *slog.Logger) (stores, error) {
	var st stores
	var err error
	if st.sessions, err = state.OpenSessions(dir); err != nil {
		return st, err
	}
	if st.chats, err = state.OpenChats(dir); err != nil {
		return st, err
	}
	if st.runs, err = state.OpenRecords[orchestrator.RunRecord](dir, state.RunsFile); err != nil {
		return st, err
	}
	st.ledger, err = ledger.Open(ledger.Options{Dir: dir, Logger: log.With("component", "ledger")})
	return st, err
}

// serve polls Telegram until a signal ends ctx (or polling fails), then
// drains: the orchestrator stops its runs as the drain policy says while
// polling goes on, so that messages arriving meanwhile are answered
// "restarting"; then polling stops and the outbox delivers what is queued.
func serve(ctx context.Context, tg *telegram.Client, live *liveOrchestrator,
	stopping func(), log *slog.Logger) error {
	pollCtx, stopPoll := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPoll()
	polled := make(chan error, 1)
	offsets := state.NewOffset(live.config().Dir)
	go func() { polled <- tg.Poll(pollCtx, live, offsets) }()
	var pollErr error
	select {
	case <-ctx.Done():
	case pollErr = <-polled:
		polled = nil
	}
	stopping()
	orch, cfg := live.current(), live.config()
	running, queued := orch.Stats()
	log.Info("stopping: draining", "policy", cfg.Drain, "running", running, "queued", queued)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	orch.Drain(drainCtx)
	cancel()
	stopPoll()
	if polled != nil {
		pollErr = <-polled
	}
	orch.Close()
	flushCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tg.Close(flushCtx); err != nil {
		log.Warn("telegram writes left undelivered", "err", err)
	}
	return pollErr
}

// registerCommands sets the bot's command menu.
func registerCommands(ctx context.Context, tg *telegram.Client, cmds []orchestrator.Command, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := tg.SetCommands(ctx, cmds); err != nil {
		log.Warn("register the command menu", "err", err)
	}
}

// loadConfig reads the config, explaining what to do when it is missing or
// wrong. Every problem is printed, one per line.
func loadConfig(flag string, stdout io.Writer) (*config.Config, error) {
	home, _ := os.UserHomeDir()
	path, err := config.ResolvePath(flag, os.Getenv, home)
	if err != nil {
		return nil, &exitError{exitConfig, fmt.Errorf("untether: %w", err)}
	}
	cfg, err := config.Load(path, os.Getenv)
	if errors.Is(err, config.ErrNotFound) {
		printFirstSteps(stdout, path)
		return nil, &exitError{exitConfig, fmt.Errorf("untether: no config at %s", path)}
	}
	if err != nil {
		return nil, &exitError{exitConfig, err}
	}
	problems := cfg.CheckPaths()
	for name, e := range cfg.Engines {
		if eng, ok := availableEngines()[name]; ok {
			if err := eng.CheckExtraArgs(e.ExtraArgs); err != nil {
				problems = append(problems, config.Problem{Key: name + ".extra_args", Msg: err.Error()})
			}
		}
	}
	if len(problems) > 0 {
		return nil, &exitError{exitConfig, &config.Error{Path: cfg.Path, Problems: problems}}
	}
	return cfg, nil
}

func newSandbox(cfg *config.Config, log *slog.Logger) (*podman.Runner, error) {
	if cfg.Sandbox.Backend != config.BackendPodman {
		return nil, fmt.Errorf("%s: sandbox.backend is %q: this command needs the %q backend", cfg.Path, cfg.Sandbox.Backend, config.BackendPodman)
	}
	return podman.New(podman.Options{URL: cfg.Sandbox.PodmanURL, Logger: log.With("component", "podman"), Warm: cfg.Sandbox.Warm}), nil
}

// backend is the sandbox runs go to: Podman (podman is set), or plain
// processes (sandbox = "process", opt-in and unsandboxed).
type backend struct {
	runner orchestrator.Sandbox
	podman *podman.Runner
	// pool is set instead of podman when [sandbox.hosts] is configured.
	pool *podman.Pool
	// label is how the startup message and the log name it.
	label string
}

// close removes what the sandbox made ahead of runs (warm containers) and
// closes a pool's connections to its hosts.
func (b backend) close() {
	if b.podman != nil {
		b.podman.Close()
	}
	if b.pool != nil {
		b.pool.Close()
	}
}

func newBackend(cfg *config.Config, log *slog.Logger) (backend, error) {
	switch cfg.Sandbox.Backend {
	case config.BackendPodman:
		if len(cfg.Sandbox.Hosts) > 0 {
			pool, err := newPool(cfg, cfg.Dir, log)
			if err != nil {
				return backend{}, fmt.Errorf("%s: sandbox.hosts: %w", cfg.Path, err)
			}
			return backend{runner: pool, pool: pool, label: "podman on hosts " + strings.Join(pool.Names(), ", ")}, nil
		}
		p, err := newSandbox(cfg, log)
		return backend{runner: p, podman: p, label: "podman"}, err
	case config.BackendProcess:
		r := process.New(process.Options{HomeRoot: filepath.Join(cfg.Dir, "homes"), Logger: log.With("component", "process")})
		return backend{runner: r, label: "process (UNSANDBOXED: no container, no limits)"}, nil
	}
	return backend{}, fmt.Errorf("%s: sandbox.backend: %q is not supported", cfg.Path, cfg.Sandbox.Backend)
}

// preflight refuses to start a bridge whose sandbox cannot enforce its
// limits. A Podman that is down is only a warning: the bridge starts, and
// the runner checks the service again before the first run once it is back
// (and after every outage), refusing runs while limits cannot hold.
func preflight(ctx context.Context, box *podman.Runner, cfg *config.Config, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err := box.Verify(ctx)
	if errors.Is(err, sandbox.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		log.Warn("podman is not reachable; runs are refused until it is back and can enforce limits", "url", cfg.Sandbox.PodmanURL, "err", err)
		return nil
	}
	return err
}

func orchestratorOptions(cfg *config.Config, chat orchestrator.Chat, box orchestrator.Sandbox,
	sessions orchestrator.SessionStore, log *slog.Logger) orchestrator.Options {
	projects := make([]orchestrator.Project, 0, len(cfg.Projects))
	for _, p := range cfg.Projects {
		network := sandbox.NetworkDefault
		switch p.Network {
		case config.NetworkNone:
			network = sandbox.NetworkNone
		case config.NetworkHost:
			network = sandbox.NetworkHost
		}
		projects = append(projects, orchestrator.Project{
			Name: p.Name, Path: p.Path, ChatID: p.ChatID, TopicID: p.TopicID, DefaultEngine: p.DefaultEngine,
			Limits: sandbox.Limits{
				MemoryBytes: p.Sandbox.MemoryBytes, SwapBytes: p.Sandbox.SwapBytes,
				Pids: p.Sandbox.Pids, CPUs: p.Sandbox.CPUs, Timeout: p.Sandbox.Timeout,
			},
			Network:      network,
			Images:       p.Images,
			Approvals:    p.Approvals.On,
			PlanMode:     p.Approvals.PlanMode,
			WorktreesDir: p.WorktreesDir, WorktreeBase: p.WorktreeBase,
		})
		if len(cfg.Sandbox.Hosts) > 0 {
			projects[len(projects)-1].Hosts = cfg.HostsOf(p)
			projects[len(projects)-1].Remote = remoteProject(cfg, p)
		}
	}
	models := map[string]string{}
	extra := map[string][]string{}
	env := map[string]map[string]string{}
	for name, e := range cfg.Engines {
		models[name] = e.Model
		extra[name] = e.ExtraArgs
		if len(e.Env) > 0 {
			env[name] = map[string]string{}
			for k, v := range e.Env {
				env[name][k] = v.Reveal()
			}
		}
	}
	return orchestrator.Options{
		Instance:          cfg.Instance,
		Projects:          projects,
		DefaultEngine:     cfg.DefaultEngine,
		DefaultProject:    cfg.DefaultProject,
		AllowedUsers:      cfg.Telegram.AllowedUserIDs,
		SessionMode:       cfg.Telegram.SessionMode,
		ShowResumeLine:    cfg.Telegram.ShowResumeLine,
		Models:            models,
		ExtraArgs:         extra,
		EngineEnv:         env,
		StopGrace:         cfg.Sandbox.StopGrace,
		MaxConcurrentRuns: cfg.Sandbox.MaxConcurrentRuns,
		MissedAfter:       cfg.Telegram.MissedAfter,
		ApprovalTimeout:   cfg.Approvals.Timeout,
		StallAfter:        stallAfter(cfg.Sandbox.StallAfter),
		HideUsage:         !cfg.Sandbox.Footer,
		Files: orchestrator.FileOptions{
			Disabled: !cfg.Files.Enabled, UploadsDir: cfg.Files.UploadsDir, DenyGlobs: cfg.Files.DenyGlobs,
			MaxDownload: cfg.Files.MaxDownload, MaxUpload: cfg.Files.MaxUpload,
		},
		Drain:    cfg.Drain,
		Budgets:  budgetOptions(cfg.Budgets, log),
		Engines:  availableEngines(),
		Chat:     chat,
		Sandbox:  box,
		Sessions: sessions,
		Logger:   log.With("component", "orchestrator"),
	}
}

// budgetOptions are the orchestrator's Budgets of [budgets].
func budgetOptions(b config.Budgets, log *slog.Logger) orchestrator.Budgets {
	loc, err := time.LoadLocation(b.Timezone)
	if err != nil { // the config checked it: the zone database changed since
		log.Warn("budgets: unknown time zone, using UTC", "timezone", b.Timezone, "err", err)
		loc = time.UTC
	}
	out := orchestrator.Budgets{
		PerRun: b.PerRun, PerDay: b.PerDay, PerProjectDay: b.PerProjectDay, WarnAt: b.WarnAt, Location: loc,
	}
	if len(b.Prices) > 0 {
		out.Prices = make(map[string]orchestrator.Price, len(b.Prices))
		for model, p := range b.Prices {
			out.Prices[model] = orchestrator.Price{Input: p.Input, Output: p.Output, Cached: p.Cached}
		}
	}
	return out

}

// stallAfter maps the config's stall_after (0: never) to the
// orchestrator's (0: its default, negative: never).
func stallAfter(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// announceStart tells the configured chat which build and projects run.
func announceStart(ctx context.Context, chat orchestrator.Chat, cfg *config.Config, sandboxLabel string, log *slog.Logger) {
	if cfg.Telegram.ChatID == 0 {
		return
	}
	names := make([]string, 0, len(cfg.Projects))
	for _, p := range cfg.Projects {
		names = append(names, p.Name)
	}
	engineNames := make([]string, 0, 6)
	for n := range availableEngines() {
		engineNames = append(engineNames, n)
	}
	sort.Strings(engineNames)
	text := fmt.Sprintf("untether %s started · engines: %s · projects: %s · sandbox: %s", version,
		strings.Join(engineNames, ", "), strings.Join(names, ", "), sandboxLabel)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chat.Send(ctx, orchestrator.Outgoing{ChatID: cfg.Telegram.ChatID, Text: orchestrator.Text{S: text}}); err != nil {
		log.Warn("send startup message", "err", err)
	}
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("untether: --log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
