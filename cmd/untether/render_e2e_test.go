package main

import (
	"strings"
	"testing"
	"time"
)

// TestMarkdownAnswerBecomesEntities: the agent's Markdown reaches the chat
// as text plus entities, never as raw markup or parse_mode escapes.
func TestMarkdownAnswerBecomesEntities(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.cleanupVolumes()
	w.start()
	sent := w.tg.UserSays(groupChat, alice, "explain fake:answer=**Fixed**_the_`parser`_bug")
	f := w.finalReply(groupChat, sent.MessageID, time.Minute)
	if !strings.Contains(f.Text, "Fixed the parser bug") || strings.Contains(f.Text, "**") || strings.Contains(f.Text, "`") {
		t.Fatalf("answer = %q", f.Text)
	}
	var bold, code bool
	for _, e := range f.Entities {
		switch {
		case e.Type == "bold" && entityText(f.Text, e) == "Fixed":
			bold = true
		case e.Type == "code" && entityText(f.Text, e) == "parser":
			code = true
		}
	}
	if !bold || !code {
		t.Errorf("entities %+v of %q lack bold Fixed and code parser", f.Entities, f.Text)
	}
}
