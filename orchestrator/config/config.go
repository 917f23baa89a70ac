package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Environment variables read by ResolvePath and Parse.
const (
	// EnvConfigPath names the config file when --config is not given.
	EnvConfigPath = "UNTETHER_CONFIG_PATH"
	// EnvBotToken supplies the bot token when the file sets neither
	// bot_token nor bot_token_file.
	EnvBotToken = "UNTETHER_BOT_TOKEN"
)

// Values of Telegram.SessionMode.
const (
	// SessionChat: the next plain message resumes the chat's last session.
	SessionChat = "chat"
	// SessionStateless: a session resumes only when replying to its message.
	SessionStateless = "stateless"
)

// Values of Sandbox.Backend.
const (
	BackendPodman = "podman"
	// BackendProcess runs engines as plain host processes: unsandboxed,
	// opt-in only.
	BackendProcess = "process"
)

// Values of Sandbox.Network and Project.Network.
const (
	// NetworkDefault is Podman's default network (engines need their API).
	NetworkDefault = "default"
	// NetworkNone gives the container no network at all.
	NetworkNone = "none"
	// NetworkHost shares the host's network, e.g. to reach a model server
	// on the host's loopback.
	NetworkHost = "host"
)

// DefaultAPIURL is the Telegram Bot API used when api_url is not set.
const DefaultAPIURL = "https://api.telegram.org"

// engineNames are the engines Untether knows, in the order users see them.
var engineNames = [...]string{"claude", "codex", "opencode", "pi", "gemini", "amp"}

// EngineNames returns the names accepted by default_engine, [sandbox.images]
// and the per-engine tables.
func EngineNames() []string { return slices.Clone(engineNames[:]) }

func isEngine(name string) bool { return slices.Contains(engineNames[:], name) }

// Drain policies (key `drain`).
const (
	DrainDetach = "detach"
	DrainWait   = "wait"
	DrainKill   = "kill"
)

// DefaultDrainTimeout is drain_timeout's default.
const DefaultDrainTimeout = 120 * time.Second

// ErrNotFound is returned (wrapped) by Load when the config file does not
// exist, so that `untether run` can offer to create one.
var ErrNotFound = errors.New("config file not found")

// Config is a parsed and validated untether.toml. Every field holds its
// effective value: defaults are filled in.
type Config struct {
	// Path is the absolute, cleaned path of the config file.
	Path string
	// Dir is Path's directory; the instance's state lives there.
	Dir string
	// Instance (key `instance`) prefixes container names and labels
	// volumes so that instances never touch each other's containers.
	// Default: derived from Dir's base name (see deriveInstance).
	Instance string
	// DefaultEngine (key `default_engine`, default "claude").
	DefaultEngine string
	// DefaultProject (key `default_project`) is empty or names a project.
	DefaultProject string
	// Drain (key `drain`, default DrainDetach) is what a stopping bridge
	// does with its runs: leave them running for the next bridge to
	// reattach (detach), wait up to DrainTimeout then stop them (wait), or
	// stop them at once (kill).
	Drain string
	// DrainTimeout (key `drain_timeout`, default 120s, 1s..10m) bounds
	// the wait of drain = "wait". Keep it under the unit's TimeoutStopSec.
	DrainTimeout time.Duration
	Telegram     Telegram
	// Projects are sorted by name.
	Projects []Project
	Sandbox  Sandbox
	// Engines holds the top-level tables [claude], [codex], ... that are
	// present, keyed by engine name. Never nil.
	Engines map[string]EngineOptions
	// Approvals are the defaults of the projects' approvals settings.
	Approvals Approvals
	// Files is [files], with its defaults when the table is absent.
	Files Files
	// Voice is [voice]; nil when the table is absent: voice notes are then
	// not transcribed.
	Voice *Voice
	// Triggers is [triggers]: runs started by something other than a
	// message (webhook calls, crons).
	Triggers Triggers
	// Budgets is [budgets], with its defaults when the table is absent
	// (no budget applies).
	Budgets Budgets
}

// Telegram is [transports.telegram].
type Telegram struct {
	// BotToken comes from `bot_token`, else `bot_token_file` (a path
	// relative to the config directory; content trimmed), else the
	// environment variable UNTETHER_BOT_TOKEN. The file may set at most
	// one of the two keys.
	BotToken Secret
	// APIURL (key `api_url`, default DefaultAPIURL) has no trailing slash.
	APIURL string
	// ChatID (key `chat_id`) receives the startup message; 0 means none.
	ChatID int64
	// AllowedUserIDs (key `allowed_user_ids`) is never empty: an empty
	// allowlist would make the bot public.
	AllowedUserIDs []int64
	// SessionMode (key `session_mode`) is SessionChat (default) or
	// SessionStateless.
	SessionMode string
	// ShowResumeLine (key `show_resume_line`, default true).
	ShowResumeLine bool
	// Drafts (key `drafts`, default true) streams a run's answer into a
	// private chat while it is written (sendMessageDraft); a Bot API server
	// without the method turns it off by itself.
	Drafts bool
	// PollTimeout (key `poll_timeout`, default 30s, 1s..50s) is the
	// getUpdates long-poll timeout.
	PollTimeout time.Duration
	// MissedAfter (key `missed_after`, default 1h, 0 = never) is the age
	// past which a message that waited while the bridge was down is not
	// run: its sender is told it was missed while offline.
	MissedAfter time.Duration
}

