package mockapi

import (
	"encoding/json"
	"testing"
)

func TestScenarioOf(t *testing.T) {
	tests := []struct {
		name, text string
		want       Scenario
	}{
		{"create", "create hello.txt containing hello", ScenarioCreate},
		{"append", "now append world to hello.txt", ScenarioAppend},
		{"world alone", "say world", ScenarioAppend},
		{"missing beats hello", "show missing.txt, hello", ScenarioFail},
		{"goodbye beats all", "write /w/goodbye.txt, append hello, missing", ScenarioWrite},
		{"case-insensitive", "HELLO there", ScenarioCreate},
		{"plain", "say hi", ScenarioPlain},
		{"empty", "", ScenarioPlain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ScenarioOf(tt.text); got != tt.want {
				t.Errorf("ScenarioOf(%q) = %s, want %s", tt.text, got, tt.want)
			}
		})
	}
}

// Schemas shaped like the real CLIs' tools.
const (
	claudeBash = `{"type":"object","properties":{"command":{"type":"string"},"timeout":{"type":"number"},
		"description":{"type":"string"},"run_in_background":{"type":"boolean"}},"required":["command"]}`
	claudeWrite = `{"type":"object","properties":{"file_path":{"type":"string"},"content":{"type":"string"}},
		"required":["file_path","content"]}`
	codexExec = `{"type":"object","properties":{"cmd":{"type":"string"},"workdir":{"type":"string"},
		"yield_time_ms":{"type":"number"},"justification":{"type":"string"}},"required":["cmd"]}`
	argvShell = `{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}},
		"workdir":{"type":["null","string"]},"timeout_ms":{"type":"integer"},"with_escalated_permissions":{"type":"boolean"},
		"env":{"type":"object"},"extra":{"type":"array"},"reason":{"type":"string"}},
		"required":["command","workdir","timeout_ms","with_escalated_permissions","env","extra"]}`
)

