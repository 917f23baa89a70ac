package mockapi

import (
	"fmt"
	"testing"
)

func TestRunGivenCommand(t *testing.T) {
	tools := []string{"Read", "Bash"}
	first := `[{"role":"user","content":"please\nrun: ls -A /workspace && git log --oneline"}]`
	a, ok := decideRun(turn(t, tools, first))
	cmd, _ := a.args.(object).get("command")
	if !ok || a.tool != "Bash" || fmt.Sprint(cmd) != "ls -A /workspace && git log --oneline" {
		t.Fatalf("first turn = %+v %v", a, ok)
	}
	second := `[{"role":"user","content":"please\nrun: ls"},
		{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"a.txt\nb.txt\n"}]}]`
	if a, ok := decideRun(turn(t, tools, second)); !ok || a.text != RunOutputPrefix+"a.txt\nb.txt" {
		t.Fatalf("second turn = %+v %v", a, ok)
	}
	if _, ok := decideRun(turn(t, tools, `[{"role":"user","content":"create hello.txt"}]`)); ok {
		t.Fatal("a plain prompt was taken for a command")
	}
}
