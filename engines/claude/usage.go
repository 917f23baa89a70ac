package claude

import "github.com/untether-go/untether/engines"

// spend adds up the usage the assistant messages of a run report as they
// stream. Claude Code prints one assistant line per content block, each
// carrying its message's usage so far: the run's usage is the sum, over
// messages, of the latest usage of each.
type spend struct {
	byMessage map[string]wireUsage
	order     []string
	last      engines.Usage
}

// note takes the usage of one assistant message and returns the run's
// usage so far when it changed. Cache writes are counted as input tokens
// (they are billed at about the input price).
func (s *spend) note(m wireMessage, sessionModel string) (engines.UsageUpdate, bool) {
	if m.Usage == nil || m.ID == "" {
		return engines.UsageUpdate{}, false
	}
	if s.byMessage == nil {
		s.byMessage = map[string]wireUsage{}
	}
	if _, seen := s.byMessage[m.ID]; !seen {
		s.order = append(s.order, m.ID)
	}
	s.byMessage[m.ID] = *m.Usage
	var total engines.Usage
	for _, id := range s.order {
		u := s.byMessage[id]
		total.InputTokens += u.InputTokens + u.CacheCreationInputTokens
		total.OutputTokens += u.OutputTokens
		total.CachedTokens += u.CacheReadInputTokens
	}
	if total == s.last {
		return engines.UsageUpdate{}, false
	}
	s.last = total
	model := m.Model
	if model == "" {
		model = sessionModel
	}
	return engines.UsageUpdate{Model: model, Usage: total}, true
}