// Project is one [projects.NAME] table.
type Project struct {
	// Name is the table name: ^[a-z0-9][a-z0-9_-]{0,31}$, and neither an
	// engine name nor a built-in command, since /<name> picks it in chat.
	Name string
	// Path (key `path`, required) is absolute and cleaned; ~ and $HOME are
	// expanded and a relative path is taken from the config directory.
	// Parse does not check that it exists: see Config.CheckPaths.
	Path string
	// ChatID (key `chat_id`) routes that chat's messages here; 0 means
	// none. No two projects share one chat and topic.
	ChatID int64
	// TopicID (key `topic_id`, needs chat_id) routes only that forum
	// topic (message_thread_id) of the chat here; 0 means the whole chat.
	// A topic's own project wins over its chat's.
	TopicID int64
	// DefaultEngine (key `default_engine`) is empty or an engine name.
	DefaultEngine string
	// Sandbox holds the effective limits: [sandbox] overridden by the keys
	// of [projects.NAME.sandbox].
	Sandbox Limits
	// Network is the effective network: [sandbox] network overridden by
	// projects.NAME.sandbox.network.
	Network string
	// Images is the effective engine → image map: [sandbox.images]
	// overridden by [projects.NAME.sandbox.images]. It has an entry for
	// every engine.
	Images map[string]string
	// Approvals: whether agents ask before they act, and plan mode.
	Approvals Approvals
	// WorktreesDir (key `worktrees_dir`, default ".worktrees" when empty)
	// is where @branch runs get their git worktrees, inside the project;
	// WorktreeBase (key `worktree_base`) is what a new branch starts from
	// (empty: origin/HEAD, the current branch, main, master).
	WorktreesDir string
	WorktreeBase string
	// Hosts (key `hosts`) are the [sandbox.hosts] runs of this project may
	// go to; nil means all.
	Hosts []string
	// RemotePaths (key `remote_path`: a path for every remote host, or a
	// table host = path) is the project's folder on remote hosts; "" keys
	// the one for all. See RemotePath.
	RemotePaths map[string]string
}

// Plan modes (key plan_mode).
const (
	PlanOff  = "off"  // the agent acts without a plan first
	PlanOn   = "on"   // the agent proposes a plan and waits for Approve
	PlanAuto = "auto" // the plan is shown and the agent goes on
)

// DefaultApprovalTimeout is how long a request waits for its answer.
const DefaultApprovalTimeout = 10 * time.Minute

// Approvals are the top-level `approvals`, `plan_mode` and
// `approval_timeout`, which projects may override (but the timeout).
type Approvals struct {
	// On runs engines that can ask in their interactive protocol: they ask
	// before running commands or changing files.
	On       bool
	PlanMode string
	Timeout  time.Duration
}

// Sandbox is [sandbox]: how and within which limits sessions run.
type Sandbox struct {
	// Backend (key `backend`) is BackendPodman (default) or BackendProcess.
	Backend string
	// PodmanURL (key `podman_url`) is a unix://, tcp:// or ssh:// URL.
	// Default: DefaultPodmanURL for the current user (os.Getuid) and the
	// getenv given to Parse.
	PodmanURL string
	// Images (table [sandbox.images]) maps every engine to an image ref;
	// default "localhost/untether-<engine>:latest".
	Images map[string]string
	// Limits are the global defaults every project starts from.
	Limits Limits
	// Network (key `network`) is NetworkDefault (default) or NetworkNone.
	Network string
	// StopGrace (key `stop_grace`, default 10s, 0s..5m) is the time between
	// SIGTERM and SIGKILL when a run is stopped.
	StopGrace time.Duration
	// MaxConcurrentRuns (key `max_concurrent_runs`, default 4, 1..64) is
	// how many runs may be in their containers at once, across all chats;
	// further runs wait, in order, for a free slot.
	MaxConcurrentRuns int
	// Hosts ([sandbox.hosts.NAME], by name) are the Podman services runs
	// are placed on; nil means the one at PodmanURL, as LocalHost.
	Hosts []Host
	// Footer (key `footer`, default true) ends each final answer with what
	// the run's container used: peak memory, CPU time, wall time.
	Footer bool
	// StallAfter (key `stall_after`, default 5m; 0s: never) is how long an
	// engine may be silent before its run's progress message says so
	// (three times as long while a command or tool runs).
	StallAfter time.Duration
	// Warm (key `warm`, default false) keeps one container started ahead
	// per project and engine, so that a message does not wait for one to
	// be made; it holds nothing of a session until a message claims it.
	Warm bool
}

