package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/images"
	"github.com/untether-go/untether/internal/mockapi"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// realEngineImages builds the real engines' images (once per test binary:
// podman's layer cache makes a second build cheap) with `untether images
// build`, on the debootstrap base.
func realEngineImages(t *testing.T, w *world, engines ...string) {
	t.Helper()
	start := time.Now()
	if out, err := w.untether("images", "base"); err != nil {
		t.Fatalf("untether images base: %v\n%s", err, tail(out, 3000))
	}
	args := append([]string{"images", "build", "--config", w.configPath, "--base", images.BaseImage}, engines...)
	if out, err := w.untether(args...); err != nil {
		t.Fatalf("untether images build: %v\n%s", err, tail(out, 5000))
	}
	t.Logf("images %v ready in %v", engines, time.Since(start).Round(time.Second))
}

// claudeMockConfig points claude at the mock model API.
func claudeMockConfig(mock *mockapi.Server) string {
	return fmt.Sprintf(`
[claude]
model = "claude-sonnet-4-5"

[claude.env]
ANTHROPIC_BASE_URL = %q
ANTHROPIC_API_KEY = "sk-ant-dummy-key-for-mock"
CLAUDE_CODE_MAX_RETRIES = "1"
`, mock.URL())
}

// codexMockConfig points codex at the mock model API.
func codexMockConfig(mock *mockapi.Server) string {
	return fmt.Sprintf(`
[codex]
model = "gpt-5.5"
extra_args = ["-c", 'model_provider="mock"', "-c", 'model_providers.mock.name="Mock API"',
  "-c", 'model_providers.mock.base_url="%[1]s/v1"', "-c", 'model_providers.mock.env_key="MOCK_API_KEY"',
  "-c", 'model_providers.mock.wire_api="responses"', "-c", "model_providers.mock.request_max_retries=1",
  "-c", "model_providers.mock.stream_max_retries=0"]

[codex.env]
MOCK_API_KEY = "sk-dummy-key-for-mock"

`, mock.URL())
}

// claudeApprovalWorld is a world whose project runs the real claude image
// against mock, with top added to the config's top level.
func claudeApprovalWorld(t *testing.T, mock *mockapi.Server, top string) *world {
	w := newWorld(t, worldOptions{
		memory: "1GiB", pids: 512, network: "host",
		images: map[string]string{"claude": "localhost/untether-claude:latest"},
		top:    top,
		extra:  claudeMockConfig(mock),
	})
	w.cleanupVolumes()
	realEngineImages(t, w, "claude")
	if err := os.Chmod(w.project, 0o777); err != nil { // the image's uid 1000 writes there
		t.Fatal(err)
	}
	return w
}

// askMessage waits for the request the bot sends in answer to userMsg whose
// text starts with prefix, with its buttons.
func (w *world) askMessage(chat, userMsg int64, prefix string, limit time.Duration) telegramtest.Message {
	w.t.Helper()
	var ask telegramtest.Message
	w.waitFor(fmt.Sprintf("a request %q for message %d", prefix, userMsg), limit, func(s *telegramtest.Snapshot) bool {
		for _, m := range s.BotMessages(chat) {
			if m.ReplyTo == userMsg && strings.HasPrefix(m.Text, prefix) && len(buttons(m)) > 0 {
				ask = m
				return true
			}
		}
		return false
	})
	return ask
}

