package mockapi

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Scenario is what the latest user text asks for.
type Scenario string

const (
	// ScenarioWrite ("goodbye"): a file-writing tool creates the goodbye.txt
	// path named in the prompt (relative goodbye.txt when none is).
	ScenarioWrite Scenario = "write"
	// ScenarioFail ("missing"): the shell tool runs `cat missing.txt`,
	// which fails.
	ScenarioFail Scenario = "fail"
	// ScenarioAppend ("append" or "world"): the shell tool runs
	// `echo world >> hello.txt && cat hello.txt`.
	ScenarioAppend Scenario = "append"
	// ScenarioCreate ("hello"): the shell tool runs `echo hello > hello.txt`.
	ScenarioCreate Scenario = "create"
	// ScenarioPlain (anything else): a plain text answer, no tool.
	ScenarioPlain Scenario = "plain"
)

// The model's texts, as mockapi.py sends them.
const (
	FinalCreate = "Done. Created hello.txt."
	FinalAppend = "Done. Appended world to hello.txt."
	FinalWrite  = "Done. Wrote goodbye.txt."
	FinalFail   = "The command failed: missing.txt does not exist."
	PlainText   = "Hello from the mock model."
	// Reasoning is the thinking / reasoning-summary text of tool-call turns.
	Reasoning = "**Planning the change** The user wants a file change; I will do it with a tool."
	// ToolPreamble is the text block Anthropic tool-call turns carry.
	ToolPreamble = "I'll do that with a tool."
)

// ScenarioOf returns the scenario the user text picks; the first keyword
// found in this order wins: goodbye, missing, append/world, hello.
func ScenarioOf(userText string) Scenario {
	low := strings.ToLower(userText)
	switch {
	case strings.Contains(low, "goodbye"):
		return ScenarioWrite
	case strings.Contains(low, "missing"):
		return ScenarioFail
	case strings.Contains(low, "append"), strings.Contains(low, "world"):
		return ScenarioAppend
	case strings.Contains(low, "hello"):
		return ScenarioCreate
	}
	return ScenarioPlain
}

// FinalAnswer is the text the model gives once the scenario's tool result
// came back.
func (s Scenario) FinalAnswer() string {
	switch s {
	case ScenarioCreate:
		return FinalCreate
	case ScenarioAppend:
		return FinalAppend
	case ScenarioWrite:
		return FinalWrite
	case ScenarioFail:
		return FinalFail
	}
	return PlainText
}

// Preferred tool names, in the order mockapi.py tries them.
var (
	shellToolNames = []string{
		"Bash", "bash", "shell", "shell_command", "exec_command", "run_shell_command",
		"local_shell", "run_command", "execute_command", "terminal", "Shell",
	}
	writeToolNames = []string{"Write", "write", "write_file", "create_file", "WriteFile"}
	fuzzyShell     = regexp.MustCompile(`(?i)shell|bash|exec|command`)
	goodbyePath    = regexp.MustCompile(`(/\S*goodbye\.txt)`)
	words          = regexp.MustCompile(`\S+\s*`)
)

// tool is one tool a client offers.
type tool struct {
	name string
	// custom is a freeform tool (Responses "custom", e.g. codex's
	// apply_patch): its input is a string, not JSON arguments.
	custom bool
	schema schema
}

// schema is the part of a tool's JSON schema the mock fills arguments from.
type schema struct {
	props    []prop // in the schema's order
	required []string
}

type prop struct {
	name string
	typ  string // the first non-null type; empty when none is given
}

// parseSchema reads properties (keeping their order) and required from a
// JSON schema; anything it cannot read counts as no properties.
func parseSchema(raw json.RawMessage) schema {
	var s struct {
		Properties json.RawMessage `json:"properties"`
		Required   []string        `json:"required"`
	}
	if json.Unmarshal(raw, &s) != nil {
		return schema{}
	}
	return schema{props: parseProps(s.Properties), required: s.Required}
}

func parseProps(raw json.RawMessage) []prop {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var props []prop
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return props
		}
		name, _ := t.(string)
		var spec struct {
			Type any `json:"type"`
		}
		var value json.RawMessage
		if dec.Decode(&value) != nil {
			return props
		}
		p := prop{name: name}
		if json.Unmarshal(value, &spec) == nil {
			p.typ = firstType(spec.Type)
		}
		props = append(props, p)
	}
	return props
}

// firstType reads "type": "string" and "type": ["null", "string"].
func firstType(t any) string {
	switch t := t.(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
	}
	return ""
}

// answer is what the model does in one turn.
type answer struct {
	// tool is the tool to call; empty for a text answer.
	tool string
	// args is an object for JSON-schema tools, a string for custom tools.
	args any
	text string
	// summary goes to the request log: "tool:<name>", "final", "declined"
	// or "plain".
	summary string
}

// decide is the stateless script: the final answer after a tool result,
// else the scenario's tool call, else plain text.
func decide(lastIsToolResult bool, userTexts []string, tools []tool) answer {
	last := ""
	if len(userTexts) > 0 {
		last = userTexts[len(userTexts)-1]
	}
	scen := ScenarioOf(last)
	if lastIsToolResult {
		return answer{text: scen.FinalAnswer(), summary: "final"}
	}
	if scen != ScenarioPlain && len(tools) > 0 {
		path := "goodbye.txt"
		if m := goodbyePath.FindString(last); m != "" {
			path = m
		}
		if name, args, ok := pickTool(tools, scen, path); ok {
			return answer{tool: name, args: args, summary: "tool:" + name}
		}
	}
	return answer{text: PlainText, summary: "plain"}
}

