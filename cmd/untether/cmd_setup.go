package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/untether-go/untether/internal/atomicfile"
	"github.com/untether-go/untether/orchestrator/config"
)

// setupOptions hold an answer for every question `untether setup` asks, so
// that it also runs without a terminal.
type setupOptions struct {
	configPath  string
	token       string
	apiURL      string
	userID      int64
	chatID      int64
	projectName string
	projectPath string
	engine      string
	image       string
	memory      string
	pids        int
	cpus        float64
	wait        time.Duration
	service     bool
	buildImage  bool
	force       bool
}

func (o *setupOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.configPath, "config", "", "config file to write (default $"+config.EnvConfigPath+", else ~/.untether/untether.toml)")
	f.StringVar(&o.token, "token", "", "the bot token from @BotFather (default $UNTETHER_BOT_TOKEN)")
	f.StringVar(&o.apiURL, "api-url", "https://api.telegram.org", "the Bot API server")
	f.Int64Var(&o.userID, "user-id", 0, "your Telegram user id (default: taken from the first message you send the bot)")
	f.Int64Var(&o.chatID, "chat-id", 0, "the group chat whose messages go to the project (default: the group you write from, if any)")
	f.StringVar(&o.projectName, "project-name", "", "the project's name (default: its folder's name)")
	f.StringVar(&o.projectPath, "project", "", "the project folder the agents work in")
	f.StringVar(&o.engine, "engine", "", "default engine: "+strings.Join(config.EngineNames(), ", "))
	f.StringVar(&o.image, "image", "", "the engine's container image (default localhost/untether-<engine>:latest)")
	f.StringVar(&o.memory, "memory", "2GiB", "memory limit of each run")
	f.IntVar(&o.pids, "pids", 512, "process limit of each run")
	f.Float64Var(&o.cpus, "cpus", 2, "CPU limit of each run")
	f.DurationVar(&o.wait, "wait", 5*time.Minute, "how long to wait for your first message to the bot")
	f.BoolVar(&o.buildImage, "build-image", false, "build the engine image (untether images build)")
	f.BoolVar(&o.service, "service", false, "install, enable and start the systemd user service, with linger")
	f.BoolVar(&o.force, "force", false, "replace an existing config")
}

