package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

var bob = telegramtest.User{ID: 1002, FirstName: "Bob", Username: "bob"}

func utf16Units(s string) int { return len(utf16.Encode([]rune(s))) }

// failedCalls lists the write calls the server refused.
func (w *world) failedCalls() []telegramtest.Call {
	var out []telegramtest.Call
	for _, c := range w.tg.Calls() {
		if c.Method != "getUpdates" && c.ErrorCode != 0 {
			out = append(out, c)
		}
	}
	return out
}

// TestTwentyRunsAcrossFiveChats: the outbox keeps within Telegram's limits
// under load, and every run is answered and cleaned up.
func TestTwentyRunsAcrossFiveChats(t *testing.T) {
	t.Parallel()
	g2, g3 := int64(-1001000000002), int64(-1001000000003)
	w := newWorld(t, worldOptions{
		defaultProject: true,
		moreUsers:      []telegramtest.User{bob},
		moreGroups:     []int64{g2, g3},
		maxRuns:        20,
		telegram:       `session_mode = "stateless"`,
	})
	w.cleanupVolumes()
	w.start()
	chats := []struct {
		id   int64
		user telegramtest.User
	}{{groupChat, alice}, {g2, alice}, {g3, alice}, {alice.ID, alice}, {bob.ID, bob}}
	type sent struct{ chat, msg int64 }
	var all []sent
	for i := range 4 {
		for _, c := range chats {
			m := w.tg.UserSays(c.id, c.user, fmt.Sprintf("job %d **now** fake:delay=300ms", i))
			all = append(all, sent{c.id, m.MessageID})
		}
	}
	for _, s := range all {
		w.finalReply(s.chat, s.msg, 3*time.Minute)
	}
	w.waitFor("every progress message deleted", time.Minute, func(s *telegramtest.Snapshot) bool {
		for _, c := range chats {
			for _, m := range s.BotMessages(c.id) {
				if isProgress(m.Text) && !m.Deleted {
					return false
				}
			}
		}
		return true
	})
	if failed := w.failedCalls(); len(failed) > 0 {
		for _, c := range failed {
			t.Errorf("%s refused: %d %s", c.Method, c.ErrorCode, c.Description)
		}
	}
	for _, c := range chats {
		finals := map[int64]int{}
		for _, m := range w.tg.BotMessages(c.id) {
			if n := utf16Units(m.Text); n > 4096 {
				t.Errorf("message of %d UTF-16 units", n)
			}
			if strings.HasPrefix(m.Text, "done ·") || strings.HasPrefix(m.Text, "error ·") {
				finals[m.ReplyTo]++
			}
		}
		for _, s := range all {
			if s.chat == c.id && finals[s.msg] != 1 {
				t.Errorf("chat %d message %d got %d final answers", c.id, s.msg, finals[s.msg])
			}
		}
	}
}

func isProgress(text string) bool {
	for _, p := range []string{"starting ·", "queued ·", "working ·"} {
		if strings.HasPrefix(text, p) {
			return true
		}
	}
	return false
}

// longAnswer is about 20,000 characters of Markdown: paragraphs in several
// scripts with emoji, bold words and Go code blocks.
func longAnswer() (md string, blocks []string) {
	var b strings.Builder
	for i := 0; b.Len() < 20000; i++ {
		fmt.Fprintf(&b, "## Часть %d 🚀\n\nПривет, мир! 你好，世界！ This is **важно** and so is the next step 🧪. ", i)
		b.WriteString(strings.Repeat("Ünïcödé text with emoji 😀 keeps its offsets. ", 8))
		b.WriteString("\n\n")
		var code strings.Builder
		for l := range 40 {
			fmt.Fprintf(&code, "\tfmt.Println(\"строка %d-%d 👍\")\n", i, l)
		}
		block := "func part" + fmt.Sprint(i) + "() {\n" + code.String() + "}"
		blocks = append(blocks, block)
		b.WriteString("```go\n" + block + "\n```\n\n")
	}
	return b.String(), blocks
}

