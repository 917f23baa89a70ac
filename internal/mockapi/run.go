package mockapi

import (
	"regexp"
	"slices"
	"strings"
)

// A given command (Anthropic API only): when the user's words hold a line
// "run: <command>", the model runs that command with the shell tool, then
// answers RunOutputPrefix followed by what the tool returned, so a test
// can see what the command saw inside the agent's container.
const RunOutputPrefix = "Output:\n"

var runLine = regexp.MustCompile(`(?m)^run: (.+)$`)

// decideRun answers a conversation that asks to run a command; ok is false
// for every other one.
func decideRun(t anthropicTurn) (answer, bool) {
	m := runLine.FindStringSubmatch(t.lastText)
	if m == nil {
		return answer{}, false
	}
	if r := t.lastResult; r != nil {
		if !slices.Contains(shellToolNames, r.tool) {
			return answer{}, false
		}
		return answer{text: RunOutputPrefix + strings.TrimSpace(r.content), summary: "final"}, true
	}
	for _, tl := range t.list {
		if slices.Contains(shellToolNames, tl.name) {
			return answer{tool: tl.name, args: fillArgs(tl.schema, action{cmd: m[1], desc: "Run the given command"}),
				summary: "tool:" + tl.name}, true
		}
	}
	return answer{}, false
}
