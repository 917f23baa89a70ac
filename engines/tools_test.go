package engines

import "testing"

func TestToolsPairCallsWithResults(t *testing.T) {
	tools := NewTools("x")
	a, ok := tools.Start("t1", Action{Kind: KindCommand, Title: "ls"})
	if !ok || a.ID != "t1" || a.Phase != PhaseStarted {
		t.Fatalf("Start = %+v, %v", a, ok)
	}
	if _, ok := tools.Start("t1", Action{}); ok {
		t.Errorf("a repeated call started twice")
	}
	c, ok := tools.Complete("t1", false)
	if !ok || c.Kind != KindCommand || c.Title != "ls" || c.Phase != PhaseCompleted || c.OK {
		t.Errorf("Complete = %+v, %v", c, ok)
	}
	if _, ok := tools.Complete("t1", true); ok {
		t.Errorf("a second result completed again")
	}
	u, ok := tools.Complete("", true)
	if !ok || u.ID != "x-tool-1" || u.Kind != KindTool || u.Title != "tool" || !u.OK {
		t.Errorf("result without a call = %+v, %v", u, ok)
	}
}
