package schedule

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Timer is one /at: a prompt to run once, at Due.
type Timer struct {
	// ID is assigned by Add: small, unique among the chat's pending
	// timers, shown to users as #N. It is one more than the highest ID
	// pending in the chat, so a timer that fired or was cancelled does not
	// lend its number to a newer one while later ones are pending.
	ID int `json:"id"`
	// ChatID (required), ThreadID (forum topic, 0 for none), UserID (who
	// set it) and ReplyTo (the message it answers, e.g. the /at command;
	// CancelByMessage finds it by this) say where it runs.
	ChatID   int64 `json:"chat_id"`
	ThreadID int64 `json:"thread_id,omitzero"`
	UserID   int64 `json:"user_id,omitzero"`
	ReplyTo  int64 `json:"reply_to,omitzero"`
	// Project and Engine may be empty: the chat's own then apply.
	Project string `json:"project,omitzero"`
	Engine  string `json:"engine,omitzero"`
	// Branch, when set, runs it in the project's worktree of that branch.
	Branch string `json:"branch,omitzero"`
	// Prompt (required) is what runs.
	Prompt string `json:"prompt"`
	// Due (required) is when it fires; Created defaults to now.
	Due     time.Time `json:"due"`
	Created time.Time `json:"created"`
}

// Add records a timer and returns it with its ID (and Created, when zero)
// set. The timer is in the file when Add returns; a timer already due fires
// at once. Errors: ErrTooMany, a timer without chat, prompt or due time, or
// a failed write (then nothing changed).
func (s *Scheduler) Add(t Timer) (Timer, error) {
	switch {
	case t.ChatID == 0:
		return Timer{}, errors.New("add timer: no chat")
	case strings.TrimSpace(t.Prompt) == "":
		return Timer{}, errors.New("add timer: empty prompt")
	case t.Due.IsZero():
		return Timer{}, errors.New("add timer: no due time")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Created.IsZero() {
		t.Created = s.now()
	}
	t.Due, t.Created = t.Due.UTC(), t.Created.UTC()
	t.ID = 1
	n := 0
	for _, o := range s.timers {
		if o.ChatID == t.ChatID {
			n++
			t.ID = max(t.ID, o.ID+1)
		}
	}
	if n >= MaxTimersPerChat {
		return Timer{}, fmt.Errorf("add timer: chat %d has %d pending: %w", t.ChatID, n, ErrTooMany)
	}
	timers := append(slices.Clone(s.timers), t)
	sortTimers(timers)
	if err := s.saveLocked(file{Timers: timers, Crons: s.state}); err != nil {
		return Timer{}, fmt.Errorf("add timer: %w", err)
	}
	s.poke()
	return t, nil
}

// List returns the pending timers of a chat's thread (0: outside topics),
// soonest first.
func (s *Scheduler) List(chatID, threadID int64) []Timer {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Timer
	for _, t := range s.timers {
		if t.ChatID == chatID && t.ThreadID == threadID {
			out = append(out, t)
		}
	}
	return out
}

// Cancel removes timer id of a chat's thread and returns it. Errors:
// ErrNotFound (also for another thread's timer), or a failed write (then
// the timer stays).
func (s *Scheduler) Cancel(chatID, threadID int64, id int) (Timer, error) {
	return s.cancelFunc(func(t Timer) bool {
		return t.ChatID == chatID && t.ThreadID == threadID && t.ID == id
	}, fmt.Sprintf("cancel timer %d", id))
}

// CancelByMessage removes the pending timer of the chat whose ReplyTo is
// messageID (for /cancel sent as a reply) and returns it. Errors as Cancel.
func (s *Scheduler) CancelByMessage(chatID, messageID int64) (Timer, error) {
	return s.cancelFunc(func(t Timer) bool {
		return messageID != 0 && t.ChatID == chatID && t.ReplyTo == messageID
	}, fmt.Sprintf("cancel timer of message %d", messageID))
}

func (s *Scheduler) cancelFunc(match func(Timer) bool, op string) (Timer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.timers, match)
	if i < 0 {
		return Timer{}, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	t := s.timers[i]
	timers := slices.Delete(slices.Clone(s.timers), i, i+1)
	if err := s.saveLocked(file{Timers: timers, Crons: s.state}); err != nil {
		return Timer{}, fmt.Errorf("%s: %w", op, err)
	}
	s.poke()
	return t, nil
}

func sortTimers(ts []Timer) {
	slices.SortFunc(ts, func(a, b Timer) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.ChatID, b.ChatID), cmp.Compare(a.ID, b.ID))
	})
}