func TestLongAnswerArrivesSplitWithFencesIntact(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.cleanupVolumes()
	md, blocks := longAnswer()
	if err := os.WriteFile(filepath.Join(w.project, "long.md"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	w.start()
	msg := w.tg.UserSays(groupChat, alice, "explain everything fake:answer-file=long.md")
	w.finalReply(groupChat, msg.MessageID, time.Minute)
	var parts []telegramtest.Message
	w.waitFor("every part of the answer", time.Minute, func(s *telegramtest.Snapshot) bool {
		parts = parts[:0]
		for _, m := range s.BotMessages(groupChat) {
			if m.ReplyTo == msg.MessageID && !isProgress(m.Text) {
				parts = append(parts, m)
			}
		}
		return len(parts) > 0 && strings.Contains(parts[len(parts)-1].Text, "claude --resume")
	})
	if len(parts) < 5 {
		t.Fatalf("answer of %d characters came in %d parts", len([]rune(md)), len(parts))
	}
	var code []string
	for i, p := range parts {
		if n := utf16Units(p.Text); n > 4096 {
			t.Errorf("part %d has %d UTF-16 units", i, n)
		}
		if (i == 0) != strings.HasPrefix(p.Text, "done · claude") {
			t.Errorf("part %d header: %.40q", i, p.Text)
		}
		if (i == len(parts)-1) != strings.Contains(p.Text, "claude --resume") {
			t.Errorf("part %d resume line placement wrong", i)
		}
		for _, e := range p.Entities {
			text := entityText(p.Text, e)
			switch e.Type {
			case "pre":
				if e.Language != "go" || strings.Contains(text, "```") {
					t.Errorf("part %d: pre entity %+v covers %.60q", i, e, text)
				}
				code = append(code, strings.Trim(text, "\n"))
			case "bold":
				if text != "важно" && !strings.HasPrefix(text, "done · claude") && !strings.HasPrefix(text, "Часть") {
					t.Errorf("part %d: bold entity covers %q", i, text)
				}
			}
		}
	}
	if got, want := strings.Join(code, "\n"), strings.Join(blocks, "\n"); got != want {
		t.Errorf("code blocks across the parts differ from the answer's:\n got %d bytes\nwant %d bytes", len(got), len(want))
	}
	joined := ""
	for _, p := range parts {
		joined += p.Text
	}
	for _, want := range []string{"Привет, мир! 你好，世界！", "🧪", "Часть 0 🚀", "😀"} {
		if !strings.Contains(joined, want) {
			t.Errorf("answer lost %q", want)
		}
	}
}

// TestQuickMessagesQueuePerSession: three messages to one session run in
// order, one at a time; a message to another chat runs alongside.
func TestQuickMessagesQueuePerSession(t *testing.T) {
	t.Parallel()
	other := int64(-1001000000002)
	w := newWorld(t, worldOptions{moreGroups: []int64{other}})
	w.cleanupVolumes()
	w.start()
	var ids []int64
	for i := range 3 {
		ids = append(ids, w.tg.UserSays(groupChat, alice, fmt.Sprintf("step %d fake:sleep=1s", i+1)).MessageID)
	}
	parallel := w.tg.UserSays(other, alice, "elsewhere fake:sleep=1s")
	var finals []telegramtest.Message
	for _, id := range ids {
		finals = append(finals, w.finalReply(groupChat, id, time.Minute))
	}
	pf := w.finalReply(other, parallel.MessageID, time.Minute)
	for i := 1; i < len(finals); i++ {
		if !finals[i].SentAt.After(finals[i-1].SentAt) {
			t.Errorf("message %d answered before message %d", i+1, i)
		}
	}
	if !pf.SentAt.Before(finals[1].SentAt) {
		t.Errorf("the other chat's run waited for this session: answered at %v, after %v", pf.SentAt, finals[1].SentAt)
	}
	var queued []string
	for _, c := range w.calls("sendMessage") {
		if s, _ := c.Params["text"].(string); strings.HasPrefix(s, "queued ·") {
			queued = append(queued, s)
		}
	}
	slices.Sort(queued)
	if want := []string{"queued · claude · 1 ahead", "queued · claude · 2 ahead"}; !slices.Equal(queued, want) {
		t.Errorf("queued notices = %q, want %q", queued, want)
	}
	calls := w.engineCalls()
	if len(calls) != 4 {
		t.Errorf("engine ran %d times, want 4", len(calls))
	}
}

// TestRateLimitStormIsRidden: while Telegram answers 429 retry_after=3,
// the run completes, its answer arrives once, and the edits held back by
// the pause collapse into one.
func TestRateLimitStormIsRidden(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.cleanupVolumes()
	w.start()
	msg := w.tg.UserSays(groupChat, alice, "slowly fake:delay=700ms")
	w.working(groupChat, msg.MessageID)
	w.tg.FailNext("editMessageText", 2, 429, "Too Many Requests: retry after 3", 3)
	w.tg.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 3", 3)
	w.finalReply(groupChat, msg.MessageID, 2*time.Minute)
	finals := 0
	for _, m := range w.tg.BotMessages(groupChat) {
		if m.ReplyTo == msg.MessageID && (strings.HasPrefix(m.Text, "done ·") || strings.HasPrefix(m.Text, "error ·")) {
			finals++
		}
	}
	if finals != 1 {
		t.Errorf("%d final answers, want 1", finals)
	}
	edits := w.calls("editMessageText")
	for i, c := range edits {
		if c.ErrorCode != 429 {
			continue
		}
		var within []telegramtest.Call
		for _, d := range edits[i+1:] {
			if d.At.Sub(c.At) < 2900*time.Millisecond {
				t.Errorf("edit at +%v, inside the 3 s pause", d.At.Sub(c.At))
			}
			if d.At.Sub(c.At) < 3500*time.Millisecond {
				within = append(within, d)
			}
		}
		if len(within) > 1 {
			t.Errorf("%d edits right after the pause, want them collapsed into 1", len(within))
		}
	}
}
