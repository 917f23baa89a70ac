package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testPath  = "/home/u/.untether/untether.toml"
	testToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	// testSecretPart is the part of testToken that must never be printed.
	testSecretPart = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	testAPIKey     = "sk-proj-Zq81mNvB4xTe0aLw"
	// testAPIKeySecret is the part of testAPIKey that must never be printed.
	testAPIKeySecret = "Zq81mNvB4xTe0aLw"
	// testWebhookSecret must never be printed either.
	testWebhookSecret = "whsec-7Hq2LmX9pV4cR8tY"
)

// tg is the smallest valid [transports.telegram]; cases append to it.
const tg = `
[transports.telegram]
bot_token = "` + testToken + `"
allowed_user_ids = [42]
`

// env returns a getenv over the given key/value pairs, HOME=/home/u unless
// overridden.
func env(kv ...string) func(string) string {
	m := map[string]string{"HOME": "/home/u"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func mustParse(t *testing.T, data, path string, getenv func(string) string) *Config {
	t.Helper()
	c, err := Parse([]byte(data), path, getenv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// problemKeys returns the sorted keys of err's problems.
func problemKeys(t *testing.T, err error) []string {
	t.Helper()
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	keys := []string{}
	for _, p := range cerr.Problems {
		keys = append(keys, p.Key)
	}
	return keys
}

func withImages(over map[string]string) map[string]string {
	return mergeImages(defaultImages(), over)
}

func TestParseFull(t *testing.T) {
	data, err := os.ReadFile("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	got := mustParse(t, string(data), testPath, env())

	globalImages := withImages(map[string]string{"claude": "registry.example.com/untether-claude:2"})
	global := Limits{MemoryBytes: 1 << 30, SwapBytes: 1 << 30, Pids: 256, CPUs: 4, Timeout: 45 * time.Minute}
	want := &Config{
		Path:           testPath,
		Dir:            "/home/u/.untether",
		Instance:       "staging",
		DefaultEngine:  "codex",
		DefaultProject: "claude-test",
		Drain:          DrainWait,
		DrainTimeout:   90 * time.Second,
		Telegram: Telegram{
			BotToken:       testToken,
			APIURL:         "http://127.0.0.1:8081",
			ChatID:         123456789,
			AllowedUserIDs: []int64{123456789, 987654321},
			SessionMode:    SessionStateless,
			ShowResumeLine: false,
			Drafts:         false,
			PollTimeout:    20 * time.Second,
			MissedAfter:    30 * time.Minute,
		},
		Projects: []Project{
			{
				Name:      "api",
				Path:      "/home/u/src/api",
				Sandbox:   Limits{MemoryBytes: 512 << 20, SwapBytes: 512 << 20, Pids: 256, CPUs: 4, Timeout: 45 * time.Minute},
				Network:   NetworkDefault,
				Images:    globalImages,
				Approvals: Approvals{PlanMode: PlanOff, Timeout: 5 * time.Minute},
			},
			{
				Name:          "claude-test",
				Path:          "/home/u/untether/test-projects/test-claude",
				ChatID:        -5284581592,
				DefaultEngine: "claude",
				Sandbox:       global,
				Network:       NetworkDefault,
				Images:        globalImages,
				Approvals:     Approvals{On: true, PlanMode: PlanOn, Timeout: 5 * time.Minute},
			},
			{
				Name:      "web",
				Path:      "/home/u/.untether/sites/web",
				ChatID:    -1001234567890,
				TopicID:   12,
				Sandbox:   Limits{MemoryBytes: 4 << 30, SwapBytes: 6 << 30, Pids: 1024, CPUs: 0.5, Timeout: 2 * time.Hour},
				Network:   NetworkNone,
				Images:    mergeImages(globalImages, map[string]string{"codex": "ghcr.io/example/codex:1.2"}),
				Approvals: Approvals{On: true, PlanMode: PlanOff, Timeout: 5 * time.Minute},
			},
		},
		Sandbox: Sandbox{
			Backend:           BackendPodman,
			PodmanURL:         "unix:///run/user/1000/podman/podman.sock",
			Images:            globalImages,
			Limits:            global,
			Network:           NetworkDefault,
			StopGrace:         5 * time.Second,
			MaxConcurrentRuns: 8,
			Footer:            true,
			StallAfter:        5 * time.Minute,
		},
		Engines: map[string]EngineOptions{
			"claude": {Model: "claude-sonnet-4-5"},
			"codex":  {Model: "gpt-5-codex", ExtraArgs: []string{"--search"}},
		},
		Approvals: Approvals{On: true, PlanMode: PlanOff, Timeout: 5 * time.Minute},
		Files: Files{
			Enabled:     true,
			UploadsDir:  "inbox/telegram",
			DenyGlobs:   []string{".git/**", "**/*.key", "secrets/{prod,staging}/**"},
			MaxDownload: 200 << 20,
			MaxUpload:   LocalBotAPIMax,
		},
		Voice: &Voice{
			BaseURL:          "http://127.0.0.1:8000/v1",
			Model:            "Systran/faster-whisper-small",
			APIKey:           "sk-local-0123456789",
			Language:         "en",
			ShowTranscript:   false,
			TranscriptPrefix: "Heard: ",
			Timeout:          5 * time.Minute,
		},
		Triggers: Triggers{
			Listen: "127.0.0.1:9876",
			Webhooks: []Webhook{
				{
					ID:      "gh-issues",
					Path:    "/hooks/github",
					Secret:  "It's a Secret to Everybody",
					Auth:    WebhookAuthHMAC,
					Project: "api",
					Engine:  "codex",
					PromptTemplate: "Fix issue #{{ .issue.number }} of {{ .repository.full_name }}: {{ .issue.title }}\n\n" +
						"{{ .issue.body }}",
					EventFilter: []string{"issues.opened", "issue_comment"},
				},
				{
					ID:             "ci",
					Path:           "/hooks/ci",
					Secret:         "ci-token-0123456789abcdef",
					Auth:           WebhookAuthBearer,
					Project:        "web",
					PromptTemplate: "CI failed on {{ .branch }}: {{ .log_url }}",
				},
			},
			Crons: []Cron{
				{
					ID: "nightly", Schedule: "0 3 * * mon-fri", Timezone: "Europe/Berlin", Project: "web", Engine: "codex",
					Prompt: "Run the tests and fix what fails.", ChatID: -1001234567890, TopicID: 12,
				},
				{
					ID: "release-notes", Schedule: "30 9 1 * *", Timezone: "UTC", Project: "api",
					Prompt: "Draft the release notes.", ChatID: -1009876543210, TopicID: 4, RunOnce: true,
				},
			},
		},
		Budgets: Budgets{
			PerRun: 2, PerDay: 20.5, PerProjectDay: 10, WarnAt: 75, Timezone: "Europe/Berlin",
			Prices: map[string]Price{
				"claude-sonnet-4-5": {Input: 3, Output: 15, Cached: 0.3},
				"gpt-5-codex":       {Input: 1.25, Output: 10, Cached: 1.25},
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(full.toml) =\n%+v\nwant\n%+v", got, want)
	}
	if got.Telegram.BotToken.Reveal() != testToken {
		t.Errorf("token not kept")
	}
	if p, ok := got.Project("web"); !ok || p.Name != "web" {
		t.Errorf("Project(web) = %v, %v", p, ok)
	}
	if _, ok := got.Project("nope"); ok {
		t.Errorf("Project(nope) found")
	}
}

func TestParseDefaults(t *testing.T) {
	getenv := env("XDG_RUNTIME_DIR", "/run/user/1000")
	got := mustParse(t, tg, testPath, getenv)
	limits := Limits{MemoryBytes: 2 << 30, SwapBytes: 2 << 30, Pids: 512, CPUs: 2, Timeout: 30 * time.Minute}
	want := &Config{
		Path:          testPath,
		Dir:           "/home/u/.untether",
		Instance:      "untether",
		DefaultEngine: "claude",
		Drain:         DrainDetach,
		DrainTimeout:  DefaultDrainTimeout,
		Telegram: Telegram{
			BotToken:       testToken,
			APIURL:         "https://api.telegram.org",
			AllowedUserIDs: []int64{42},
			SessionMode:    SessionChat,
			ShowResumeLine: true,
			Drafts:         true,
			PollTimeout:    30 * time.Second,
			MissedAfter:    time.Hour,
		},
		Sandbox: Sandbox{
			Backend:           BackendPodman,
			PodmanURL:         DefaultPodmanURL(os.Getuid(), getenv),
			Images:            defaultImages(),
			Limits:            limits,
			Network:           NetworkDefault,
			StopGrace:         10 * time.Second,
			MaxConcurrentRuns: 4,
			Footer:            true,
			StallAfter:        5 * time.Minute,
		},
		Engines:   map[string]EngineOptions{},
		Approvals: Approvals{PlanMode: PlanOff, Timeout: DefaultApprovalTimeout},
		Files: Files{
			Enabled:     true,
			UploadsDir:  "incoming",
			DenyGlobs:   []string{".git/**", ".env*", "**/.env*", "**/*.pem", "**/id_*"},
			MaxDownload: 20 << 20,
			MaxUpload:   50 << 20,
		},
		Budgets: Budgets{WarnAt: DefaultWarnAt, Timezone: DefaultBudgetTimezone},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant\n%+v", got, want)
	}
	for _, e := range EngineNames() {
		if got.Sandbox.Images[e] != "localhost/untether-"+e+":latest" {
			t.Errorf("default image for %s = %q", e, got.Sandbox.Images[e])
		}
	}
}

// problemCases are configs with problems and the keys those problems are
// reported under, sorted; a key repeats when it has several problems.
var problemCases = []struct {
	name string
	toml string
	want []string
}{
	{"unknown top-level key", `colour = "blue"` + tg, []string{"colour"}},
	{"unknown top-level table", tg + "[slack]\nurl = 'x'\n", []string{"slack"}},
	{"unknown key in telegram", tg + `bot_tokn = "x"`, []string{"transports.telegram.bot_tokn"}},
	{"unknown transport", tg + "[transports.slack]\nx = 1\n", []string{"transports.slack"}},
	{"unknown key in project", tg + "[projects.web]\npath = '/w'\nwrkdir = 'x'\n", []string{"projects.web.wrkdir"}},
	{"unknown key in sandbox", tg + "[sandbox]\nmemroy = '1GiB'\n", []string{"sandbox.memroy"}},
	{"unknown key in project sandbox", tg + "[projects.web]\npath = '/w'\n[projects.web.sandbox]\nmemroy = '1GiB'\n", []string{"projects.web.sandbox.memroy"}},
	{"unknown key in engine table", tg + "[claude]\nmodle = 'x'\n", []string{"claude.modle"}},
	{"unknown quoted key", tg + `"odd key" = 1`, []string{`transports.telegram."odd key"`}},
	{"transport not telegram", `transport = "slack"` + tg, []string{"transport"}},

	{"bad top-level types", "default_engine = 1\ndefault_project = []\ninstance = 7\n" + tg,
		[]string{"default_engine", "default_project", "instance"}},
	{"bad telegram types", `
[transports.telegram]
bot_token = "` + testToken + `"
allowed_user_ids = "42"
chat_id = "123"
show_resume_line = "yes"
drafts = "no"
session_mode = 1
poll_timeout = 30
api_url = false
`, []string{
		"transports.telegram.allowed_user_ids", "transports.telegram.api_url", "transports.telegram.chat_id",
		"transports.telegram.drafts", "transports.telegram.poll_timeout", "transports.telegram.session_mode", "transports.telegram.show_resume_line",
	}},
	{"bad element type", strings.Replace(tg, "[42]", `[42, "43"]`, 1), []string{"transports.telegram.allowed_user_ids"}},
	{"bad sandbox types", tg + "[sandbox]\ncpus = '2'\npids = 1.5\nmemory = true\ntimeout = 30\nnetwork = 0\nbackend = 1\nimages = 'x'\n",
		[]string{"sandbox.backend", "sandbox.cpus", "sandbox.images", "sandbox.memory", "sandbox.network", "sandbox.pids", "sandbox.timeout"}},
	{"bad engine table types", tg + "[codex]\nmodel = 5\nextra_args = '--x'\n[pi]\nextra_args = [1]\n",
		[]string{"codex.extra_args", "codex.model", "pi.extra_args"}},
	{"engine table not a table", "claude = 'sonnet'\n" + tg, []string{"claude"}},
	{"project not a table", tg + "[projects]\nweb = '/w'\n", []string{"projects.web"}},
	{"projects not a table", "projects = 1\n" + tg, []string{"projects"}},
	{"telegram not a table", "transports = { telegram = 1 }\n", []string{"transports.telegram", "transports.telegram.allowed_user_ids", "transports.telegram.bot_token"}},
	{"array of tables", tg + "[[projects.web]]\npath = '/w'\n", []string{"projects.web"}},

	{"missing token", "[transports.telegram]\nallowed_user_ids = [42]\n", []string{"transports.telegram.bot_token"}},
	{"empty token", "[transports.telegram]\nbot_token = ''\nallowed_user_ids = [42]\n", []string{"transports.telegram.bot_token"}},
	{"malformed token", "[transports.telegram]\nbot_token = 'hello'\nallowed_user_ids = [42]\n", []string{"transports.telegram.bot_token"}},
	{"both token keys", tg + "bot_token_file = 'token'\n", []string{"transports.telegram.bot_token"}},
	{"no telegram section", "", []string{"transports.telegram.allowed_user_ids", "transports.telegram.bot_token"}},
	{"empty allowlist", strings.Replace(tg, "[42]", "[]", 1), []string{"transports.telegram.allowed_user_ids"}},
	{"missing allowlist", strings.Replace(tg, "allowed_user_ids = [42]", "", 1), []string{"transports.telegram.allowed_user_ids"}},
	{"bad and duplicate user ids", strings.Replace(tg, "[42]", "[42, -7, 0, 42]", 1),
		[]string{"transports.telegram.allowed_user_ids", "transports.telegram.allowed_user_ids", "transports.telegram.allowed_user_ids"}},
	{"bad session mode", tg + "session_mode = 'sticky'\n", []string{"transports.telegram.session_mode"}},
	{"poll timeout out of range", tg + "poll_timeout = '60s'\n", []string{"transports.telegram.poll_timeout"}},
	{"poll timeout not a duration", tg + "poll_timeout = 'soon'\n", []string{"transports.telegram.poll_timeout"}},
	{"api url with path", tg + "api_url = 'https://api.telegram.org/bot'\n", []string{"transports.telegram.api_url"}},
	{"api url with query", tg + "api_url = 'https://api.telegram.org?x=1'\n", []string{"transports.telegram.api_url"}},
	{"api url not http", tg + "api_url = 'ftp://api.telegram.org'\n", []string{"transports.telegram.api_url"}},
	{"api url without host", tg + "api_url = 'https://'\n", []string{"transports.telegram.api_url"}},

	{"duplicate project chat ids", tg + `
[projects.a]
path = "/a"
chat_id = -100
[projects.b]
path = "/b"
chat_id = -100
[projects.c]
path = "/c"
chat_id = -100
`, []string{"projects.b.chat_id", "projects.c.chat_id"}},
	{"duplicate project topics", tg + `
[projects.a]
path = "/a"
chat_id = -100
topic_id = 7
[projects.b]
path = "/b"
chat_id = -100
topic_id = 7
[projects.c]
path = "/c"
chat_id = -100
`, []string{"projects.b.topic_id"}},
	{"topic without chat", tg + "[projects.web]\npath = '/w'\ntopic_id = 3\n", []string{"projects.web.topic_id"}},
	{"worktrees out of the project", tg + "[projects.web]\npath = '/w'\nworktrees_dir = '../wt'\nworktree_base = '-x'\n", []string{"projects.web.worktree_base", "projects.web.worktrees_dir"}},
	{"worktrees in .git", tg + "[projects.web]\npath = '/w'\nworktrees_dir = '.git/wt'\n", []string{"projects.web.worktrees_dir"}},
	{"topic not positive", tg + "[projects.web]\npath = '/w'\nchat_id = -1\ntopic_id = 0\n", []string{"projects.web.topic_id"}},
	{"unknown drain policy", "drain = 'later'\n" + tg, []string{"drain"}},
	{"drain timeout too long", "drain_timeout = '1h'\n" + tg, []string{"drain_timeout"}},
	{"missed_after negative", tg + "missed_after = '-1h'\n", []string{"transports.telegram.missed_after"}},
	{"project without path", tg + "[projects.web]\nchat_id = -1\n", []string{"projects.web.path"}},
	{"project empty path", tg + "[projects.web]\npath = ''\n", []string{"projects.web.path"}},
	{"project path with other variable", tg + "[projects.web]\npath = '$XDG_DATA_HOME/web'\n", []string{"projects.web.path"}},
	{"project path with ~user", tg + "[projects.web]\npath = '~bob/web'\n", []string{"projects.web.path"}},
	{"invalid project name", tg + "[projects.Web]\npath = '/w'\n[projects.\"my site\"]\npath = '/m'\n", []string{`projects."my site"`, "projects.Web"}},
	{"project name too long", tg + "[projects." + strings.Repeat("a", 33) + "]\npath = '/w'\n", []string{"projects." + strings.Repeat("a", 33)}},
	{"project name taken by a command", tg + "[projects.claude]\npath = '/c'\n[projects.help]\npath = '/h'\n", []string{"projects.claude", "projects.help"}},

	{"bad sizes", tg + "[sandbox]\nmemory = '2XB'\nswap = 'lots'\n[projects.web]\npath = '/w'\n[projects.web.sandbox]\nmemory = -5\n",
		[]string{"projects.web.sandbox.memory", "sandbox.memory", "sandbox.swap"}},
	{"memory too small", tg + "[sandbox]\nmemory = '8MiB'\n", []string{"sandbox.memory"}},
	{"size overflow", tg + "[sandbox]\nmemory = '99999999999TiB'\n", []string{"sandbox.memory"}},
	{"swap below memory", tg + "[sandbox]\nmemory = '2GiB'\nswap = '1GiB'\n", []string{"sandbox.swap"}},
	{"project swap below memory", tg + "[projects.web]\npath = '/w'\n[projects.web.sandbox]\nmemory = '4GiB'\nswap = '3GiB'\n",
		[]string{"projects.web.sandbox.swap"}},
	{"project swap below global memory", tg + "[projects.web]\npath = '/w'\n[projects.web.sandbox]\nswap = '1GiB'\n",
		[]string{"projects.web.sandbox.swap"}},
	{"project memory above global swap", tg + "[sandbox]\nswap = '3GiB'\n[projects.web]\npath = '/w'\n[projects.web.sandbox]\nmemory = '4GiB'\n",
		[]string{"projects.web.sandbox.memory"}},
	{"bad limits", tg + "[sandbox]\npids = 8\ncpus = 0\ntimeout = '500ms'\nstop_grace = '-1s'\n",
		[]string{"sandbox.cpus", "sandbox.pids", "sandbox.stop_grace", "sandbox.timeout"}},
	{"no concurrent runs", tg + "[sandbox]\nmax_concurrent_runs = 0\n", []string{"sandbox.max_concurrent_runs"}},
	{"too many concurrent runs", tg + "[sandbox]\nmax_concurrent_runs = 65\n", []string{"sandbox.max_concurrent_runs"}},
	{"concurrent runs not an integer", tg + "[sandbox]\nmax_concurrent_runs = '4'\n", []string{"sandbox.max_concurrent_runs"}},
	{"concurrent runs per project", tg + "[projects.web]\npath = '/w'\n[projects.web.sandbox]\nmax_concurrent_runs = 2\n",
		[]string{"projects.web.sandbox.max_concurrent_runs"}},
	{"cpus not finite", tg + "[sandbox]\ncpus = nan\n", []string{"sandbox.cpus"}},
	{"bad network and backend", tg + "[sandbox]\nnetwork = 'bridge'\nbackend = 'docker'\n", []string{"sandbox.backend", "sandbox.network"}},
	{"bad podman urls", tg + "[sandbox]\npodman_url = 'http://localhost'\n", []string{"sandbox.podman_url"}},
	{"relative unix socket", tg + "[sandbox]\npodman_url = 'unix://podman.sock'\n", []string{"sandbox.podman_url"}},
	{"process backend cannot cut network", tg + "[sandbox]\nbackend = 'process'\n[projects.web]\npath = '/w'\n[projects.web.sandbox]\nnetwork = 'none'\n",
		[]string{"projects.web.sandbox.network"}},

	{"bad engine names", "default_engine = 'gpt'\n" + tg + "[sandbox.images]\nchatgpt = 'x'\nclaude = ''\n[projects.web]\npath = '/w'\ndefault_engine = 'Claude'\n",
		[]string{"default_engine", "projects.web.default_engine", "sandbox.images.chatgpt", "sandbox.images.claude"}},
	{"bad instance", "instance = 'Staging!'\n" + tg, []string{"instance"}},
	{"instance too long", "instance = '" + strings.Repeat("a", 33) + "'\n" + tg, []string{"instance"}},
	{"default project unknown", "default_project = 'nope'\n" + tg, []string{"default_project"}},

	{"many problems at once", "default_engine = 'gpt'\ncolour = 1\n" + `
[transports.telegram]
chat_id = "x"
allowed_user_ids = []
[projects.web]
path = 3
[sandbox]
memory = "1MiB"
swap = "lots"
`, []string{
		"colour", "default_engine", "projects.web.path", "sandbox.memory", "sandbox.swap",
		"transports.telegram.allowed_user_ids", "transports.telegram.bot_token", "transports.telegram.chat_id",
	}},
	{"syntax error", tg + "memory = \n", []string{""}},

	{"unknown key in files", tg + "[files]\nenable = true\n", []string{"files.enable"}},
	{"bad files types", tg + "[files]\nenabled = 'yes'\nuploads_dir = 1\ndeny_globs = '.git'\nmax_download = true\nmax_upload = [1]\n",
		[]string{"files.deny_globs", "files.enabled", "files.max_download", "files.max_upload", "files.uploads_dir"}},
	{"files not a table", "files = true\n" + tg, []string{"files"}},
	{"uploads dir absolute", tg + "[files]\nuploads_dir = '/srv/in'\n", []string{"files.uploads_dir"}},
	{"uploads dir escapes", tg + "[files]\nuploads_dir = 'in/../../out'\n", []string{"files.uploads_dir"}},
	{"uploads dir with ~", tg + "[files]\nuploads_dir = '~/in'\n", []string{"files.uploads_dir"}},
	{"uploads dir empty", tg + "[files]\nuploads_dir = ' '\n", []string{"files.uploads_dir"}},
	{"uploads dir is the project", tg + "[files]\nuploads_dir = './'\n", []string{"files.uploads_dir"}},
	{"bad deny globs", tg + "[files]\ndeny_globs = ['ok/**', '[a', '{a,b', 'a}', '/abs', '', '../x', 'x\\', '[]a]']\n",
		[]string{"files.deny_globs", "files.deny_globs", "files.deny_globs", "files.deny_globs", "files.deny_globs", "files.deny_globs", "files.deny_globs", "files.deny_globs"}},
	{"public api download limit", tg + "[files]\nmax_download = '21MiB'\n", []string{"files.max_download"}},
	{"public api upload limit", tg + "[files]\nmax_upload = '51MiB'\n", []string{"files.max_upload"}},
	{"explicit public api limit", tg + "api_url = 'https://api.telegram.org/'\n[files]\nmax_upload = '1GiB'\n", []string{"files.max_upload"}},
	{"local api limit", tg + "api_url = 'http://127.0.0.1:8081'\n[files]\nmax_download = '2001MiB'\nmax_upload = '3GiB'\n", []string{"files.max_download", "files.max_upload"}},
	{"zero limits", tg + "[files]\nmax_download = 0\nmax_upload = '0MiB'\n", []string{"files.max_download", "files.max_upload"}},

	{"voice without base url", tg + "[voice]\nmodel = 'whisper-1'\n", []string{"voice.base_url"}},
	{"empty voice table", tg + "[voice]\n", []string{"voice.base_url"}},
	{"voice not a table", "voice = 'openai'\n" + tg, []string{"voice"}},
	{"unknown key in voice", tg + "[voice]\nbase_url = 'https://api.openai.com/v1'\nlanguge = 'en'\n", []string{"voice.languge"}},
	{"bad voice types", tg + "[voice]\nbase_url = 1\nmodel = 2\napi_key = 3\nlanguage = 4\nshow_transcript = 'no'\ntranscript_prefix = 5\ntimeout = 60\n",
		[]string{"voice.api_key", "voice.base_url", "voice.language", "voice.model", "voice.show_transcript", "voice.timeout", "voice.transcript_prefix"}},
	{"bad base urls", tg + "[voice]\nbase_url = 'api.openai.com/v1'\n", []string{"voice.base_url"}},
	{"base url with endpoint", tg + "[voice]\nbase_url = 'https://api.openai.com/v1/audio/transcriptions'\n", []string{"voice.base_url"}},
	{"base url with query", tg + "[voice]\nbase_url = 'https://api.openai.com/v1?x=1'\n", []string{"voice.base_url"}},
	{"bad voice values", tg + "[voice]\nbase_url = 'https://api.openai.com/v1'\nmodel = ''\nlanguage = 'english'\ntranscript_prefix = ''\ntimeout = '1h'\n",
		[]string{"voice.language", "voice.model", "voice.timeout", "voice.transcript_prefix"}},
	{"upper-case language", tg + "[voice]\nbase_url = 'https://api.openai.com/v1'\nlanguage = 'EN'\n", []string{"voice.language"}},

	{"webhook without listen", tg + webProject + hook(""), []string{"triggers.listen"}},
	{"triggers not a table", "triggers = 1\n" + tg, []string{"triggers"}},
	{"webhooks not an array of tables", tg + "[triggers]\nlisten = '127.0.0.1:1'\n[triggers.webhooks]\nid = 'a'\n", []string{"triggers.webhooks"}},
	{"unknown key in triggers", tg + "[triggers]\nlisten = '127.0.0.1:1'\nlistn = 'x'\n", []string{"triggers.listn"}},
	{"unknown key in a webhook", tg + webProject + listen + hook("secrt = 'x'"), []string{"triggers.webhooks[1].secrt"}},
	{"listen without a host", tg + "[triggers]\nlisten = ':9876'\n", []string{"triggers.listen"}},
	{"listen without a port", tg + "[triggers]\nlisten = '127.0.0.1'\n", []string{"triggers.listen"}},
	{"listen on port 0", tg + "[triggers]\nlisten = '127.0.0.1:0'\n", []string{"triggers.listen"}},
	{"listen on a named port", tg + "[triggers]\nlisten = '127.0.0.1:http'\n", []string{"triggers.listen"}},
	{"listen on a host name", tg + "[triggers]\nlisten = 'example.com:9876'\n", []string{"triggers.listen"}},
	{"listen not a string", tg + "[triggers]\nlisten = 9876\n", []string{"triggers.listen"}},
	{"webhook without anything", tg + listen + "[[triggers.webhooks]]\n",
		[]string{"triggers.webhooks[1].id", "triggers.webhooks[1].path", "triggers.webhooks[1].project", "triggers.webhooks[1].prompt_template", "triggers.webhooks[1].secret"}},
	{"bad webhook id", tg + webProject + listen + hook("id = 'GH'"), []string{"triggers.webhooks[1].id"}},
	{"duplicate webhook ids", tg + webProject + listen + hook("") + hook("path = '/b'"), []string{"triggers.webhooks[2].id"}},
	{"duplicate webhook paths", tg + webProject + listen + hook("") + hook("id = 'b'"), []string{"triggers.webhooks[2].path"}},
	{"relative webhook path", tg + webProject + listen + hook("path = 'hooks'"), []string{"triggers.webhooks[1].path"}},
	{"unclean webhook path", tg + webProject + listen + hook("path = '/hooks/'"), []string{"triggers.webhooks[1].path"}},
	{"webhook path with a query", tg + webProject + listen + hook("path = '/hooks?a=1'"), []string{"triggers.webhooks[1].path"}},
	{"unknown auth", tg + webProject + listen + hook("auth = 'basic'"), []string{"triggers.webhooks[1].auth"}},
	{"unknown project", tg + listen + hook(""), []string{"triggers.webhooks[1].project"}},
	{"unknown engine", tg + webProject + listen + hook("engine = 'gpt'"), []string{"triggers.webhooks[1].engine"}},
	{"bad template", tg + webProject + listen + hook("prompt_template = '{{ .a'"), []string{"triggers.webhooks[1].prompt_template"}},
	{"unknown template function", tg + webProject + listen + hook("prompt_template = '{{ upper .a }}'"), []string{"triggers.webhooks[1].prompt_template"}},
	{"blank template", tg + webProject + listen + hook("prompt_template = ' '"), []string{"triggers.webhooks[1].prompt_template"}},
	{"bad event filter", tg + webProject + listen + hook("event_filter = ['issues', 'Issues', 'issues.opened.now', '']"),
		[]string{"triggers.webhooks[1].event_filter", "triggers.webhooks[1].event_filter", "triggers.webhooks[1].event_filter"}},
	{"event filter not a list", tg + webProject + listen + hook("event_filter = 'issues'"), []string{"triggers.webhooks[1].event_filter"}},
}

// webProject, listen and hook build webhook configs: hook returns a valid
// [[triggers.webhooks]] with the keys of extra replacing its own.
const (
	webProject = "[projects.web]\npath = '/w'\n"
	listen     = "[triggers]\nlisten = '127.0.0.1:9876'\n"
)

func hook(extra string) string {
	keys := map[string]string{
		"id": "id = 'a'", "path": "path = '/a'", "secret": "secret = '" + testWebhookSecret + "'",
		"project": "project = 'web'", "prompt_template": "prompt_template = 'go {{ .x }}'",
	}
	var b strings.Builder
	b.WriteString("[[triggers.webhooks]]\n")
	for _, line := range strings.Split(extra, "\n") {
		k, _, _ := strings.Cut(line, " ")
		if k != "" {
			keys[k] = line
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		b.WriteString(keys[k] + "\n")
	}
	return b.String()
}

func TestParseProblems(t *testing.T) {
	for _, tt := range problemCases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), testPath, env())
			if err == nil {
				t.Fatalf("Parse succeeded, want problems %q: %+v", tt.want, c)
			}
			if c != nil {
				t.Errorf("Parse returned a config along with an error")
			}
			if got := problemKeys(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problem keys = %q, want %q\n%v", got, tt.want, err)
			}
			if strings.Contains(err.Error(), testSecretPart) {
				t.Errorf("error holds the token:\n%v", err)
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	tests := []struct {
		name     string
		toml     string
		wantLine string
		hidden   bool
	}{
		{"bad value", tg + "memory = \n", "line 5:", false},
		{"duplicate key", tg + "allowed_user_ids = [1]\n", "line 5:", false},
		{"unquoted token", "[transports.telegram]\nbot_token = " + testToken + "\n", "line 2:", true},
		{"unterminated token", "[transports.telegram]\nbot_token = \"" + testToken + "\n", "line ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), testPath, env())
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != 1 {
				t.Fatalf("Parse error = %v, want one problem", err)
			}
			msg := cerr.Problems[0].Msg
			if !strings.HasPrefix(msg, tt.wantLine) {
				t.Errorf("message %q does not start with %q", msg, tt.wantLine)
			}
			if got := strings.Contains(msg, "withheld"); got != tt.hidden {
				t.Errorf("details withheld = %v, want %v: %q", got, tt.hidden, msg)
			}
			if strings.Contains(err.Error(), testSecretPart) || strings.Contains(err.Error(), "AAHdq") {
				t.Errorf("error holds the token: %v", err)
			}
		})
	}
}

func TestBotTokenSources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "untether.toml")
	home := filepath.Join(dir, "home")
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("token", "\n  "+testToken+"  \n")
	write("home/.secrets/bot", testToken)
	write("empty", " \n")
	write("garbage", "not a token "+testSecretPart)

	const allow = "allowed_user_ids = [42]\n"
	tests := []struct {
		name     string
		telegram string
		env      []string
		want     string // the token, or the key of the expected problem
		wantErr  bool
	}{
		{"literal", `bot_token = "` + testToken + `"`, nil, testToken, false},
		{"literal beats env", `bot_token = "` + testToken + `"`, []string{EnvBotToken, "999:other"}, testToken, false},
		{"file relative to config dir", `bot_token_file = "token"`, nil, testToken, false},
		{"file absolute", `bot_token_file = "` + filepath.Join(dir, "token") + `"`, nil, testToken, false},
		{"file under home", `bot_token_file = "~/.secrets/bot"`, nil, testToken, false},
		{"file beats env", `bot_token_file = "token"`, []string{EnvBotToken, "999:other"}, testToken, false},
		{"env fallback", ``, []string{EnvBotToken, " " + testToken + "\n"}, testToken, false},
		{"missing everywhere", ``, nil, "transports.telegram.bot_token", true},
		{"malformed env", ``, []string{EnvBotToken, "secretvalue"}, "transports.telegram.bot_token", true},
		{"missing file", `bot_token_file = "nope"`, []string{EnvBotToken, testToken}, "transports.telegram.bot_token_file", true},
		{"empty file", `bot_token_file = "empty"`, nil, "transports.telegram.bot_token_file", true},
		{"empty file name", `bot_token_file = ""`, nil, "transports.telegram.bot_token_file", true},
		{"file is a directory", `bot_token_file = "home"`, nil, "transports.telegram.bot_token_file", true},
		{"file content not a token", `bot_token_file = "garbage"`, nil, "transports.telegram.bot_token_file", true},
		{"file and literal", `bot_token = "` + testToken + `"` + "\nbot_token_file = \"token\"", nil, "transports.telegram.bot_token", true},
		{"token wrong type", `bot_token = 123`, []string{EnvBotToken, testToken}, "transports.telegram.bot_token", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := "[transports.telegram]\n" + allow + tt.telegram + "\n"
			c, err := Parse([]byte(data), path, env(append([]string{"HOME", home}, tt.env...)...))
			if tt.wantErr {
				if got := problemKeys(t, err); !slices.Equal(got, []string{tt.want}) {
					t.Errorf("problem keys = %q, want [%q]\n%v", got, tt.want, err)
				}
				if strings.Contains(err.Error(), testSecretPart) || strings.Contains(err.Error(), "secretvalue") {
					t.Errorf("error holds the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.Telegram.BotToken.Reveal(); got != tt.want {
				t.Errorf("token = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVoiceKeySources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "untether.toml")
	for name, content := range map[string]string{"openai.key": "\n " + testAPIKey + " \n", "empty": "\n", "spaced": "sk-a b"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		voice   string
		env     []string
		want    string // the key, or the key path of the expected problem
		wantErr bool
	}{
		{"none", ``, nil, "", false},
		{"literal", `api_key = "` + testAPIKey + `"`, nil, testAPIKey, false},
		{"file", `api_key_file = "openai.key"`, nil, testAPIKey, false},
		{"env", `api_key_env = "OPENAI_API_KEY"`, []string{"OPENAI_API_KEY", " " + testAPIKey + "\n"}, testAPIKey, false},
		{"bot token variable not taken", ``, []string{EnvBotToken, testToken}, "", false},
		{"two sources", `api_key = "` + testAPIKey + `"` + "\napi_key_env = 'OPENAI_API_KEY'", []string{"OPENAI_API_KEY", "x"}, "voice.api_key", true},
		{"file and env", "api_key_file = 'openai.key'\napi_key_env = 'OPENAI_API_KEY'", nil, "voice.api_key_file", true},
		{"empty literal", `api_key = ""`, nil, "voice.api_key", true},
		{"literal with spaces", `api_key = "` + testAPIKey + ` "`, nil, "voice.api_key", true},
		{"missing file", `api_key_file = "nope"`, nil, "voice.api_key_file", true},
		{"empty file", `api_key_file = "empty"`, nil, "voice.api_key_file", true},
		{"file with spaces", `api_key_file = "spaced"`, nil, "voice.api_key_file", true},
		{"unset variable", `api_key_env = "OPENAI_API_KEY"`, nil, "voice.api_key_env", true},
		{"bad variable name", `api_key_env = "$OPENAI_API_KEY"`, []string{"OPENAI_API_KEY", testAPIKey}, "voice.api_key_env", true},
		{"file wrong type", `api_key_file = 1`, nil, "voice.api_key_file", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tg + "[voice]\nbase_url = 'https://api.openai.com/v1'\n" + tt.voice + "\n"
			c, err := Parse([]byte(data), path, env(tt.env...))
			if tt.wantErr {
				if got := problemKeys(t, err); !slices.Equal(got, []string{tt.want}) {
					t.Errorf("problem keys = %q, want [%q]\n%v", got, tt.want, err)
				}
				if strings.Contains(err.Error(), testAPIKeySecret) {
					t.Errorf("error holds the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.Voice.APIKey.Reveal(); got != tt.want {
				t.Errorf("key = %q, want %q", got, tt.want)
			}
			if s := fmt.Sprintf("%v %+v %#v", c.Voice, *c.Voice, c); strings.Contains(s, testAPIKeySecret) {
				t.Errorf("printing the config shows the key: %s", s)
			}
		})
	}
}

func TestFileLimits(t *testing.T) {
	tests := []struct {
		name, apiURL, files      string
		wantDownload, wantUpload int64
	}{
		{"public defaults", "", "", 20 << 20, 50 << 20},
		{"public, lower", "", "max_download = '5MiB'\nmax_upload = 1048576", 5 << 20, 1 << 20},
		{"public, at the limits", "", "max_download = '20MiB'\nmax_upload = '50MiB'", 20 << 20, 50 << 20},
		{"local defaults stay", "http://127.0.0.1:8081", "", 20 << 20, 50 << 20},
		{"local, raised", "http://127.0.0.1:8081", "max_download = '2000MiB'\nmax_upload = '1GiB'", 2000 << 20, 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tg
			if tt.apiURL != "" {
				data += "api_url = '" + tt.apiURL + "'\n"
			}
			c := mustParse(t, data+"[files]\n"+tt.files+"\n", testPath, env())
			if c.Files.MaxDownload != tt.wantDownload || c.Files.MaxUpload != tt.wantUpload {
				t.Errorf("limits %d/%d, want %d/%d", c.Files.MaxDownload, c.Files.MaxUpload, tt.wantDownload, tt.wantUpload)
			}
		})
	}
	c := mustParse(t, tg+"[files]\nenabled = false\ndeny_globs = []\n", testPath, env())
	if c.Files.Enabled || c.Files.DenyGlobs == nil || len(c.Files.DenyGlobs) != 0 {
		t.Errorf("files = %+v, want disabled with an empty, non-nil deny list", c.Files)
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	tests := []struct {
		name string
		toml string
	}{
		{"token in api_url", tg + `api_url = "https://api.telegram.org/bot` + testToken + `"`},
		{"token in project path variable", tg + "[projects.web]\npath = '$X/" + testToken + "'\n"},
		{"token as unknown key value", tg + `extra = "` + testToken + `"`},
		{"token with spaces", "[transports.telegram]\nbot_token = ' " + testToken + " '\nallowed_user_ids = [1]\n"},
		{"token as size", tg + "[sandbox]\nmemory = '" + testToken + "'\n"},
		{"api key as a language", tg + "[voice]\nbase_url = 'https://x/v1'\napi_key = '" + testAPIKey + "'\nlanguage = '" + testAPIKey + "'\n"},
		{"api key in base url", tg + "[voice]\nbase_url = 'https://u:" + testAPIKey + "@x/v1'\n"},
		{"api key in an upload dir", tg + "[voice]\nbase_url = 'https://x/v1'\napi_key = '" + testAPIKey + "'\n[files]\nuploads_dir = '/" + testAPIKey + "'\n"},
		{"unterminated api key", tg + "[voice]\nbase_url = 'https://x/v1'\napi_key = '" + testAPIKey + "\n"},
		{"webhook secret as a path", tg + webProject + listen + hook("path = '/"+testWebhookSecret+"/'")},
		{"webhook secret with a control character", tg + webProject + listen + hook(`secret = "`+testWebhookSecret+`\u0007"`)},
		{"unterminated webhook secret", tg + webProject + listen + "[[triggers.webhooks]]\nsecret = '" + testWebhookSecret + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), testPath, env())
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if strings.Contains(err.Error(), testSecretPart) || strings.Contains(err.Error(), testAPIKeySecret) ||
				strings.Contains(err.Error(), testWebhookSecret) {
				t.Errorf("error holds a secret:\n%v", err)
			}
		})
	}
}

func TestEffectiveLimits(t *testing.T) {
	tests := []struct {
		name    string
		sandbox string // [sandbox] keys
		project string // [projects.p.sandbox] keys
		want    Limits
	}{
		{"defaults", "", "", Limits{2 << 30, 2 << 30, 512, 2, 30 * time.Minute}},
		{"global only", "memory = '1GiB'\npids = 64", "", Limits{1 << 30, 1 << 30, 64, 2, 30 * time.Minute}},
		{"project memory, no swap anywhere", "memory = '1GiB'", "memory = '3GiB'", Limits{3 << 30, 3 << 30, 512, 2, 30 * time.Minute}},
		{"global swap carries over", "memory = '1GiB'\nswap = '4GiB'", "memory = '2GiB'", Limits{2 << 30, 4 << 30, 512, 2, 30 * time.Minute}},
		{"project swap wins", "swap = '4GiB'", "swap = '8GiB'", Limits{2 << 30, 8 << 30, 512, 2, 30 * time.Minute}},
		{"plain bytes and float cpus", "", "memory = 1073741824\ncpus = 1.5\ntimeout = '90s'", Limits{1 << 30, 1 << 30, 512, 1.5, 90 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tg + "[sandbox]\n" + tt.sandbox + "\n[projects.p]\npath = '/p'\n[projects.p.sandbox]\n" + tt.project + "\n"
			c := mustParse(t, data, testPath, env())
			if got := c.Projects[0].Sandbox; got != tt.want {
				t.Errorf("limits = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMaxConcurrentRuns(t *testing.T) {
	tests := []struct {
		name    string
		sandbox string // [sandbox] keys
		want    int
	}{
		{"default", "", 4},
		{"lowest", "max_concurrent_runs = 1", 1},
		{"highest", "max_concurrent_runs = 64", 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tg+"[sandbox]\n"+tt.sandbox+"\n", testPath, env())
			if got := c.Sandbox.MaxConcurrentRuns; got != tt.want {
				t.Errorf("MaxConcurrentRuns = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestInstance(t *testing.T) {
	tests := []struct {
		name, path, key, want string
		wantErr               bool
	}{
		{"dot dir", "/home/u/.untether/untether.toml", "", "untether", false},
		{"staging dir", "/home/u/.untether-staging/untether.toml", "", "untether-staging", false},
		{"mixed case and underscores", "/srv/My_Bot.Dev/untether.toml", "", "my-bot-dev", false},
		{"odd characters dropped", "/srv/über-bot!/untether.toml", "", "ber-bot", false},
		{"long name truncated", "/srv/" + strings.Repeat("ab", 20) + "/untether.toml", "", strings.Repeat("ab", 16), false},
		{"key wins", "/home/u/.untether/untether.toml", "dev", "dev", false},
		{"root dir underivable", "/untether.toml", "", "", true},
		{"only dots and symbols", "/srv/.../untether.toml", "", "", true},
		{"key rescues underivable dir", "/untether.toml", "prod", "prod", false},
		{"bad key", "/home/u/.untether/untether.toml", "-dev", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tg
			if tt.key != "" {
				data = "instance = '" + tt.key + "'\n" + tg
			}
			c, err := Parse([]byte(data), tt.path, env())
			if tt.wantErr {
				if got := problemKeys(t, err); !slices.Equal(got, []string{"instance"}) {
					t.Errorf("problem keys = %q, want [instance]", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Instance != tt.want {
				t.Errorf("Instance = %q, want %q", c.Instance, tt.want)
			}
		})
	}
}

func TestResolvePath(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, flag, env, home, want string
		wantErr                     bool
	}{
		{"flag wins", "/etc/untether/dev.toml", "/srv/env.toml", "/home/u", "/etc/untether/dev.toml", false},
		{"env next", "", "/srv/env.toml", "/home/u", "/srv/env.toml", false},
		{"home default", "", "", "/home/u", "/home/u/.untether/untether.toml", false},
		{"relative flag", "conf/u.toml", "", "/home/u", filepath.Join(cwd, "conf/u.toml"), false},
		{"tilde flag", "~/dev/untether.toml", "", "/home/u", "/home/u/dev/untether.toml", false},
		{"tilde env", "", "~/staging/untether.toml", "/home/u", "/home/u/staging/untether.toml", false},
		{"cleaned", "/etc/../srv//u.toml", "", "/home/u", "/srv/u.toml", false},
		{"no home needed with flag", "/x.toml", "", "", "/x.toml", false},
		{"no home", "", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolvePath(tt.flag, env(EnvConfigPath, tt.env), tt.home)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ResolvePath error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ResolvePath = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good", "untether.toml")
	bad := filepath.Join(dir, "bad", "untether.toml")
	for p, content := range map[string]string{good: tg, bad: tg + "x = 1\n"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	c, err := Load(good, env())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Path != good || c.Dir != filepath.Dir(good) || c.Instance != "good" {
		t.Errorf("Load: Path %q Dir %q Instance %q", c.Path, c.Dir, c.Instance)
	}

	_, err = Load(filepath.Join(dir, "missing.toml"), env())
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Load(missing) = %v, want ErrNotFound", err)
	}

	_, err = Load(bad, env())
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Path != bad {
		t.Fatalf("Load(bad) = %v, want *Error for %s", err, bad)
	}
	if want := bad + ": transports.telegram.x: unknown key"; err.Error() != want {
		t.Errorf("Load(bad) = %q, want %q", err, want)
	}
	if errors.Is(err, ErrNotFound) {
		t.Errorf("Load(bad) matches ErrNotFound")
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Path: "/c/untether.toml", Problems: []Problem{
		{"sandbox.memory", "too small"},
		{"", "line 3: invalid TOML"},
		{"default_engine", "unknown engine"},
	}}
	want := "/c/untether.toml: line 3: invalid TOML\n" +
		"/c/untether.toml: default_engine: unknown engine\n" +
		"/c/untether.toml: sandbox.memory: too small"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if e.Problems[0].Key != "sandbox.memory" {
		t.Errorf("Error() reordered the problems")
	}
}

func TestCheckPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "proj"), 0o700); err != nil {
		t.Fatal(err)
	}
	data := tg + `
[projects.ok]
path = "proj"
[projects.missing]
path = "nope"
[projects.plain]
path = "file"
`
	c := mustParse(t, data, filepath.Join(dir, "untether.toml"), env())
	var keys []string
	for _, p := range c.CheckPaths() {
		keys = append(keys, p.Key)
	}
	if want := []string{"projects.missing.path", "projects.plain.path"}; !slices.Equal(keys, want) {
		t.Errorf("CheckPaths keys = %q, want %q", keys, want)
	}
}

func TestDefaultPodmanURL(t *testing.T) {
	tests := []struct {
		name string
		uid  int
		xdg  string
		want string
	}{
		{"root", 0, "/run/user/0", "unix:///run/podman/podman.sock"},
		{"user with runtime dir", 1000, "/run/user/1000/", "unix:///run/user/1000/podman/podman.sock"},
		{"user without runtime dir", 1001, "", "unix:///run/user/1001/podman/podman.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultPodmanURL(tt.uid, env("XDG_RUNTIME_DIR", tt.xdg)); got != tt.want {
				t.Errorf("DefaultPodmanURL = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"512MiB", 512 << 20, false},
		{"2GiB", 2 << 30, false},
		{"1G", 1 << 30, false},
		{"1gb", 1 << 30, false},
		{"500M", 500 << 20, false},
		{"1024K", 1 << 20, false},
		{"1024 kib", 1 << 20, false},
		{"1.5GiB", 3 << 29, false},
		{"1048576", 1 << 20, false},
		{"100B", 100, false},
		{"1TiB", 1 << 40, false},
		{"", 0, true},
		{"GiB", 0, true},
		{"-1G", 0, true},
		{"2XB", 0, true},
		{"1.2.3M", 0, true},
		{"9999999999T", 0, true},
		{"99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	for n, want := range map[int64]string{2 << 30: "2GiB", 1536 << 20: "1536MiB", 1000: "1000B", 0: "0B", 16 << 20: "16MiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestEngineEnv(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "claude.env"), []byte("# creds\nexport ANTHROPIC_API_KEY='sk-ant-secret'\nANTHROPIC_BASE_URL=http://127.0.0.1:9\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bad.env"), []byte("no equals here\nHOME=/x\n"), 0o600)
	base := "[transports.telegram]\nbot_token = '123:abc'\nallowed_user_ids = [1]\n"
	cfg, err := Parse([]byte(base+"[claude]\nenv_file = 'claude.env'\n[claude.env]\nANTHROPIC_BASE_URL = 'http://127.0.0.1:8'\n"),
		filepath.Join(dir, "untether.toml"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	env := cfg.Engines["claude"].Env
	if env["ANTHROPIC_API_KEY"].Reveal() != "sk-ant-secret" || env["ANTHROPIC_BASE_URL"].Reveal() != "http://127.0.0.1:8" {
		t.Errorf("env = %v", env)
	}
	_, err = Parse([]byte(base+"[codex]\nenv_file = 'bad.env'\n[codex.env]\nHOME = '/h'\n'1BAD' = 'x'\nOK = 3\n"),
		filepath.Join(dir, "untether.toml"), func(string) string { return "" })
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v", err)
	}
	var keys []string
	for _, p := range cerr.Problems {
		keys = append(keys, p.Key)
	}
	want := []string{"codex.env.1BAD", "codex.env.HOME", "codex.env.OK", "codex.env_file", "codex.env_file"}
	if !slices.Equal(keys, want) {
		t.Errorf("problem keys = %q, want %q", keys, want)
	}
	if strings.Contains(err.Error(), "sk-ant") {
		t.Errorf("problems quote a secret: %v", err)
	}
}

// TestExampleSections: the [files], [voice] and [triggers] examples,
// commented out in contrib/untether.example.toml, parse once uncommented,
// and the [files] one shows the defaults.
func TestExampleSections(t *testing.T) {
	data, err := os.ReadFile("../../contrib/untether.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n# [files]\n")
	if !ok {
		t.Fatal("no commented-out [files] in the example")
	}
	setting := regexp.MustCompile(`^# (\[\[?[a-z.]+\]\]?|[a-z_]+ = .*)$`)
	var b strings.Builder
	for _, line := range strings.Split("# [files]\n"+rest, "\n") {
		if line == "# [[triggers.crons]]" { // tested on its own
			break
		}
		if m := setting.FindStringSubmatch(line); m != nil {
			b.WriteString(m[1] + "\n")
		}
	}
	// The webhook's project is one of the example's.
	project := "[projects.test-codex]\npath = '/w'\n"
	c := mustParse(t, tg+project+b.String(), testPath, env("OPENAI_API_KEY", testAPIKey, "GITHUB_WEBHOOK_SECRET", testWebhookSecret))
	def := mustParse(t, tg, testPath, env())
	if !reflect.DeepEqual(c.Files, def.Files) {
		t.Errorf("the example's [files] %+v differs from the defaults %+v", c.Files, def.Files)
	}
	if c.Voice == nil || c.Voice.BaseURL != "https://api.openai.com/v1" || c.Voice.APIKey.Reveal() != testAPIKey {
		t.Errorf("the example's [voice] = %+v", c.Voice)
	}
	if tr := c.Triggers; tr.Listen != "127.0.0.1:9876" || len(tr.Webhooks) != 1 || tr.Webhooks[0].Secret.Reveal() != testWebhookSecret ||
		!strings.Contains(tr.Webhooks[0].PromptTemplate, "\n\n{{ .issue.body }}") {
		t.Errorf("the example's [triggers] = %+v", tr)
	}
}
