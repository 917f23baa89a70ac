// Package config owns untether.toml: its schema, its defaults, the strict
// decode and the validation that reports every problem of a file at once,
// each under its TOML key path.
//
// It is the only package of this module that imports the TOML library
// (github.com/BurntSushi/toml); deps_test.go enforces that. It imports nothing
// else of this module: cmd/untether translates a Config into the Options of
// each package, so no other package depends on the config schema. Where a
// section's defaults are another package's (orchestrator's file limits and
// deny globs, voice's model and timeout), they are repeated here as
// constants, and a test (agree_test.go) checks that they agree.
//
// Parsing has no side effects: it creates nothing and stats nothing. The
// only things it reads besides the config file are bot_token_file, the
// engines' env_file, voice.api_key_file and the webhooks' secret_file, when
// set, and the system's time zone database for the crons' timezone.
// Checking that project directories exist is left to Config.CheckPaths,
// which the daemon runs at startup.
//
// The keys of Untether's untether.toml (default_engine, default_project,
// transport, [transports.telegram], [projects.NAME], per-engine tables) keep
// their meaning, so an existing config keeps working; [sandbox],
// [projects.NAME.sandbox], [files], [voice], [triggers] and [budgets] are new. Unknown keys are
// problems, not warnings: a misspelt limit must not silently run a session
// without it.
//
// [files] (see Files) sets how files move between chats and projects:
//
//	[files]
//	enabled = true            # uploads, /file get|put, the outbox
//	uploads_dir = "incoming"  # relative to the project
//	deny_globs = [".git/**", ".env*", "**/.env*", "**/*.pem", "**/id_*"]
//	max_download = "20MiB"    # at most 20MiB with the public Bot API
//	max_upload = "50MiB"      # at most 50MiB; a local Bot API server: 2000MiB
//
// [voice] (see Voice) turns transcription of voice notes on; without it
// voice notes are not transcribed:
//
//	[voice]
//	base_url = "https://api.openai.com/v1"  # required; any OpenAI-compatible API
//	model = "whisper-1"
//	api_key_env = "OPENAI_API_KEY"  # or api_key, or api_key_file; none for no key
//	language = "en"                 # optional ISO-639-1 code
//	show_transcript = true
//	transcript_prefix = "🎙 "
//	timeout = "2m"
//
// [triggers] (see Triggers) holds what starts runs without a message. Each
// [[triggers.webhooks]] (see Webhook) is an endpoint of the listener at
// listen, which the webhooks need; a call signed with the webhook's secret
// starts a run of its project with the prompt rendered from the call's JSON
// body:
//
//	[triggers]
//	listen = "127.0.0.1:9876"  # IP or localhost, and a port; behind a TLS proxy
//
//	[[triggers.webhooks]]
//	id = "gh-issues"
//	path = "/hooks/github"
//	secret_env = "GITHUB_WEBHOOK_SECRET"  # or secret, or secret_file: exactly one
//	auth = "hmac-sha256"                  # GitHub's X-Hub-Signature-256; or "bearer"
//	project = "api"
//	engine = "codex"                      # optional: the project's default
//	prompt_template = "Fix issue #{{ .issue.number }}: {{ .issue.title }}"
//	event_filter = ["issues.opened"]      # optional: GitHub events, or event.action
//
// The problems of a webhook are reported under its place in the file,
// counted from 1: triggers.webhooks[2].path.
//
// [[triggers.crons]] (see Cron) run a prompt in a project on a schedule;
// each table is one cron:
//
//	[[triggers.crons]]
//	id = "nightly"               # required, unique: a-z, 0-9, - and _
//	schedule = "0 3 * * 1-5"     # required: minute hour day-of-month month day-of-week
//	timezone = "Europe/Berlin"   # IANA zone; default UTC
//	project = "web"              # required: a [projects.NAME]
//	engine = "codex"             # optional: default, the chat's engine
//	prompt = "Run the tests and fix what fails."
//	chat_id = -1001234567890     # optional: default, the project's chat (and topic)
//	topic_id = 12                # optional; needs chat_id
//	run_once = false             # true: fire at the first slot only
//
// A slot missed while the bridge was down fires once at start if it is
// younger than transports.telegram.missed_after, the age past which missed
// messages are not run either; older slots are skipped. Problems in a cron
// are reported under its index, e.g. triggers.crons[2].schedule.
//
// [budgets] (see Budgets) caps what runs cost, in US dollars; every
// finished run goes to the cost ledger whatever the budgets:
//
//	[budgets]
//	per_run = 2.0                # cancel a run past it (see prices)
//	per_day = 20.0               # all projects; new runs refused once spent
//	per_project_day = 10.0       # each project
//	warn_at = 80                 # percent of a day budget: warn in the chat
//	timezone = "Europe/Berlin"   # the day ends at midnight here; default UTC
//
//	[budgets.prices."claude-sonnet-4-5"]  # US dollars per million tokens
//	input = 3.0
//	output = 15.0
//	cached = 0.3                 # cache reads; default: input
//
// Prices estimate a run's cost from the tokens an engine reports as it
// goes, so that per_run can stop it early; an engine that reports its cost
// only at the end is told over budget in its answer's footer.
//
// Secrets (the bot token, the voice API key, engine environments, webhook
// secrets) are of type Secret, which never prints its value, and no Problem
// quotes them.
package config