func TestPickTool(t *testing.T) {
	fn := func(name, schemaJSON string) tool {
		return tool{name: name, schema: parseSchema(json.RawMessage(schemaJSON))}
	}
	claude := []tool{fn("Agent", `{}`), fn("Bash", claudeBash), fn("Write", claudeWrite)}
	codex := []tool{fn("exec_command", codexExec), {name: "apply_patch", custom: true}, fn("web_search", `{}`)}
	tests := []struct {
		name     string
		tools    []tool
		scen     Scenario
		path     string
		wantTool string
		wantArgs string // JSON, key order included
	}{
		{"claude create", claude, ScenarioCreate, "", "Bash",
			`{"command":"echo hello > hello.txt","description":"Create hello.txt containing hello"}`},
		{"claude append", claude, ScenarioAppend, "", "Bash",
			`{"command":"echo world >> hello.txt && cat hello.txt","description":"Append world to hello.txt and show it"}`},
		{"claude fail", claude, ScenarioFail, "", "Bash", `{"command":"cat missing.txt","description":"Show missing.txt"}`},
		{"claude write", claude, ScenarioWrite, "/w/goodbye.txt", "Write", `{"file_path":"/w/goodbye.txt","content":"goodbye\n"}`},
		{"codex create", codex, ScenarioCreate, "", "exec_command", `{"cmd":"echo hello > hello.txt"}`},
		{"codex write is a freeform patch", codex, ScenarioWrite, "goodbye.txt", "apply_patch",
			`"*** Begin Patch\n*** Add File: goodbye.txt\n+goodbye\n*** End Patch\n"`},
		{"json apply_patch takes its first property", []tool{fn("apply_patch", `{"properties":{"patch":{},"z":{}}}`)},
			ScenarioWrite, "g.txt", "apply_patch", `{"patch":"*** Begin Patch\n*** Add File: g.txt\n+goodbye\n*** End Patch\n"}`},
		{"write without a writer falls back to the shell", []tool{fn("bash", claudeBash)}, ScenarioWrite, "/x/goodbye.txt", "bash",
			`{"command":"printf 'goodbye\\n' > /x/goodbye.txt","description":"Write goodbye.txt"}`},
		{"argv command and required fields", []tool{fn("shell", argvShell)}, ScenarioCreate, "", "shell",
			`{"command":["bash","-lc","echo hello > hello.txt"],"workdir":"","timeout_ms":10000,` +
				`"with_escalated_permissions":false,"env":{},"extra":[]}`},
		{"local_shell without schema", []tool{{name: "local_shell"}}, ScenarioCreate, "", "local_shell",
			`{"command":["bash","-lc","echo hello > hello.txt"]}`},
		{"shell before writer outside write", []tool{fn("Write", claudeWrite), fn("Bash", claudeBash)}, ScenarioCreate, "", "Bash",
			`{"command":"echo hello > hello.txt","description":"Create hello.txt containing hello"}`},
		{"writer when no shell", []tool{fn("write", claudeWrite)}, ScenarioCreate, "", "write",
			`{"file_path":"hello.txt","content":"hello\n"}`},
		{"fuzzy name", []tool{fn("grep", `{}`), fn("my_ShellRunner", codexExec)}, ScenarioFail, "", "my_ShellRunner",
			`{"cmd":"cat missing.txt"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, args, ok := pickTool(tt.tools, tt.scen, tt.path)
			if !ok {
				t.Fatal("no tool picked")
			}
			if name != tt.wantTool {
				t.Errorf("tool = %s, want %s", name, tt.wantTool)
			}
			if got := string(mustMarshal(args)); got != tt.wantArgs {
				t.Errorf("args = %s\nwant   %s", got, tt.wantArgs)
			}
		})
	}
	t.Run("nothing usable", func(t *testing.T) {
		if name, _, ok := pickTool([]tool{fn("Read", `{}`)}, ScenarioCreate, ""); ok {
			t.Errorf("picked %s, want none", name)
		}
	})
}

func TestDecide(t *testing.T) {
	bash := []tool{{name: "Bash", schema: parseSchema(json.RawMessage(claudeBash))}}
	tests := []struct {
		name        string
		toolResult  bool
		texts       []string
		tools       []tool
		wantTool    string
		wantText    string
		wantSummary string
	}{
		{"tool call", false, []string{"create hello.txt containing hello"}, bash, "Bash", "", "tool:Bash"},
		{"final after the tool result", true, []string{"create hello.txt containing hello"}, bash, "", FinalCreate, "final"},
		{"latest user text counts", false, []string{"create hello.txt", "say hi"}, bash, "", PlainText, "plain"},
		{"resume turn", true, []string{"create hello.txt", "now append world to hello.txt"}, bash, "", FinalAppend, "final"},
		{"no tools offered", false, []string{"create hello.txt"}, nil, "", PlainText, "plain"},
		{"no user text", false, nil, bash, "", PlainText, "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decide(tt.toolResult, tt.texts, tt.tools)
			if got.tool != tt.wantTool || got.text != tt.wantText || got.summary != tt.wantSummary {
				t.Errorf("decide = {tool %q text %q summary %q}, want {%q %q %q}",
					got.tool, got.text, got.summary, tt.wantTool, tt.wantText, tt.wantSummary)
			}
		})
	}
}

func TestSplitText(t *testing.T) {
	if got := splitText("héllo!", false); len(got) != 2 || got[0]+got[1] != "héllo!" {
		t.Errorf("normal split = %q", got)
	}
	got := splitText("Done. Created", true)
	want := []string{"Don", "e. ", "Cre", "ate", "d"}
	if len(got) != len(want) {
		t.Fatalf("slow split = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("slow split = %q, want %q", got, want)
		}
	}
}

func TestObjectKeepsOrder(t *testing.T) {
	o := obj("type", "x", "b", 1, "a", []string{"<&>"})
	o.set("b", 2)
	if got, want := string(mustMarshal(o.with("c", nil))), `{"type":"x","b":2,"a":["<&>"],"c":null}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := string(mustMarshal(o)); got != `{"type":"x","b":2,"a":["<&>"]}` {
		t.Errorf("with modified its receiver: %s", got)
	}
}
