package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"time"
	_ "time/tzdata" // the crons' zones, whatever the host has

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/orchestrator/schedule"
	"github.com/untether-go/untether/orchestrator/webhook"
)

// scheduleFile keeps the pending /at timers and the crons' fired slots,
// beside the config.
const scheduleFile = "schedule.json"

// triggers start runs no message started: /at timers and crons (one
// orchestrator/schedule.Scheduler) and webhook calls (one
// orchestrator/webhook.Server). It is the orchestrator's Timers. apply
// puts a config's triggers in force, again after a reload; close stops
// them. Safe for concurrent use.
type triggers struct {
	live *liveOrchestrator
	log  *slog.Logger

	mu    sync.Mutex
	cfg   config.Triggers
	after time.Duration // missed_after, for the crons
	sched *schedule.Scheduler
	hooks *webhook.Server
	// served ends when the webhook server's goroutine has.
	served chan struct{}
}

var _ orchestrator.Timers = (*triggers)(nil)

func newTriggers(live *liveOrchestrator, log *slog.Logger) *triggers {
	return &triggers{live: live, log: log.With("component", "triggers")}
}

// apply starts cfg's scheduler and webhook listener, replacing those of
// an earlier config when they changed.
func (t *triggers) apply(ctx context.Context, cfg *config.Config) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	started := t.sched != nil
	if !started || !reflect.DeepEqual(t.cfg.Crons, cfg.Triggers.Crons) || t.after != cfg.Telegram.MissedAfter {
		if err := t.startScheduler(ctx, cfg); err != nil {
			return err
		}
	}
	if !started || t.cfg.Listen != cfg.Triggers.Listen || !reflect.DeepEqual(t.cfg.Webhooks, cfg.Triggers.Webhooks) {
		if err := t.startWebhooks(ctx, cfg); err != nil {
			return err
		}
	}
	t.cfg, t.after = cfg.Triggers, cfg.Telegram.MissedAfter
	return nil
}

func (t *triggers) startScheduler(ctx context.Context, cfg *config.Config) error {
	crons := make([]schedule.Cron, 0, len(cfg.Triggers.Crons))
	for _, c := range cfg.Triggers.Crons {
		crons = append(crons, schedule.Cron{
			ID: c.ID, Schedule: c.Schedule, Timezone: c.Timezone, Project: c.Project, Engine: c.Engine,
			Prompt: c.Prompt, ChatID: c.ChatID, TopicID: c.TopicID, RunOnce: c.RunOnce,
		})
	}
	s, err := schedule.New(schedule.Options{
		Path: filepath.Join(cfg.Dir, scheduleFile), Crons: crons, MissedAfter: cfg.Telegram.MissedAfter,
		Fire: t.fire, Log: t.log,
	})
	if err != nil {
		return fmt.Errorf("schedules: %w", err)
	}
	if t.sched != nil {
		t.sched.Close()
	}
	t.sched = s
	return s.Start(context.WithoutCancel(ctx))
}