// Limits bound one run. Sizes are written as described at ParseSize.
type Limits struct {
	// MemoryBytes (key `memory`, default 2GiB, at least 16MiB).
	MemoryBytes int64
	// SwapBytes (key `swap`) is memory+swap, as cgroups count it. Default:
	// equal to the memory limit, i.e. no swap. Never below MemoryBytes.
	SwapBytes int64
	// Pids (key `pids`, default 512, at least 16).
	Pids int64
	// CPUs (key `cpus`, default 2, > 0; integer or float).
	CPUs float64
	// Timeout (key `timeout`, default 30m, at least 1s) is the wall-clock
	// limit of one run.
	Timeout time.Duration
}

// EngineOptions is a per-engine table such as [claude].
type EngineOptions struct {
	// Model (key `model`) is the engine's default model; empty means the
	// CLI's own default.
	Model string
	// ExtraArgs (key `extra_args`) are appended to the engine's argv.
	ExtraArgs []string
	// Env is passed to this engine's containers only: credentials such as
	// ANTHROPIC_API_KEY and settings such as a base URL. It comes from
	// `env_file` (KEY=VALUE lines) overridden by the [<engine>.env] table.
	// Values are secrets and never printed.
	Env map[string]Secret
}

// Project returns the project with the given name.
func (c *Config) Project(name string) (Project, bool) {
	i, ok := slices.BinarySearchFunc(c.Projects, name, func(p Project, n string) int {
		return cmp.Compare(p.Name, n)
	})
	if !ok {
		return Project{}, false
	}
	return c.Projects[i], true
}

// CheckPaths reports each project whose path is not an existing directory.
// Parse does not do this (parsing has no side effects); the daemon calls it
// at startup, and may wrap the result in an *Error.
func (c *Config) CheckPaths() []Problem {
	var problems []Problem
	for _, p := range c.Projects {
		key := keyString("projects", p.Name, "path")
		fi, err := os.Stat(p.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			problems = append(problems, Problem{key, fmt.Sprintf("directory %s does not exist", p.Path)})
		case err != nil:
			problems = append(problems, Problem{key, fmt.Sprintf("cannot access %s: %v", p.Path, unwrapPathError(err))})
		case !fi.IsDir():
			problems = append(problems, Problem{key, fmt.Sprintf("%s is not a directory", p.Path)})
		}
	}
	return problems
}

// unwrapPathError drops the operation and path that *fs.PathError repeats.
func unwrapPathError(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// Problem is one thing wrong with a config file.
type Problem struct {
	// Key is the TOML path of the offending key, e.g.
	// "projects.web.sandbox.memory"; empty for problems of the whole file
	// such as a syntax error.
	Key string
	// Msg says what is wrong, in words meant for the user. It never holds
	// the bot token.
	Msg string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// Error lists every problem found in one config file.
type Error struct {
	Path     string
	Problems []Problem
}

// Error returns one line per problem, "<file>: <key>: <msg>", sorted by key.
func (e *Error) Error() string {
	problems := slices.Clone(e.Problems)
	sortProblems(problems)
	var b strings.Builder
	for i, p := range problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Path)
		b.WriteString(": ")
		b.WriteString(p.String())
	}
	return b.String()
}

func sortProblems(problems []Problem) {
	slices.SortStableFunc(problems, func(a, b Problem) int { return cmp.Compare(a.Key, b.Key) })
}

// Load reads the config file at path and parses it (see Parse). A missing
// file yields an error matching ErrNotFound; a file that cannot be read, a
// plain error; a file with problems, an *Error listing all of them.
// A nil getenv means os.Getenv.
func Load(path string, getenv func(string) string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve config path %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read config %s: %w", abs, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, abs, getenv)
}

// Parse parses and validates the content of a config file. path (made
// absolute) sets Config.Path and Config.Dir, from which relative paths and
// bot_token_file are resolved and the default instance is derived.
//
// getenv (nil means os.Getenv) supplies UNTETHER_BOT_TOKEN, the variables
// named by voice.api_key_env and the webhooks' secret_env, HOME for ~ and $HOME in paths, and
// XDG_RUNTIME_DIR for the default Podman URL. Parse reads bot_token_file,
// engines' env_file, voice.api_key_file and the webhooks' secret_file when
// they are set, and the time zone database when a cron names a zone, and
// nothing else; it creates nothing.
//
// Any problem yields a nil Config and an *Error listing every problem of the
// file, sorted by key.
func Parse(data []byte, path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		return nil, errors.New("parse config: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve config path %s: %w", path, err)
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	p := &parser{
		dir:       filepath.Dir(abs),
		getenv:    getenv,
		podmanURL: DefaultPodmanURL(os.Getuid(), getenv),
	}
	c := p.parse(data)
	if len(p.problems) > 0 {
		problems := p.redacted()
		sortProblems(problems)
		return nil, &Error{Path: abs, Problems: problems}
	}
	c.Path, c.Dir = abs, p.dir
	return c, nil
}
