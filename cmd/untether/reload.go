package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/orchestrator/render"
	"github.com/untether-go/untether/orchestrator/telegram"
	"github.com/untether-go/untether/orchestrator/voice"
	"github.com/untether-go/untether/sandbox"
)

// startOrchestrator makes the orchestrator of cfg over the bridge's
// transport, stores and sandbox, and takes over the runs the state files
// record (restore, reattach, reconcile).
func startOrchestrator(ctx context.Context, cfg *config.Config, tg *telegram.Client, username string, st stores,
	box backend, timers orchestrator.Timers, log *slog.Logger) (*orchestrator.Orchestrator, error) {
	oopts := orchestratorOptions(cfg, tg, box.runner, st.sessions, log)
	oopts.Chats, oopts.Runs, oopts.Ledger = st.chats, st.runs, st.ledger
	oopts.Render = render.Markdown
	oopts.Version, oopts.BotUsername = version, username
	if box.pool != nil {
		oopts.Reattacher, oopts.Containers = box.pool, box.pool
	}
	if box.podman != nil || box.pool != nil {
		if box.podman != nil {
			oopts.Reattacher, oopts.Containers = box.podman, box.podman
			oopts.Usage = box.podman
			if cfg.Sandbox.Warm {
				oopts.Warmer = box.podman
			}
		}
		if os.Geteuid() == 0 {
			// Rootful Podman runs the agent as the images' user: what the
			// bridge writes into projects must be that user's.
			oopts.Files.Owner = &orchestrator.FileOwner{UID: sandbox.AgentUID, GID: sandbox.AgentGID}
		}
	}
	oopts.Workspaces = newWorktrees(oopts.Files.Owner, log)
	oopts.Timers = timers
	if cfg.Voice != nil {
		tr, err := voice.New(voice.Options{
			BaseURL: cfg.Voice.BaseURL, Model: cfg.Voice.Model, APIKey: cfg.Voice.APIKey.Reveal(),
			Language: cfg.Voice.Language, Timeout: cfg.Voice.Timeout,
		})
		if err != nil {
			return nil, &exitError{exitConfig, fmt.Errorf("untether: [voice]: %w", err)}
		}
		oopts.Transcriber = tr
		oopts.TranscriptPrefix, oopts.HideTranscript = cfg.Voice.TranscriptPrefix, !cfg.Voice.ShowTranscript
	}
	orch, err := orchestrator.New(oopts)
	if err != nil {
		return nil, &exitError{exitConfig, fmt.Errorf("untether: %w", err)}
	}
	taken := orch.Restore()
	orch.Reconcile(ctx, taken)
	orch.Warm(ctx)
	log.Info("untether started", "version", version, "bot", username, "config", cfg.Path,
		"projects", len(cfg.Projects), "sandbox", cfg.Sandbox.Backend, "restored_runs", len(taken))
	return orch, nil
}

// liveOrchestrator is the orchestrator of the config in force: Poll feeds
// it, and a reload replaces it. Safe for concurrent use.
type liveOrchestrator struct {
	mu   sync.RWMutex
	orch *orchestrator.Orchestrator
	cfg  *config.Config
}

// Handle passes m to the orchestrator in force; a reload waits for it.
func (l *liveOrchestrator) Handle(ctx context.Context, m orchestrator.Message) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	l.orch.Handle(ctx, m)
}

// Stats are the current orchestrator's.
func (l *liveOrchestrator) Stats() (running, queued int) { return l.current().Stats() }

func (l *liveOrchestrator) current() *orchestrator.Orchestrator {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.orch
}

func (l *liveOrchestrator) config() *config.Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// reloadEvery is how often the config file is looked at.
const reloadEvery = 2 * time.Second

// reloader reloads the config when its file changes or on SIGHUP: a valid
// config that changes nothing only a restart can change replaces the
// orchestrator in place. Its runs are detached and the new orchestrator
// reattaches to them, as across a restart, so nothing in flight is lost.
// A config with errors, or one that needs a restart, is refused: the old
// one stays, and the log and the chat say why.
type reloader struct {
	cfg      *config.Config // in force
	tg       *telegram.Client
	username string
	st       stores
	live     *liveOrchestrator
	triggers *triggers
	log      *slog.Logger
	// box is the sandbox in force; a reload closes the one it replaces
	// (a pool of hosts once its orchestrator handed over: the old pool
	// detached its runs, the new one carries them on).
	box backend
	// pending is set while a reload waits for runs to finish.
	pending bool
}

// fileStamp is what tells that a file changed.
type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// run watches the config until ctx ends; a reload under way finishes first.
func (r *reloader) run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(reloadEvery)
	defer tick.Stop()
	last := stampOf(r.cfg.Path)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.log.Info("SIGHUP: reloading the config")
		case <-tick.C:
			now := stampOf(r.cfg.Path)
			if now == last && !r.pending {
				continue
			}
			last = now
			r.log.Info("the config file changed: reloading it")
		}
		r.reload(ctx)
	}
}

