package main

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/enginetest/captures"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// fixtureOutcome decodes a captured stream of engine the way the bridge
// does and returns its Completed event.
func fixtureOutcome(t *testing.T, engine, name string, exit int) engines.Completed {
	t.Helper()
	data, err := fs.ReadFile(captures.Engine(engine), name)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	dec := availableEngines()[engine].NewDecoder()
	var evs []engines.Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		e, _ := dec.Decode(sc.Bytes())
		evs = append(evs, e...)
	}
	evs = append(evs, dec.Finish(engines.Exit{Code: exit})...)
	for _, e := range evs {
		if c, ok := e.(engines.Completed); ok {
			return c
		}
	}
	t.Fatalf("%s/%s decodes to no Completed", engine, name)
	return engines.Completed{}
}

// TestEveryEngineAnswersInItsOwnChat: one message to each engine's group
// runs that engine's CLI in its own container; the answer carries that
// engine's resume line, and replying to it resumes that engine.
func TestEveryEngineAnswersInItsOwnChat(t *testing.T) {
	t.Parallel()
	names := make([]string, 0, 6)
	for n := range availableEngines() {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) != 6 {
		t.Fatalf("engines = %v, want all six", names)
	}
	// claude uses the world's own project test-claude; the others get theirs.
	w := newWorld(t, worldOptions{engineProjects: slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "claude" })})
	chatOf := func(name string) (int64, string) {
		if name == "claude" {
			return groupChat, w.project
		}
		return engineChat(name), filepath.Join(w.dir, "test-"+name)
	}
	w.cleanupVolumes()
	w.start()

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			eng := availableEngines()[name]
			fixture := "basic.jsonl"
			if name == "claude" {
				fixture = "partial.jsonl" // the daemon asks claude for partial messages
			}
			want := fixtureOutcome(t, name, fixture, 0)
			chat, dir := chatOf(name)
			sent := w.tg.UserSays(chat, alice, "create hello.txt containing hello")
			final := w.finalReply(chat, sent.MessageID, time.Minute)
			if !strings.HasPrefix(final.Text, "done · "+name) || !strings.Contains(final.Text, want.Answer) {
				t.Errorf("%s answer = %q, want %q", name, final.Text, want.Answer)
			}
			resumeLine := eng.ResumeLine(want.Resume)
			if !hasCodeEntity(final, resumeLine) {
				t.Errorf("%s answer lacks the resume line %q: %q", name, resumeLine, final.Text)
			}

			// Replying to the answer resumes that engine's session.
			again := w.tg.UserSays(chat, alice, "now append world to hello.txt", telegramtest.ReplyTo(final.MessageID))
			final2 := w.finalReply(chat, again.MessageID, time.Minute)
			if !strings.HasPrefix(final2.Text, "done · "+name) {
				t.Errorf("%s resumed answer = %q", name, final2.Text)
			}
			calls := w.engineCallsIn(dir)
			if len(calls) != 2 {
				t.Fatalf("%s ran %d times, want 2", name, len(calls))
			}
			if calls[0].Argv[0] != name || calls[1].Argv[0] != name {
				t.Errorf("argv[0] = %q, %q; want %q", calls[0].Argv[0], calls[1].Argv[0], name)
			}
			if !slices.Contains(calls[1].Argv, want.Resume) || slices.Contains(calls[0].Argv, want.Resume) {
				t.Errorf("%s: the second run must name session %s and the first must not: %q / %q",
					name, want.Resume, calls[0].Argv, calls[1].Argv)
			}
		})
	}
}

// TestBrokenStreamsEndInClearMessages: garbage between events, a stream
// cut mid-line, and a CLI killed mid-run each end with a clear chat
// message, and the next message works.
func TestBrokenStreamsEndInClearMessages(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.cleanupVolumes()
	w.start()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	garbage := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello fake:garbage")
	if f := w.finalReply(groupChat, garbage.MessageID, time.Minute); !strings.HasPrefix(f.Text, "done · claude") ||
		!strings.Contains(f.Text, "Done. Created hello.txt.") {
		t.Errorf("answer through garbage = %q", f.Text)
	}

	cut := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello fake:cut")
	if f := w.finalReply(groupChat, cut.MessageID, time.Minute); !strings.HasPrefix(f.Text, "error · claude") ||
		!strings.Contains(f.Text, "exited with code 1") || !strings.Contains(f.Text, "cut the stream") {
		t.Errorf("answer of a stream cut mid-line = %q", f.Text)
	}

	killed := w.tg.UserSays(groupChat, alice, "think for a long time fake:sleep=60s")
	var name string
	pollUntil(t, "the run's container", 30*time.Second, func() bool { return w.hasContainer(ctx, &name) })
	if _, err := podmanSvc.Podman(ctx, "kill", "--signal", "TERM", name); err != nil {
		t.Fatal(err)
	}
	if f := w.finalReply(groupChat, killed.MessageID, time.Minute); !strings.HasPrefix(f.Text, "error · claude") ||
		!strings.Contains(f.Text, "interrupted") {
		t.Errorf("answer of a killed run = %q", f.Text)
	}

	next := w.tg.UserSays(groupChat, alice, "create hello.txt containing hello")
	if f := w.finalReply(groupChat, next.MessageID, time.Minute); !strings.HasPrefix(f.Text, "done · claude") {
		t.Errorf("answer after the broken runs = %q", f.Text)
	}
}