// action is what a scenario's tool call does, in the forms tools take.
type action struct{ cmd, desc, content string }

func actionFor(scen Scenario, path string) action {
	switch scen {
	case ScenarioAppend:
		return action{"echo world >> hello.txt && cat hello.txt", "Append world to hello.txt and show it", "world\n"}
	case ScenarioFail:
		return action{"cat missing.txt", "Show missing.txt", ""}
	case ScenarioWrite:
		return action{`printf 'goodbye\n' > ` + path, "Write goodbye.txt", "goodbye\n"}
	}
	return action{"echo hello > hello.txt", "Create hello.txt containing hello", "hello\n"}
}

// pickTool chooses the tool for scen among the offered ones and fills its
// arguments: a file-writing tool (or apply_patch) for ScenarioWrite, else a
// shell tool, else a writing tool, else anything named like a shell.
func pickTool(tools []tool, scen Scenario, path string) (string, any, bool) {
	a := actionFor(scen, path)
	byName := map[string]tool{}
	for _, t := range tools {
		byName[t.name] = t
	}
	if scen == ScenarioWrite {
		for _, want := range writeToolNames {
			t, ok := byName[want]
			if !ok {
				continue
			}
			args := fillArgs(t.schema, a)
			for _, p := range t.schema.props {
				switch strings.ToLower(p.name) {
				case "file_path", "filepath", "path", "absolute_path", "file":
					args.set(p.name, path)
				case "content", "contents", "text":
					args.set(p.name, a.content)
				}
			}
			return want, args, true
		}
		if t, ok := byName["apply_patch"]; ok {
			patch := "*** Begin Patch\n*** Add File: " + path + "\n+goodbye\n*** End Patch\n"
			if t.custom {
				return t.name, patch, true
			}
			key := "input"
			if len(t.schema.props) > 0 {
				key = t.schema.props[0].name
			}
			return t.name, obj(key, patch), true
		}
	}
	for _, want := range shellToolNames {
		t, ok := byName[want]
		if !ok {
			continue
		}
		if want == "local_shell" && len(t.schema.props) == 0 {
			return want, obj("command", []string{"bash", "-lc", a.cmd}), true
		}
		return want, fillArgs(t.schema, a), true
	}
	for _, want := range writeToolNames {
		if t, ok := byName[want]; ok {
			return want, fillArgs(t.schema, a), true
		}
	}
	for _, t := range tools {
		if fuzzyShell.MatchString(t.name) {
			return t.name, fillArgs(t.schema, a), true
		}
	}
	return "", nil, false
}

// fillArgs fills a tool's arguments from its schema: the command (a string,
// or bash -lc argv for an array), a description, and a plausible value for
// every other required property.
func fillArgs(s schema, a action) object {
	args := object{}
	for _, p := range s.props {
		lk := strings.ToLower(p.name)
		required := slices.Contains(s.required, p.name)
		switch {
		case lk == "command" || lk == "cmd" || lk == "script":
			if p.typ == "array" {
				args.set(p.name, []string{"bash", "-lc", a.cmd})
			} else {
				args.set(p.name, a.cmd)
			}
		case (lk == "description" || lk == "reason" || lk == "justification") && (required || lk == "description"):
			args.set(p.name, a.desc)
		case required:
			if v, ok := requiredValue(lk, p.typ, a); ok {
				args.set(p.name, v)
			}
		}
	}
	return args
}

func requiredValue(lowerName, typ string, a action) (any, bool) {
	switch lowerName {
	case "file_path", "filepath", "path", "absolute_path":
		return "hello.txt", true
	case "content", "contents", "text":
		return a.content, true
	}
	switch typ {
	case "string":
		return "", true
	case "integer", "number":
		return 10000, true
	case "boolean":
		return false, true
	case "array":
		return []any{}, true
	case "object":
		return object{}, true
	}
	return nil, false
}

// splitText splits a streamed text into deltas: two halves normally, so
// clients must concatenate; 3-character pieces in slow mode.
func splitText(text string, slow bool) []string {
	r := []rune(text)
	if !slow {
		mid := len(r) / 2
		return []string{string(r[:mid]), string(r[mid:])}
	}
	var out []string
	for _, w := range words.FindAllString(text, -1) {
		wr := []rune(w)
		for i := 0; i < len(wr); i += 3 {
			out = append(out, string(wr[i:min(i+3, len(wr))]))
		}
	}
	return out
}

// slowText lengthens a final text in slow mode so a stream lasts long enough
// to be interrupted.
func slowText(text string, slow bool) string {
	if !slow {
		return text
	}
	var b strings.Builder
	b.WriteString(text)
	for i := 1; i <= 15; i++ {
		b.WriteString(" (streaming slowly ")
		b.WriteString(strconv.Itoa(i))
		b.WriteString(")")
	}
	return b.String()
}

// userText reports whether a text part counts as the user's words: injected
// context (<system-reminder>, <environment_context>, AGENTS.md wrappers)
// starts with '<' and is skipped, as mockapi.py does.
func userText(t string) bool {
	return !strings.HasPrefix(strings.TrimLeftFunc(t, unicode.IsSpace), "<")
}