// fire starts the run of a due timer or cron.
func (t *triggers) fire(d schedule.Due) {
	var tr orchestrator.Trigger
	switch {
	case d.Timer != nil:
		tm := d.Timer
		tr = orchestrator.Trigger{Kind: "at", ID: strconv.Itoa(tm.ID), Project: tm.Project, Engine: tm.Engine, Branch: tm.Branch,
			Prompt: tm.Prompt, ChatID: tm.ChatID, ThreadID: tm.ThreadID, UserID: tm.UserID, ReplyTo: tm.ReplyTo}
	case d.Cron != nil:
		c := d.Cron
		tr = orchestrator.Trigger{Kind: "cron", ID: c.ID, Project: c.Project, Engine: c.Engine, Prompt: c.Prompt,
			ChatID: c.ChatID, ThreadID: c.TopicID}
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := t.live.current().Trigger(ctx, tr); err != nil {
		t.log.Error("start a scheduled run", "kind", tr.Kind, "id", tr.ID, "err", err)
	}
}

func (t *triggers) startWebhooks(ctx context.Context, cfg *config.Config) error {
	t.stopWebhooks()
	if len(cfg.Triggers.Webhooks) == 0 {
		return nil
	}
	hooks := make([]webhook.Hook, 0, len(cfg.Triggers.Webhooks))
	for _, w := range cfg.Triggers.Webhooks {
		hooks = append(hooks, webhook.Hook{
			ID: w.ID, Path: w.Path, Secret: w.Secret.Reveal(), Auth: w.Auth, Project: w.Project, Engine: w.Engine,
			PromptTemplate: w.PromptTemplate, EventFilter: w.EventFilter,
		})
	}
	s, err := webhook.New(webhook.Options{
		Listen: cfg.Triggers.Listen, Hooks: hooks, Logger: t.log,
		Fire: func(ctx context.Context, c webhook.Call) error {
			return t.live.current().Trigger(ctx, orchestrator.Trigger{
				Kind: "webhook", ID: c.Hook, Project: c.Project, Engine: c.Engine, Prompt: c.Prompt,
			})
		},
	})
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	served, listening := make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(served)
		listening <- s.ListenAndServe(context.WithoutCancel(ctx))
	}()
	// A listener that cannot bind fails at once; give it that moment.
	select {
	case err := <-listening:
		if err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
	case <-time.After(200 * time.Millisecond):
	}
	t.hooks, t.served = s, served
	t.log.Info("webhooks listening", "listen", cfg.Triggers.Listen, "hooks", len(hooks))
	return nil
}

func (t *triggers) stopWebhooks() {
	if t.hooks == nil {
		return
	}
	t.hooks.Close()
	<-t.served
	t.hooks, t.served = nil, nil
}

// close stops the scheduler and the webhook listener and waits for them.
func (t *triggers) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sched != nil {
		t.sched.Close()
		t.sched = nil
	}
	t.stopWebhooks()
}

func (t *triggers) scheduler() (*schedule.Scheduler, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sched == nil {
		return nil, errors.New("the scheduler is not running")
	}
	return t.sched, nil
}

// Add implements orchestrator.Timers.
func (t *triggers) Add(tm orchestrator.Timer) (orchestrator.Timer, error) {
	s, err := t.scheduler()
	if err != nil {
		return tm, err
	}
	got, err := s.Add(schedule.Timer{
		ChatID: tm.ChatID, ThreadID: tm.ThreadID, UserID: tm.UserID, ReplyTo: tm.ReplyTo,
		Project: tm.Project, Engine: tm.Engine, Branch: tm.Branch, Prompt: tm.Prompt, Due: tm.Due, Created: tm.Created,
	})
	if err != nil {
		return tm, err
	}
	tm.ID = got.ID
	return tm, nil
}

// List implements orchestrator.Timers.
func (t *triggers) List(chatID, threadID int64) []orchestrator.Timer {
	s, err := t.scheduler()
	if err != nil {
		return nil
	}
	var out []orchestrator.Timer
	for _, tm := range s.List(chatID, threadID) {
		out = append(out, orchestrator.Timer{
			ID: tm.ID, ChatID: tm.ChatID, ThreadID: tm.ThreadID, UserID: tm.UserID, ReplyTo: tm.ReplyTo,
			Project: tm.Project, Engine: tm.Engine, Branch: tm.Branch, Prompt: tm.Prompt, Due: tm.Due, Created: tm.Created,
		})
	}
	return out
}

// CancelReply implements orchestrator.Timers.
func (t *triggers) CancelReply(chatID, messageID int64) (int, bool) {
	s, err := t.scheduler()
	if err != nil {
		return 0, false
	}
	tm, err := s.CancelByMessage(chatID, messageID)
	if err != nil && !errors.Is(err, schedule.ErrNotFound) {
		t.log.Error("cancel a timer", "chat", chatID, "message", messageID, "err", err)
	}
	return tm.ID, err == nil
}

// Cancel implements orchestrator.Timers.
func (t *triggers) Cancel(chatID, threadID int64, id int) bool {
	s, err := t.scheduler()
	if err != nil {
		return false
	}
	_, err = s.Cancel(chatID, threadID, id)
	if err != nil && !errors.Is(err, schedule.ErrNotFound) {
		t.log.Error("cancel a timer", "chat", chatID, "id", id, "err", err)
	}
	return err == nil
}