// reload loads the config and puts it in force, or says why not.
func (r *reloader) reload(ctx context.Context) {
	next, err := loadConfig(r.cfg.Path, io.Discard)
	if err != nil {
		r.refuse(ctx, "⚠️ The config was not reloaded: it has errors; the running config stays.", err.Error())
		return
	}
	if keys := restartOnly(r.cfg, next); len(keys) > 0 {
		r.refuse(ctx, fmt.Sprintf("⚠️ The config was not reloaded: %s can only change with a restart (systemctl --user restart untether); the running config stays.",
			strings.Join(keys, ", ")), "")
		return
	}
	if reflect.DeepEqual(r.cfg, next) {
		return
	}
	if running, queued := r.live.Stats(); next.Sandbox.Backend != config.BackendPodman && running+queued > 0 {
		// Plain processes cannot outlive their orchestrator: wait for them.
		if !r.pending {
			r.log.Info("config reload waits for the runs in flight", "running", running, "queued", queued)
		}
		r.pending = true
		return
	}
	r.pending = false
	box, err := newBackend(next, r.log)
	if err != nil {
		r.refuse(ctx, "⚠️ The config was not reloaded: "+err.Error(), "")
		return
	}
	r.live.mu.Lock()
	// The old orchestrator's runs go on in their containers; the new one
	// reattaches to them.
	handCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.DrainTimeout)
	r.live.orch.Handover(handCtx)
	cancel()
	orch, err := startOrchestrator(context.WithoutCancel(ctx), next, r.tg, r.username, r.st, box, r.triggers, r.log)
	if err != nil {
		// The old config's orchestrator comes back.
		r.log.Error("reload: start the new orchestrator", "err", err)
		orch, err = startOrchestrator(context.WithoutCancel(ctx), r.cfg, r.tg, r.username, r.st, box, r.triggers, r.log)
		if err != nil {
			r.live.mu.Unlock()
			r.log.Error("reload: restart the old orchestrator", "err", err)
			box.close()
			return
		}
		next = r.cfg
	}
	r.live.orch, r.live.cfg = orch, next
	r.live.mu.Unlock()
	r.box.close()
	r.box = box
	r.cfg = next
	registerCommands(ctx, r.tg, orch.Commands(), r.log)
	if err := r.triggers.apply(ctx, next); err != nil {
		r.refuse(ctx, "⚠️ The config was reloaded, but its triggers could not start: "+err.Error(), "")
	}
	names := make([]string, 0, len(next.Projects))
	for _, p := range next.Projects {
		names = append(names, p.Name)
	}
	r.log.Info("config reloaded", "projects", len(next.Projects))
	r.say(ctx, "✅ Config reloaded · projects: "+strings.Join(names, ", "))
}

// refuse logs and says why a config was not put in force.
func (r *reloader) refuse(ctx context.Context, text, detail string) {
	r.log.Error("config not reloaded", "why", text, "problems", detail)
	if detail != "" {
		text += "\n" + detail
	}
	r.say(ctx, text)
}

// say writes to the bridge's own chat (transports.telegram.chat_id).
func (r *reloader) say(ctx context.Context, text string) {
	if r.cfg.Telegram.ChatID == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := r.tg.Send(ctx, orchestrator.Outgoing{ChatID: r.cfg.Telegram.ChatID, Text: orchestrator.Text{S: text}}); err != nil {
		r.log.Warn("send reload notice", "err", err)
	}
}

// restartOnly names the keys that differ between old and next and that
// only a restart can change: the bot, the instance and its state, the
// sandbox's backend and service.
func restartOnly(old, next *config.Config) []string {
	var keys []string
	diff := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, key)
		}
	}
	diff("instance", old.Instance, next.Instance)
	diff("transports.telegram.bot_token", old.Telegram.BotToken.Reveal(), next.Telegram.BotToken.Reveal())
	diff("transports.telegram.api_url", old.Telegram.APIURL, next.Telegram.APIURL)
	diff("transports.telegram.poll_timeout", old.Telegram.PollTimeout, next.Telegram.PollTimeout)
	diff("transports.telegram.drafts", old.Telegram.Drafts, next.Telegram.Drafts)
	diff("sandbox.backend", old.Sandbox.Backend, next.Sandbox.Backend)
	diff("sandbox.podman_url", old.Sandbox.PodmanURL, next.Sandbox.PodmanURL)
	// Runs left on a host taken out of the config would have no bridge.
	diff("sandbox.hosts", old.Sandbox.Hosts, next.Sandbox.Hosts)
	return keys
}
