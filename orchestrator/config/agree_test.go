package config_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	_ "time/tzdata" // the zones of the test, whatever the host has

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/orchestrator/schedule"
	"github.com/untether-go/untether/orchestrator/voice"
	"github.com/untether-go/untether/orchestrator/webhook"
)

// The package imports nothing of the module, so it repeats the defaults of
// the packages its sections configure; they must agree.
func TestDefaultsAgree(t *testing.T) {
	if got, want := config.DefaultDenyGlobs(), orchestrator.DefaultDenyGlobs; !slices.Equal(got, want) {
		t.Errorf("DefaultDenyGlobs() = %q, orchestrator's %q", got, want)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"BotAPIMaxDownload", config.BotAPIMaxDownload, orchestrator.BotAPIMaxDownload},
		{"BotAPIMaxUpload", config.BotAPIMaxUpload, orchestrator.BotAPIMaxUpload},
		{"LocalBotAPIMax", config.LocalBotAPIMax, orchestrator.LocalBotAPIMax},
		{"DefaultVoiceTimeout", int64(config.DefaultVoiceTimeout), int64(voice.DefaultTimeout)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if config.DefaultVoiceModel != voice.DefaultModel {
		t.Errorf("DefaultVoiceModel = %q, voice's %q", config.DefaultVoiceModel, voice.DefaultModel)
	}
}

// The webhooks a config accepts, package webhook accepts too.
func TestWebhooksAgree(t *testing.T) {
	if config.WebhookAuthHMAC != webhook.AuthHMACSHA256 || config.WebhookAuthBearer != webhook.AuthBearer {
		t.Errorf("auth values %q, %q; webhook's %q, %q",
			config.WebhookAuthHMAC, config.WebhookAuthBearer, webhook.AuthHMACSHA256, webhook.AuthBearer)
	}
	data, err := os.ReadFile("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(data, "/home/u/.untether/untether.toml", func(k string) string { return map[string]string{"HOME": "/home/u"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	var hooks []webhook.Hook
	for _, w := range c.Triggers.Webhooks {
		hooks = append(hooks, webhook.Hook{
			ID: w.ID, Path: w.Path, Secret: w.Secret.Reveal(), Auth: w.Auth, Project: w.Project, Engine: w.Engine,
			PromptTemplate: w.PromptTemplate, EventFilter: w.EventFilter,
		})
	}
	if len(hooks) == 0 {
		t.Fatal("full.toml has no webhooks")
	}
	fire := func(context.Context, webhook.Call) error { return nil }
	if _, err := webhook.New(webhook.Options{Listen: c.Triggers.Listen, Hooks: hooks, Fire: fire}); err != nil {
		t.Errorf("webhook.New refuses full.toml's webhooks: %v", err)
	}
}

// The package checks cron schedules and zones by hand; whatever it accepts,
// orchestrator/schedule (robfig/cron's parser) must accept too. It may be
// stricter.
func TestCronSchedulesAgree(t *testing.T) {
	const base = "[transports.telegram]\nbot_token = '123:abcdef'\nallowed_user_ids = [1]\n" +
		"[projects.web]\npath = '/w'\nchat_id = -1\n[[triggers.crons]]\nid = 'c'\nproject = 'web'\nprompt = 'p'\n"
	for _, tt := range []struct {
		schedule, timezone string
		configOK           bool
	}{
		{"* * * * *", "", true},
		{"0 9 * * 1-5", "Europe/Berlin", true},
		{"*/15 0-6,22,23 1,15 */3 mon-fri", "America/New_York", true},
		{"0-30/10 9 ? JAN-jun SUN", "UTC", true},
		{"5/15 * * * *", "Asia/Kolkata", true},
		{"59 23 31 12 6", "", true},
		{"0 9 * * 7", "", false},
		{"60 * * * *", "", false},
		{"0 24 * * *", "", false},
		{"0 0 0 * *", "", false},
		{"0 0 * 13 *", "", false},
		{"0 9 * * mon-sun", "", false},
		{"*/0 * * * *", "", false},
		{"0 9 * *", "", false},
		{"0 0 9 * * *", "", false},
		{"@daily", "", false},
		{"CRON_TZ=UTC 0 9 * * *", "", false},
		{"", "", false},
		{"* * * * *", "Local", false},
		{"* * * * *", "Europe/Berln", false},
	} {
		t.Run(fmt.Sprintf("%s in %s", tt.schedule, tt.timezone), func(t *testing.T) {
			data := base + fmt.Sprintf("schedule = %q\n", tt.schedule)
			if tt.timezone != "" {
				data += fmt.Sprintf("timezone = %q\n", tt.timezone)
			}
			c, err := config.Parse([]byte(data), "/etc/untether/untether.toml", func(string) string { return "" })
			if (err == nil) != tt.configOK {
				t.Fatalf("config accepts it: %v, want %v (%v)", err == nil, tt.configOK, err)
			}
			tz := tt.timezone
			if c != nil {
				tz = c.Triggers.Crons[0].Timezone
			}
			_, serr := schedule.ParseSchedule(tt.schedule, tz)
			if err == nil && serr != nil {
				t.Errorf("config accepts it, schedule does not: %v", serr)
			}
			if !tt.configOK && serr == nil {
				t.Errorf("config refuses it, schedule accepts it")
			}
		})
	}
}
