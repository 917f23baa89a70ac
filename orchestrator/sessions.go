package orchestrator

import (
	"sync"
	"time"
)

// sessions owns the conversations' resume tokens: which session a run
// resumes, which one it leaves behind, and /new. Safe for concurrent use.
type sessions struct {
	store SessionStore
	mode  string

	mu sync.Mutex
	// resets holds when /new was last sent in each conversation: runs
	// accepted before it neither resume nor store a session.
	resets map[string]time.Time
}

func newSessions(store SessionStore, mode string) *sessions {
	return &sessions{store: store, mode: mode, resets: map[string]time.Time{}}
}

// resumeFor is the session r continues: the one replied to, else in chat
// mode the conversation's stored one for r's engine; "" for a new one.
func (s *sessions) resumeFor(r *run) string {
	if r.resume != "" {
		return r.resume
	}
	if s.mode != SessionChat || s.resetSince(r) {
		return ""
	}
	if eng, resume, ok := s.store.Get(r.session); ok && eng == r.engine.Name() {
		return resume
	}
	return ""
}

// save stores resume as the session r's conversation continues next; a
// no-op in stateless mode, for an empty resume, or after a /new.
func (s *sessions) save(r *run, resume string) error {
	if resume == "" || s.mode != SessionChat || s.resetSince(r) {
		return nil
	}
	return s.store.Put(r.session, r.engine.Name(), resume)
}

// resetSince reports whether /new was sent in r's conversation after r
// was accepted.
func (s *sessions) resetSince(r *run) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.resets[conversationKey(r.msg)]
	return ok && at.After(r.accepted)
}

// reset forgets the sessions keys of m's conversation, and makes the runs
// accepted until now neither resume nor store one.
func (s *sessions) reset(m Message, keys []string) error {
	s.mu.Lock()
	s.resets[conversationKey(m)] = time.Now()
	s.mu.Unlock()
	for _, k := range keys {
		if err := s.store.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
