package orchestrator

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// intake decides whether a message is for this bridge at all: not seen
// before, from an allowlisted user, addressed to this bot, not too old.
// Safe for concurrent use.
type intake struct {
	allowedUsers []int64
	botUsername  string
	missedAfter  time.Duration
	log          *slog.Logger

	mu      sync.Mutex
	seen    recent[msgKey]
	updates recent[int64]
	ignored map[int64]bool // users not on the allowlist, logged once
}

type msgKey struct{ chat, msg int64 }

func newIntake(opts *Options, log *slog.Logger) *intake {
	return &intake{
		allowedUsers: opts.AllowedUsers, botUsername: opts.BotUsername, missedAfter: opts.MissedAfter, log: log,
		seen: newRecent[msgKey](), updates: newRecent[int64](), ignored: map[int64]bool{},
	}
}

// firstSight records m and reports whether it is new: neither its update
// id nor (for a message, not a button press or a draft's Stop) its chat and
// message id was seen before.
func (in *intake) firstSight(m Message) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if m.UpdateID != 0 && !in.updates.add(m.UpdateID) {
		return false
	}
	if m.CallbackID == "" && m.StoppedDraft == 0 && !in.seen.add(msgKey{m.ChatID, m.MessageID}) {
		return false
	}
	return true
}

// markSeen records m's chat and message id, for a run restored from its
// record: a redelivered update must not start it twice.
func (in *intake) markSeen(m Message) {
	in.mu.Lock()
	in.seen.add(msgKey{m.ChatID, m.MessageID})
	in.mu.Unlock()
}

func (in *intake) allowed(user int64) bool {
	return slices.Contains(in.allowedUsers, user)
}

// ignore logs, once per user, a message from a user not on the allowlist.
func (in *intake) ignore(m Message) {
	in.mu.Lock()
	first := !in.ignored[m.UserID]
	in.ignored[m.UserID] = true
	in.mu.Unlock()
	if first {
		in.log.Warn("message from a user not on the allowlist ignored", "user", m.UserID, "chat", m.ChatID)
	}
}

// forOtherBot reports whether text starts with a command addressed to
// another bot, as Telegram writes commands in groups with several bots.
func (in *intake) forOtherBot(text string) bool {
	word, _ := cutWord(strings.TrimSpace(text))
	if !strings.HasPrefix(word, "/") || in.botUsername == "" {
		return false
	}
	_, to, addressed := strings.Cut(word, "@")
	return addressed && !strings.EqualFold(to, in.botUsername)
}

// missed is the reply to a message that waited too long while the bridge
// was down, "" for one that may run.
func (in *intake) missed(m Message) string {
	if in.missedAfter <= 0 || m.Sent.IsZero() {
		return ""
	}
	age := time.Since(m.Sent)
	if age <= in.missedAfter {
		return ""
	}
	in.log.Info("message missed while offline", "chat", m.ChatID, "message", m.MessageID, "age", age.Round(time.Second))
	return missedText(age)
}

// maxRecent bounds the memory kept for deduplication.
const maxRecent = 10000

// recent is a bounded set that forgets its oldest entries first.
type recent[K comparable] struct {
	set  map[K]struct{}
	fifo []K
}

func newRecent[K comparable]() recent[K] { return recent[K]{set: map[K]struct{}{}} }

// add records k and reports whether it was new.
func (r *recent[K]) add(k K) bool {
	if _, dup := r.set[k]; dup {
		return false
	}
	r.set[k] = struct{}{}
	r.fifo = append(r.fifo, k)
	if len(r.fifo) > maxRecent {
		delete(r.set, r.fifo[0])
		r.fifo = r.fifo[1:]
	}
	return true
}