func newSetupCommand() *cobra.Command {
	var opts setupOptions
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Set up this machine step by step: Podman, the bot, a project, the config and the service",
		Long: `Guides a first run: checks rootless Podman and cgroup delegation and says the
command for each gap; checks the bot token; learns your user id from the first
message you send the bot; asks for a project folder and a default engine;
writes the config; and offers to build the engine image and to install and
start the systemd user service. Every question has a flag: with all of them,
or without a terminal, it asks nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s := &setup{opts: opts, flags: cmd.Flags(), out: cmd.OutOrStdout(), in: bufio.NewReader(cmd.InOrStdin())}
			s.interactive = isTerminal(cmd.InOrStdin())
			return s.run(cmd.Context())
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// isTerminal reports whether r is a character device, as a terminal is.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// setup is one run of `untether setup`.
type setup struct {
	opts        setupOptions
	flags       *pflag.FlagSet
	out         io.Writer
	in          *bufio.Reader
	interactive bool
	home        string
}

// errNoAnswer: a question without a flag and without a terminal.
func (s *setup) errNoAnswer(flag, what string) error {
	return &exitError{exitConfig, fmt.Errorf("untether setup: %s: pass --%s (no terminal to ask on)", what, flag)}
}

// ask prints a question and returns the trimmed answer, or def on an empty
// line.
func (s *setup) ask(question, def string) (string, error) {
	if def != "" {
		fmt.Fprintf(s.out, "%s [%s]: ", question, def)
	} else {
		fmt.Fprintf(s.out, "%s: ", question)
	}
	line, err := s.in.ReadString('\n')
	if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
		return "", &exitError{exitConfig, fmt.Errorf("untether setup: no answer to %q: %w", question, err)}
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return def, nil
	}
	return line, nil
}

// confirm asks a yes/no question; flag answers it when given.
func (s *setup) confirm(flag, question string, def bool) (bool, error) {
	if s.flags.Changed(flag) || !s.interactive {
		v, _ := s.flags.GetBool(flag)
		return v, nil
	}
	d := "y/N"
	if def {
		d = "Y/n"
	}
	for {
		a, err := s.ask(question+" ("+d+")", "")
		if err != nil {
			return false, err
		}
		switch strings.ToLower(a) {
		case "":
			return def, nil
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
		fmt.Fprintln(s.out, "  please answer y or n")
	}
}

func (s *setup) run(ctx context.Context) error {
	home, err := os.UserHomeDir()
	if err != nil {
		return &exitError{exitConfig, errors.New("untether setup: no home directory ($HOME)")}
	}
	s.home = home
	path, err := config.ResolvePath(s.opts.configPath, os.Getenv, home)
	if err != nil {
		return &exitError{exitConfig, fmt.Errorf("untether setup: %w", err)}
	}
	if _, err := os.Stat(path); err == nil && !s.opts.force {
		return &exitError{exitConfig, fmt.Errorf("untether setup: %s exists: edit it, or pass --force to write a new one", path)}
	}
	fmt.Fprintf(s.out, "Setting up untether with the config %s\n\n", path)

	fmt.Fprintln(s.out, "1. This machine")
	checkHost(ctx, s.out)

	fmt.Fprintln(s.out, "\n2. The bot")
	bot, err := s.bot(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(s.out, "\n3. The project")
	if err := s.project(); err != nil {
		return err
	}
	if err := s.writeConfig(path, bot); err != nil {
		return err
	}
	fmt.Fprintln(s.out, "\n4. Engine image and service")
	if err := s.offerImage(ctx, path); err != nil {
		return err
	}
	return s.offerService(ctx, path)
}

// bot asks for the token, checks it with getMe and learns the user id.
func (s *setup) bot(ctx context.Context) (*botAPI, error) {
	tok := s.opts.token
	if tok == "" {
		tok = os.Getenv("UNTETHER_BOT_TOKEN")
	}
	for {
		if tok == "" {
			if !s.interactive {
				return nil, s.errNoAnswer("token", "the bot token")
			}
			fmt.Fprintln(s.out, "Create a bot with @BotFather in Telegram (/newbot) and paste its token.")
			a, err := s.ask("Bot token", "")
			if err != nil {
				return nil, err
			}
			tok = a
		}
		if !validToken(tok) {
			err := errors.New("that is not a bot token: it looks like 123456789:AAE... (digits, a colon, 35 letters)")
			if !s.interactive || s.opts.token != "" {
				return nil, &exitError{exitConfig, fmt.Errorf("untether setup: %w", err)}
			}
			fmt.Fprintf(s.out, "  %v\n", err)
			tok = ""
			continue
		}
		bot := newBotAPI(s.opts.apiURL, tok)
		name, err := bot.getMe(ctx)
		if err == nil {
			fmt.Fprintf(s.out, "ok    the token belongs to @%s\n", name)
			s.opts.token = tok
			if err := s.contact(ctx, bot, name); err != nil {
				return nil, err
			}
			return bot, nil
		}
		if !s.interactive || s.opts.token != "" {
			return nil, &exitError{exitFailure, fmt.Errorf("untether setup: %w", err)}
		}
		fmt.Fprintf(s.out, "  %v\n", err)
		tok = ""
	}
}

// validToken matches Telegram's token format: a numeric bot id, a colon and
// 35 URL-safe characters.
func validToken(t string) bool {
	id, secret, ok := strings.Cut(t, ":")
	if !ok || len(secret) != 35 {
		return false
	}
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return false
	}
	for _, c := range secret {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// contact learns the user id (and a group's chat id) from a message.
func (s *setup) contact(ctx context.Context, bot *botAPI, name string) error {
	if s.opts.userID != 0 {
		return nil
	}
	offset, err := bot.pendingOffset(ctx)
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: %w", err)}
	}
	fmt.Fprintf(s.out, "Now send any message to your bot @%s (or, to use a group, add the bot to it and write there).\n", name)
	fmt.Fprintf(s.out, "Waiting up to %s...\n", s.opts.wait)
	c, err := bot.awaitMessage(ctx, offset, s.opts.wait)
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: %w", err)}
	}
	s.opts.userID = c.UserID
	fmt.Fprintf(s.out, "ok    message from %s: your user id is %d\n", c.Name, c.UserID)
	if c.ChatType == "group" || c.ChatType == "supergroup" {
		if s.opts.chatID == 0 {
			s.opts.chatID = c.ChatID
		}
		fmt.Fprintf(s.out, "ok    it came from the group %q (chat id %d): the project will answer there\n", c.Title, c.ChatID)
	}
	return nil
}

// project asks for the project folder and the default engine.
func (s *setup) project() error {
	if s.opts.projectPath == "" {
		if !s.interactive {
			return s.errNoAnswer("project", "the project folder")
		}
		a, err := s.ask("Project folder the agents work in", filepath.Join(s.home, "src", "myapp"))
		if err != nil {
			return err
		}
		s.opts.projectPath = a
	}
	p := s.opts.projectPath
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = filepath.Join(s.home, strings.TrimPrefix(p, "~"))
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return &exitError{exitConfig, fmt.Errorf("untether setup: project folder %s: %w", p, err)}
	}
	s.opts.projectPath = abs
	if st, err := os.Stat(abs); err == nil && !st.IsDir() {
		return &exitError{exitConfig, fmt.Errorf("untether setup: %s is not a folder", abs)}
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return &exitError{exitFailure, fmt.Errorf("untether setup: create the project folder: %w", err)}
		}
		fmt.Fprintf(s.out, "ok    created %s\n", abs)
	}
	if s.opts.projectName == "" {
		s.opts.projectName = projectNameOf(abs)
	}
	names := config.EngineNames()
	for s.opts.engine == "" || !slices.Contains(names, s.opts.engine) {
		if s.opts.engine != "" && (!s.interactive || s.flags.Changed("engine")) {
			return &exitError{exitConfig, fmt.Errorf("untether setup: unknown engine %q: one of %s", s.opts.engine, strings.Join(names, ", "))}
		}
		if !s.interactive {
			return s.errNoAnswer("engine", "the default engine")
		}
		a, err := s.ask("Default engine ("+strings.Join(names, ", ")+")", names[0])
		if err != nil {
			return err
		}
		s.opts.engine = a
		s.flags.Lookup("engine").Changed = false
	}
	return nil
}

// projectNameOf makes a config key from a folder name: letters, digits,
// '-' and '_'.
func projectNameOf(dir string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(filepath.Base(dir)) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	if n := strings.Trim(b.String(), "-"); n != "" {
		return n
	}
	return "project"
}

// renderConfig is the config setup writes. The token goes to a file of its
// own next to it (mode 0600), never into the config.
func (o setupOptions) renderConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `untether setup`; see the README for every setting.\ndefault_engine = %q\n", o.engine)
	if o.chatID == 0 {
		fmt.Fprintf(&b, "# Your private chat with the bot goes to this project.\ndefault_project = %q\n", o.projectName)
	}
	fmt.Fprintf(&b, "\n[transports.telegram]\nbot_token_file = \"bot_token\"\n")
	if o.apiURL != "https://api.telegram.org" {
		fmt.Fprintf(&b, "api_url = %q\n", o.apiURL)
	}
	fmt.Fprintf(&b, "allowed_user_ids = [%d]\nchat_id = %d\n", o.userID, o.userID)
	fmt.Fprintf(&b, "\n[projects.%s]\npath = %q\n", o.projectName, o.projectPath)
	if o.chatID != 0 {
		fmt.Fprintf(&b, "chat_id = %d\n", o.chatID)
	}
	fmt.Fprintf(&b, "\n[sandbox]\nmemory = %q\npids = %d\ncpus = %s\n", o.memory, o.pids, strconv.FormatFloat(o.cpus, 'f', -1, 64))
	if o.image != "" {
		fmt.Fprintf(&b, "\n[sandbox.images]\n%s = %q\n", o.engine, o.image)
	}
	return b.String()
}

// writeConfig checks the config parses, then writes the token file and the
// config.
func (s *setup) writeConfig(path string, _ *botAPI) error {
	text := s.opts.renderConfig()
	dir := filepath.Dir(path)
	tokenPath := filepath.Join(dir, "bot_token")
	getenv := func(k string) string {
		if k == "UNTETHER_BOT_TOKEN" {
			return ""
		}
		return os.Getenv(k)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: %w", err)}
	}
	if err := atomicfile.WriteFile(tokenPath, []byte(s.opts.token+"\n"), 0o600); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: write the token file: %w", err)}
	}
	if _, err := config.Parse([]byte(text), path, getenv); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: the config it would write is wrong (a bug): %w", err)}
	}
	if err := atomicfile.WriteFile(path, []byte(text), 0o600); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether setup: write the config: %w", err)}
	}
	fmt.Fprintf(s.out, "ok    wrote %s (the token is in %s, mode 0600)\n", path, tokenPath)
	return nil
}
