package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A final answer is tried again while the chat service fails in ways that
// may pass, and given up (with the user told) only when it is refused.
func TestFinalAnswerRidesOutOutages(t *testing.T) {
	outage := errors.New("telegram sendMessage: giving up after 5 attempts: 500")
	refused := fmt.Errorf("telegram sendMessage: %w: 400 Bad Request", ErrRefused)
	cases := []struct {
		name      string
		errs      []error
		delivered bool
	}{
		{"outage passes", []error{outage, outage, outage}, true},
		{"refused", []error{refused, refused}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chat := newFakeChat()
			chat.finalErrs = tc.errs
			runs := &memRuns{m: map[string]RunRecord{}}
			o := newTestOrchestrator(t, &fakeSandbox{stream: fixture(t, "basic.jsonl")}, chat, func(o *Options) { o.Runs = runs })
			o.sup.deliverPause = 10 * time.Millisecond
			o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "job"})
			chat.progressOf(t, 1)
			waitFor(t, func() bool { return len(runs.All()) == 0 })
			chat.mu.Lock()
			left := len(chat.finalErrs)
			chat.mu.Unlock()
			if left != 0 {
				t.Errorf("%d failures not met: the answer was not tried again", left)
			}
			if got := len(chat.finals()); (got == 1) != tc.delivered {
				t.Errorf("%d final answers delivered", got)
			}
			if tc.delivered {
				return
			}
			edits := chat.progressEdits()[1]
			if len(edits) == 0 || !strings.Contains(edits[len(edits)-1], "could not be delivered") {
				t.Errorf("progress edits after a refused answer = %q", edits)
			}
		})
	}
}
