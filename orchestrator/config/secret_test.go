package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretMasks(t *testing.T) {
	s := Secret(testToken)
	tg := Telegram{BotToken: s, AllowedUserIDs: []int64{1}}
	c := &Config{Telegram: tg}

	printed := map[string]string{}
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%.40s"} {
		printed["Secret "+verb] = fmt.Sprintf(verb, s)
		printed["Telegram "+verb] = fmt.Sprintf(verb, tg)
		printed["*Config "+verb] = fmt.Sprintf(verb, c)
		printed["[]Secret "+verb] = fmt.Sprintf(verb, []Secret{s})
	}
	printed["Sprint"] = fmt.Sprint(s)
	printed["Sprintln"] = fmt.Sprintln(tg)
	printed["String"] = s.String()
	printed["GoString"] = s.GoString()
	for name, v := range map[string]any{"Secret": s, "Telegram": tg, "map": map[string]Secret{"t": s}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%s): %v", name, err)
		}
		printed["json "+name] = string(b)
	}
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("start", "token", s, "telegram", tg, "config", c)
		log.Info("start", slog.Any("token", s), slog.String("str", s.String()))
		log.Info("start", slog.Group("g", "token", s))
		printed["slog "+name] = buf.String()
	}

	for name, out := range printed {
		if strings.Contains(out, testSecretPart) || strings.Contains(out, "AAHdq") {
			t.Errorf("%s printed the token: %s", name, out)
		}
	}
	for _, name := range []string{"Secret %v", "Secret %s", "Telegram %+v", "json Secret", "slog text", "slog json"} {
		if !strings.Contains(printed[name], "123456789…(redacted)") {
			t.Errorf("%s does not show the mask: %s", name, printed[name])
		}
	}
	if got, want := printed["Secret %#v"], `config.Secret("123456789…(redacted)")`; got != want {
		t.Errorf("%%#v = %s, want %s", got, want)
	}
	if s.Reveal() != testToken {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
}

func TestSecretString(t *testing.T) {
	tests := []struct {
		name string
		in   Secret
		want string
	}{
		{"token", testToken, "123456789…(redacted)"},
		{"no colon", "abcdef", "(redacted)"},
		{"non-numeric id", "abc:def", "(redacted)"},
		{"empty id", ":def", "(redacted)"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
