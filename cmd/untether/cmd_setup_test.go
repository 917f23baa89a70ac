package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

func TestValidToken(t *testing.T) {
	for tok, want := range map[string]bool{
		telegramtest.DefaultToken:                      true,
		"123:AAE-untether-telegramtest-token-00":       false, // 34 characters
		"abc:AAE-untether-telegramtest-token-000":      false,
		"123456789AAE-untether-telegramtest-token-000": false,
		"123:AAE-untether-telegramtest-token-0 0":      false,
	} {
		if got := validToken(tok); got != want {
			t.Errorf("validToken(%q) = %v", tok, got)
		}
	}
}

func TestProjectNameOf(t *testing.T) {
	for dir, want := range map[string]string{"/src/MyApp": "myapp", "/src/my app.v2": "my-app-v2", "/": "project", "/x/_a-b": "_a-b"} {
		if got := projectNameOf(dir); got != want {
			t.Errorf("projectNameOf(%q) = %q, want %q", dir, got, want)
		}
	}
}

func TestHasSubIDs(t *testing.T) {
	text := "alice:100000:65536\n1001:165536:65536\n"
	if !hasSubIDs(text, "alice", 1000) || !hasSubIDs(text, "bob", 1001) || hasSubIDs(text, "carol", 1002) {
		t.Fatal("hasSubIDs matched wrongly")
	}
}

// The config setup writes parses, routes the private chat (or the group)
// to the project and keeps the token out of the file.
func TestSetupRenderConfigParses(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bot_token"), []byte(telegramtest.DefaultToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, group := range []int64{0, -100123} {
		o := setupOptions{token: telegramtest.DefaultToken, apiURL: "http://127.0.0.1:1", userID: 42, chatID: group,
			projectName: "demo", projectPath: dir, engine: "codex", image: "localhost/x:1", memory: "1GiB", pids: 100, cpus: 1.5}
		text := o.renderConfig()
		if strings.Contains(text, telegramtest.DefaultToken) {
			t.Fatalf("the token is in the config:\n%s", text)
		}
		cfg, err := config.Parse([]byte(text), filepath.Join(dir, "untether.toml"), func(string) string { return "" })
		if err != nil {
			t.Fatalf("group %d: %v\n%s", group, err, text)
		}
		if cfg.DefaultEngine != "codex" || len(cfg.Projects) != 1 || cfg.Telegram.BotToken.Reveal() != telegramtest.DefaultToken {
			t.Fatalf("group %d: parsed %+v", group, cfg)
		}
		if group == 0 && cfg.DefaultProject != "demo" || group != 0 && cfg.Projects[0].ChatID != group {
			t.Errorf("group %d: not routed: default_project %q, chat %d", group, cfg.DefaultProject, cfg.Projects[0].ChatID)
		}
		if cfg.Sandbox.Images["codex"] != "localhost/x:1" {
			t.Errorf("image %q", cfg.Sandbox.Images["codex"])
		}
	}
}

// awaitMessage takes the first message sent after pendingOffset, skips
// older ones, and confirms what it read.
func TestSetupAwaitMessage(t *testing.T) {
	tg := telegramtest.NewServer(telegramtest.Options{})
	defer tg.Close()
	ctx := t.Context()
	old := tg.UserSays(7, telegramtest.User{ID: 7}, "an old message")
	bot := newBotAPI(tg.URL(), tg.Token())
	if name, err := bot.getMe(ctx); err != nil || name != "untether_test_bot" {
		t.Fatalf("getMe = %q, %v", name, err)
	}
	off, err := bot.pendingOffset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := tg.UserSays(-100500, telegramtest.User{ID: 42, FirstName: "Ann"}, "hello")
	c, err := bot.awaitMessage(ctx, off, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != 42 || c.ChatID != -100500 || c.ChatType != "supergroup" {
		t.Fatalf("contact %+v", c)
	}
	if !tg.Acked(old.UpdateID) || !tg.Acked(sent.UpdateID) {
		t.Error("setup left its updates unconfirmed: the bridge would answer them")
	}
}

func TestSetupBadTokenNotEchoed(t *testing.T) {
	tg := telegramtest.NewServer(telegramtest.Options{})
	defer tg.Close()
	wrong := "123456789:AAE-untether-telegramtest-token-999"
	_, err := newBotAPI(tg.URL(), wrong).getMe(t.Context())
	if err == nil || !strings.Contains(err.Error(), "@BotFather") || strings.Contains(err.Error(), wrong) {
		t.Fatalf("getMe with a wrong token: %v", err)
	}
	_, err = newBotAPI("http://127.0.0.1:1", wrong).getMe(t.Context())
	if err == nil || strings.Contains(err.Error(), wrong) {
		t.Fatalf("getMe of an unreachable server: %v", err)
	}
}

// Without a terminal every answer comes from a flag; a missing one is named.
func TestSetupWithoutTerminal(t *testing.T) {
	tg := telegramtest.NewServer(telegramtest.Options{})
	defer tg.Close()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("UNTETHER_BOT_TOKEN", "")
	cfgPath := filepath.Join(home, "cfg", "untether.toml")
	base := []string{"setup", "--config", cfgPath, "--token", tg.Token(), "--api-url", tg.URL(), "--user-id", "42", "--engine", "claude", "--image", "localhost/untether-vmtest-none:1"}

	var out, errb bytes.Buffer
	if code := execute(t.Context(), base, strings.NewReader(""), &out, &errb); code != exitConfig || !strings.Contains(errb.String(), "--project") {
		t.Fatalf("without --project: exit %d, %s", code, errb.String())
	}
	project := filepath.Join(home, "src", "My App")
	args := append(base, "--project", project)
	out.Reset()
	errb.Reset()
	if code := execute(t.Context(), args, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	cfg, err := config.Load(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Projects[0].Name != "my-app" || cfg.Projects[0].Path != project || cfg.Telegram.AllowedUserIDs[0] != 42 {
		t.Fatalf("config %+v", cfg)
	}
	if fi, err := os.Stat(filepath.Join(home, "cfg", "bot_token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if strings.Contains(out.String(), tg.Token()) {
		t.Error("setup printed the token")
	}
	if code := execute(t.Context(), args, strings.NewReader(""), &out, &errb); code != exitConfig || !strings.Contains(errb.String(), "--force") {
		t.Fatalf("over an existing config: exit %d, %s", code, errb.String())
	}
}

// At a terminal a wrong answer is asked again, and empty answers take the
// defaults.
func TestSetupAsksAgain(t *testing.T) {
	tg := telegramtest.NewServer(telegramtest.Options{})
	defer tg.Close()
	home := t.TempDir()
	cmd := &cobra.Command{}
	var opts setupOptions
	opts.AddFlags(cmd.Flags())
	opts.apiURL, opts.userID = tg.URL(), 42
	answers := "not-a-token\n123456789:AAE-untether-telegramtest-token-999\n" + tg.Token() + "\n\nnoengine\n\n"
	var out bytes.Buffer
	s := &setup{opts: opts, flags: cmd.Flags(), out: &out, in: bufio.NewReader(strings.NewReader(answers)), interactive: true, home: home}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.bot(ctx); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if err := s.project(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if s.opts.token != tg.Token() || s.opts.projectPath != filepath.Join(home, "src", "myapp") || s.opts.engine != config.EngineNames()[0] {
		t.Fatalf("answers taken: %+v\n%s", s.opts, out.String())
	}
	for _, want := range []string{"not a bot token", "rejects this token", "Default engine"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
