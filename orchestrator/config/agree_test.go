package config_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/config"
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
