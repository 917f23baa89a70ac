package config_test

import (
	"slices"
	"testing"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/orchestrator/voice"
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