// buttons maps the labels of m's inline buttons to their data.
func buttons(m telegramtest.Message) map[string]string {
	var markup struct {
		Keyboard [][]struct {
			Text string `json:"text"`
			Data string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	json.Unmarshal(m.ReplyMarkup, &markup)
	out := map[string]string{}
	for _, row := range markup.Keyboard {
		for _, b := range row {
			out[b.Text] = b.Data
		}
	}
	return out
}

// press presses the button labelled label of m.
func (w *world) press(m telegramtest.Message, label string) {
	w.t.Helper()
	data, ok := buttons(m)[label]
	if !ok {
		w.t.Fatalf("message %q has no button %q (it has %v)", m.Text, label, buttons(m))
	}
	w.tg.PressButton(m.ChatID, m.MessageID, alice, data)
}

// waitSettled waits until the bot message id says settled and has no
// buttons any more (edits may come after the sends that follow them).
func (w *world) waitSettled(chat, id int64, settled string) {
	w.t.Helper()
	w.waitFor(fmt.Sprintf("message %d to say %q", id, settled), 30*time.Second, func(s *telegramtest.Snapshot) bool {
		for _, m := range s.BotMessages(chat) {
			if m.MessageID == id {
				return strings.Contains(m.Text, settled) && len(buttons(m)) == 0
			}
		}
		return false
	})
}

// finalReplies counts the final answers to userMsg.
func (w *world) finalReplies(chat, userMsg int64) int {
	n := 0
	for _, m := range w.tg.BotMessages(chat) {
		if m.ReplyTo == userMsg && (strings.HasPrefix(m.Text, "done ·") || strings.HasPrefix(m.Text, "error ·")) {
			n++
		}
	}
	return n
}

// TestRealClaudeApprovals drives real Claude Code, in its image, through
// its interactive protocol from the chat: approve, deny, a question
// answered with a button, plan mode approved and denied, and a request
// nobody answers.
func TestRealClaudeApprovals(t *testing.T) {
	mock := mockapi.New(mockapi.Options{})
	defer mock.Close()
	w := claudeApprovalWorld(t, mock, "approvals = true\napproval_timeout = \"15s\"")
	w.start()
	hello := filepath.Join(w.project, "hello.txt")

	t.Run("approve", func(t *testing.T) {
		os.Remove(hello)
		sent := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
		ask := w.askMessage(groupChat, sent.MessageID, "🔐 claude asks to run Bash", 3*time.Minute)
		if !strings.Contains(ask.Text, "echo hello > hello.txt") || len(buttons(ask)) != 3 {
			t.Fatalf("request = %q with buttons %v", ask.Text, buttons(ask))
		}
		w.waitFor("the progress message to say it waits", 30*time.Second, func(s *telegramtest.Snapshot) bool {
			p, ok := progressMessage(s.BotMessages(groupChat), sent.MessageID)
			return ok && strings.Contains(p.Text, "waiting for approval: Bash")
		})
		if _, err := os.Stat(hello); err == nil {
			t.Fatal("hello.txt exists before the approval")
		}
		w.press(ask, "Approve")
		final := w.finalReply(groupChat, sent.MessageID, 2*time.Minute)
		if !strings.HasPrefix(final.Text, "done · claude") || !strings.Contains(final.Text, mockapi.FinalCreate) {
			t.Fatalf("answer = %q", final.Text)
		}
		if got, _ := os.ReadFile(hello); string(got) != "hello\n" {
			t.Errorf("hello.txt = %q after the approval", got)
		}
		w.waitSettled(groupChat, ask.MessageID, "✅ Approved.")
	})

	t.Run("deny", func(t *testing.T) {
		os.Remove(hello)
		sent := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
		ask := w.askMessage(groupChat, sent.MessageID, "🔐 claude asks to run Bash", 3*time.Minute)
		w.press(ask, "Deny")
		final := w.finalReply(groupChat, sent.MessageID, 2*time.Minute)
		if !strings.Contains(final.Text, mockapi.FinalDenied) {
			t.Fatalf("answer = %q, want it to say the request was denied", final.Text)
		}
		if _, err := os.Stat(hello); err == nil {
			t.Error("hello.txt was written although the command was denied")
		}
		// A second press on the settled request is told so.
		w.press(ask, "Approve")
		w.waitFor("the late press to be answered", 30*time.Second, func(s *telegramtest.Snapshot) bool {
			for _, c := range s.Calls() {
				text := fmt.Sprint(c.Params["text"])
				if c.Method == "answerCallbackQuery" && (strings.Contains(text, "already answered") || strings.Contains(text, "no longer open")) {
					return true
				}
			}
			return false
		})
	})

	t.Run("question", func(t *testing.T) {
		sent := w.tg.UserSays(groupChat, alice, "ask me a question")
		ask := w.askMessage(groupChat, sent.MessageID, "❓ claude asks", 3*time.Minute)
		if !strings.Contains(ask.Text, mockapi.QuestionText) || buttons(ask)[mockapi.OptionHowdy] == "" {
			t.Fatalf("question = %q with buttons %v", ask.Text, buttons(ask))
		}
		w.press(ask, mockapi.OptionHowdy)
		final := w.finalReply(groupChat, sent.MessageID, 2*time.Minute)
		if !strings.Contains(final.Text, mockapi.FinalAnswered) || !strings.Contains(final.Text, `="howdy"`) {
			t.Fatalf("answer = %q, want the agent to have got howdy", final.Text)
		}
		if !mockSawAnswer(mock, "howdy") {
			t.Error("the model's next request did not carry the answer")
		}
	})

	t.Run("plan", func(t *testing.T) {
		os.Remove(hello)
		cmd := w.tg.UserSays(groupChat, alice, "/planmode on")
		w.waitFor("/planmode on to be answered", 30*time.Second, func(s *telegramtest.Snapshot) bool {
			for _, m := range s.BotMessages(groupChat) {
				if m.ReplyTo == cmd.MessageID && strings.HasPrefix(m.Text, "Plan mode on") {
					return true
				}
			}
			return false
		})
		sent := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
		plan := w.askMessage(groupChat, sent.MessageID, "📋 claude proposes a plan", 3*time.Minute)
		if !strings.Contains(plan.Text, "1. Create hello.txt containing hello.") {
			t.Fatalf("plan = %q", plan.Text)
		}
		w.press(plan, "Approve")
		ask := w.askMessage(groupChat, sent.MessageID, "🔐 claude asks to run Bash", 2*time.Minute)
		w.press(ask, "Approve")
		final := w.finalReply(groupChat, sent.MessageID, 2*time.Minute)
		if !strings.HasPrefix(final.Text, "done · claude") || !strings.Contains(final.Text, mockapi.FinalCreate) {
			t.Fatalf("answer after the approved plan = %q", final.Text)
		}

		os.Remove(hello)
		sent = w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
		plan = w.askMessage(groupChat, sent.MessageID, "📋 claude proposes a plan", 3*time.Minute)
		w.press(plan, "Deny")
		final = w.finalReply(groupChat, sent.MessageID, 2*time.Minute)
		if !strings.Contains(final.Text, "Denied: the run stopped") {
			t.Fatalf("answer after the denied plan = %q", final.Text)
		}
		if _, err := os.Stat(hello); err == nil {
			t.Error("hello.txt was written although the plan was denied")
		}
		w.tg.UserSays(groupChat, alice, "/planmode off")
	})

	t.Run("timeout", func(t *testing.T) {
		os.Remove(hello)
		sent := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
		ask := w.askMessage(groupChat, sent.MessageID, "🔐 claude asks to run Bash", 3*time.Minute)
		final := w.finalReply(groupChat, sent.MessageID, 2*time.Minute)
		if !strings.Contains(final.Text, mockapi.FinalDenied) || !strings.Contains(final.Text, "No answer within 15s: denied.") {
			t.Fatalf("answer = %q, want the denial at the timeout said", final.Text)
		}
		w.waitSettled(groupChat, ask.MessageID, "No answer within 15s")
		if _, err := os.Stat(hello); err == nil {
			t.Error("hello.txt was written although nobody approved")
		}
	})
}

// mockSawAnswer reports whether a request to the mock carried the answer.
func mockSawAnswer(mock *mockapi.Server, answer string) bool {
	for _, r := range mock.Requests() {
		if r.Answer == "answered" && strings.Contains(fmt.Sprint(r.Body), answer) {
			return true
		}
	}
	return false
}

// TestRealClaudeApprovalSurvivesRestart leaves a run waiting for its
// approval while the bridge stops (SIGTERM, drain detach), and while it is
// killed (kill -9); the next bridge takes the press and the run goes on.
func TestRealClaudeApprovalSurvivesRestart(t *testing.T) {
	mock := mockapi.New(mockapi.Options{})
	defer mock.Close()
	w := claudeApprovalWorld(t, mock, "approvals = true")
	hello := filepath.Join(w.project, "hello.txt")

	for _, how := range []string{"sigterm", "kill"} {
		t.Run(how, func(t *testing.T) {
			os.Remove(hello)
			d := w.start()
			sent := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
			ask := w.askMessage(groupChat, sent.MessageID, "🔐 claude asks to run Bash", 3*time.Minute)
			if how == "sigterm" {
				d.sigterm(t)
			} else {
				d.kill()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if cs := w.containers(ctx); len(cs) != 1 {
				t.Fatalf("containers after the bridge stopped: %v, want the run's one", cs)
			}
			w.start()
			w.press(ask, "Approve")
			final := w.finalReply(groupChat, sent.MessageID, 3*time.Minute)
			if !strings.HasPrefix(final.Text, "done · claude") || !strings.Contains(final.Text, mockapi.FinalCreate) {
				t.Fatalf("answer = %q", final.Text)
			}
			if got, _ := os.ReadFile(hello); string(got) != "hello\n" {
				t.Errorf("hello.txt = %q after the approval given to the next bridge", got)
			}
			time.Sleep(2 * time.Second) // a second answer would come now
			if n := w.finalReplies(groupChat, sent.MessageID); n != 1 {
				t.Errorf("%d final answers, want 1", n)
			}
			w.waitSettled(groupChat, ask.MessageID, "✅ Approved.")
		})
	}
}

// TestRealCodexAndOpenCodeApprovals has real Codex (app-server) and real
// OpenCode (ACP) ask before their shell command, in their images, through
// the bridge: Approve runs it, Deny does not, and a request still open when
// the bridge stops is answered through the next one.
func TestRealCodexAndOpenCodeApprovals(t *testing.T) {
	mock := mockapi.New(mockapi.Options{})
	defer mock.Close()
	extra := codexMockConfig(mock) + fmt.Sprintf(`
[opencode.env]
OPENCODE_DISABLE_MODELS_FETCH = "1"
OPENCODE_CONFIG_CONTENT = '{"model":"mock/mock-model","small_model":"mock/mock-model","autoupdate":false,"share":"disabled","provider":{"mock":{"npm":"@ai-sdk/anthropic","name":"Mock API","options":{"baseURL":"%[1]s/v1","apiKey":"sk-ant-dummy-key-for-mock"},"models":{"mock-model":{"name":"Mock Model","tool_call":true,"limit":{"context":200000,"output":8192}}}}}}'
`, mock.URL())
	w := newWorld(t, worldOptions{
		memory: "1GiB", pids: 512, network: "host",
		engineProjects: []string{"codex", "opencode"},
		images: map[string]string{
			"codex":    "localhost/untether-codex:latest",
			"opencode": "localhost/untether-opencode:latest",
		},
		top:   "approvals = true",
		extra: extra,
	})
	w.cleanupVolumes()
	realEngineImages(t, w, "codex", "opencode")
	d := w.start()

	for _, tc := range []struct{ engine, title string }{{"codex", "Shell"}, {"opencode", "bash"}} {
		t.Run(tc.engine, func(t *testing.T) {
			dir := filepath.Join(w.dir, "test-"+tc.engine)
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			hello := filepath.Join(dir, "hello.txt")
			chat := engineChat(tc.engine)
			prefix := "🔐 " + tc.engine + " asks to run"

			sent := w.tg.UserSays(chat, alice, "create hello.txt containing hello")
			ask := w.askMessage(chat, sent.MessageID, prefix, 3*time.Minute)
			if !strings.Contains(ask.Text, "echo hello > hello.txt") {
				t.Fatalf("request = %q", ask.Text)
			}
			w.press(ask, "Approve")
			final := w.finalReply(chat, sent.MessageID, 3*time.Minute)
			if !strings.HasPrefix(final.Text, "done · "+tc.engine) {
				t.Fatalf("answer after Approve = %q", final.Text)
			}
			if got, _ := os.ReadFile(hello); string(got) != "hello\n" {
				t.Errorf("hello.txt = %q after the approval", got)
			}

			os.Remove(hello)
			sent = w.tg.UserSays(chat, alice, "create hello.txt containing hello")
			ask = w.askMessage(chat, sent.MessageID, prefix, 3*time.Minute)
			w.press(ask, "Deny")
			final = w.finalReply(chat, sent.MessageID, 3*time.Minute)
			if !strings.Contains(final.Text, "denied by you") {
				t.Fatalf("answer after Deny = %q, want it to say the request was denied", final.Text)
			}
			if _, err := os.Stat(hello); err == nil {
				t.Error("hello.txt was written although the command was denied")
			}

			// The request outlives the bridge: SIGTERM (drain detach), a
			// new bridge, and the press reaches the agent.
			sent = w.tg.UserSays(chat, alice, "create hello.txt containing hello")
			ask = w.askMessage(chat, sent.MessageID, prefix, 3*time.Minute)
			d.sigterm(t)
			d = w.start()
			w.press(ask, "Approve")
			final = w.finalReply(chat, sent.MessageID, 3*time.Minute)
			if !strings.HasPrefix(final.Text, "done · "+tc.engine) {
				t.Fatalf("answer after Approve across a restart = %q", final.Text)
			}
			if got, _ := os.ReadFile(hello); string(got) != "hello\n" {
				t.Errorf("hello.txt = %q after the approval given to the next bridge", got)
			}
			w.waitSettled(chat, ask.MessageID, "✅ Approved.")
		})
	}
}
