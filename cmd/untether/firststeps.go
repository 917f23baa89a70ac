package main

import (
	"fmt"
	"io"
	"path/filepath"
)

// exampleConfig is a minimal working config; printFirstSteps shows it.
const exampleConfig = `default_engine = "claude"

[transports.telegram]
bot_token = "123456789:AAAA..."      # from @BotFather (or bot_token_file, or $UNTETHER_BOT_TOKEN)
allowed_user_ids = [123456789]       # your Telegram user id: only these users can start runs
chat_id = 123456789                  # where the startup message goes (optional)

[projects.myapp]
path = "~/src/myapp"                 # mounted read-write at /workspace in each run's container
chat_id = -1001234567890             # the group whose messages go to this project
default_engine = "claude"

[sandbox]
memory = "2GiB"                      # per run; also: swap, pids, cpus, timeout, network
pids = 512
cpus = 2
timeout = "30m"

[sandbox.images]
claude = "localhost/untether-claude:latest"
`

// printFirstSteps tells a user without a config exactly what to do.
func printFirstSteps(w io.Writer, path string) {
	fmt.Fprintf(w, `No config found at %s.

The quickest way: run 'untether setup', which asks for the bot token and a
project, writes the config and can install the user service.

Or by hand:
  1. Create a bot with @BotFather and copy its token.
  2. Find your user id (e.g. message @userinfobot) and the chat id of the
     group you will use for a project (add the bot to it first).
  3. mkdir -p %s and write %s like this:

%s
  4. Run 'untether run' again (or 'make run').

Another config path can be given with --config or $UNTETHER_CONFIG_PATH.
`, path, filepath.Dir(path), path, indent(exampleConfig))
}

func indent(s string) string {
	out := make([]byte, 0, len(s)+len(s)/10)
	start := true
	for i := 0; i < len(s); i++ {
		if start && s[i] != '\n' {
			out = append(out, "     "...)
		}
		out = append(out, s[i])
		start = s[i] == '\n'
	}
	return string(out)
}
