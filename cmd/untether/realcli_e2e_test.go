package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/internal/mockapi"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// TestRealClaudeAndCodexThroughTheBridge builds the real claude and codex
// images with `untether images build` (on the debootstrap base: no
// registry), and has each real CLI answer a Telegram message through the
// bridge against a scripted model API on the host's loopback; a reply to
// the answer resumes the session. This is what proves argv, env, mounts and
// decoders fit the real programs, not only the fake.
func TestRealClaudeAndCodexThroughTheBridge(t *testing.T) {
	mock := mockapi.New(mockapi.Options{})
	defer mock.Close()
	extra := claudeMockConfig(mock) + codexMockConfig(mock)
	w := newWorld(t, worldOptions{
		memory:         "1GiB",
		pids:           512,
		network:        "host", // the mock listens on the host's loopback
		engineProjects: []string{"codex"},
		images: map[string]string{
			"claude": "localhost/untether-claude:latest",
			"codex":  "localhost/untether-codex:latest",
		},
		extra: extra,
	})
	w.cleanupVolumes()

	realEngineImages(t, w, "claude", "codex")
	list, err := w.untether("images", "list", "--config", w.configPath)
	for _, want := range []string{"claude localhost/untether-claude:latest present", "codex localhost/untether-codex:latest present"} {
		found := false
		for _, line := range strings.Split(list, "\n") {
			found = found || strings.HasPrefix(strings.Join(strings.Fields(line), " "), want)
		}
		if err != nil || !found {
			t.Errorf("untether images list lacks %q (err %v):\n%s", want, err, list)
		}
	}

	codexDir := filepath.Join(w.dir, "test-codex")
	for _, d := range []string{w.project, codexDir} {
		// The images run the CLIs as uid 1000, which must be able to write.
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	w.start()

	for _, tc := range []struct {
		engine string
		chat   int64
		dir    string
	}{
		{"claude", groupChat, w.project},
		{"codex", engineChat("codex"), codexDir},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			sent := w.tg.UserSays(tc.chat, alice, "create hello.txt containing hello")
			final := w.finalReply(tc.chat, sent.MessageID, 3*time.Minute)
			if !strings.HasPrefix(final.Text, "done · "+tc.engine) || !strings.Contains(final.Text, mockapi.FinalCreate) {
				t.Fatalf("%s answer = %q", tc.engine, final.Text)
			}
			id, ok := availableEngines()[tc.engine].ParseResume(final.Text)
			if !ok || !hasCodeEntity(final, availableEngines()[tc.engine].ResumeLine(id)) {
				t.Fatalf("%s answer has no resume line: %q", tc.engine, final.Text)
			}
			if got, _ := os.ReadFile(filepath.Join(tc.dir, "hello.txt")); string(got) != "hello\n" {
				t.Errorf("%s left hello.txt = %q", tc.engine, got)
			}

			again := w.tg.UserSays(tc.chat, alice, "now append world to hello.txt", telegramtest.ReplyTo(final.MessageID))
			final2 := w.finalReply(tc.chat, again.MessageID, 3*time.Minute)
			if !strings.HasPrefix(final2.Text, "done · "+tc.engine) || !strings.Contains(final2.Text, mockapi.FinalAppend) {
				t.Fatalf("%s resumed answer = %q", tc.engine, final2.Text)
			}
			if id2, _ := availableEngines()[tc.engine].ParseResume(final2.Text); id2 != id {
				t.Errorf("%s resumed into session %q, want %q", tc.engine, id2, id)
			}
			if got, _ := os.ReadFile(filepath.Join(tc.dir, "hello.txt")); string(got) != "hello\nworld\n" {
				t.Errorf("%s left hello.txt = %q after the resume", tc.engine, got)
			}
		})
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
