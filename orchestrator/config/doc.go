// Package config owns untether.toml: its schema, its defaults, the strict
// decode and the validation that reports every problem of a file at once,
// each under its TOML key path.
//
// It is the only package of this module that imports the TOML library
// (github.com/BurntSushi/toml); deps_test.go enforces that. It imports nothing
// else of this module: cmd/untether translates a Config into the Options of
// each package, so no other package depends on the config schema.
//
// Parsing has no side effects: it creates nothing and stats nothing. The one
// thing it reads besides the config file is bot_token_file, when set.
// Checking that project directories exist is left to Config.CheckPaths, which
// the daemon runs at startup.
//
// The keys of Untether's untether.toml (default_engine, default_project,
// transport, [transports.telegram], [projects.NAME], per-engine tables) keep
// their meaning, so an existing config keeps working; [sandbox] and
// [projects.NAME.sandbox] are new. Unknown keys are problems, not warnings:
// a misspelt limit must not silently run a session without it.
package config
