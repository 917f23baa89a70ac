package telegramtest

import (
	"math"
	"time"
)

// Limits is the flood control the server enforces. The zero value means
// DefaultLimits; in a partly set Limits every zero count or window takes its
// default, so Limits{GroupWindow: time.Second} keeps 20 messages per group but
// over one second.
type Limits struct {
	// PrivatePerSecond is how many messages (sendMessage, sendDocument,
	// sendPhoto) one private chat accepts per PrivateWindow. Default 1.
	PrivatePerSecond int
	// GroupPerMinute is how many messages one group or supergroup accepts per
	// GroupWindow. Default 20.
	GroupPerMinute int
	// GlobalPerSecond is how many write calls (every method but getMe,
	// getUpdates, getFile, getMyCommands and getWebhookInfo; downloads are
	// not counted either) the bot may make per GlobalWindow across all
	// chats. Default 30.
	GlobalPerSecond int
	// CountEdits makes editMessageText and editMessageReplyMarkup count toward
	// the per-chat limits too. Edits always count toward the global limit.
	CountEdits bool
	// RetryAfter, when positive, is the retry_after of every 429. Otherwise it
	// is the real time until the window has room, rounded up, at least 1.
	RetryAfter int
	// Disabled turns flood control off.
	Disabled bool

	// The sliding windows, so tests can shrink them. Defaults 1 s, 60 s, 1 s.
	PrivateWindow time.Duration
	GroupWindow   time.Duration
	GlobalWindow  time.Duration
}

// DefaultLimits returns Telegram's documented limits: 1 message per second in
// a private chat, 20 per minute in a group, 30 calls per second overall.
func DefaultLimits() Limits {
	return Limits{
		PrivatePerSecond: 1,
		GroupPerMinute:   20,
		GlobalPerSecond:  30,
		PrivateWindow:    time.Second,
		GroupWindow:      time.Minute,
		GlobalWindow:     time.Second,
	}
}

// withDefaults fills every zero count and window with its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.PrivatePerSecond <= 0 {
		l.PrivatePerSecond = d.PrivatePerSecond
	}
	if l.GroupPerMinute <= 0 {
		l.GroupPerMinute = d.GroupPerMinute
	}
	if l.GlobalPerSecond <= 0 {
		l.GlobalPerSecond = d.GlobalPerSecond
	}
	if l.PrivateWindow <= 0 {
		l.PrivateWindow = d.PrivateWindow
	}
	if l.GroupWindow <= 0 {
		l.GroupWindow = d.GroupWindow
	}
	if l.GlobalWindow <= 0 {
		l.GlobalWindow = d.GlobalWindow
	}
	return l
}

// window is a sliding window of accepted events.
type window struct {
	times []time.Time
}

// wait reports how long until one more event fits: zero when it fits now.
// It forgets events that left the window.
func (w *window) wait(now time.Time, limit int, length time.Duration) time.Duration {
	cut := 0
	for cut < len(w.times) && !w.times[cut].Add(length).After(now) {
		cut++
	}
	w.times = w.times[cut:]
	if len(w.times) < limit {
		return 0
	}
	// The oldest len-limit+1 events must leave before one more fits.
	return w.times[len(w.times)-limit].Add(length).Sub(now)
}

func (w *window) add(now time.Time) {
	w.times = append(w.times, now)
}

// retryAfterSeconds turns a wait into Telegram's whole seconds, at least 1.
func retryAfterSeconds(wait time.Duration) int {
	s := int(math.Ceil(wait.Seconds()))
	if s < 1 {
		return 1
	}
	return s
}

// limiter applies Limits to the calls of one bot.
type limiter struct {
	limits Limits
	global window
	chats  map[int64]*window
}

func newLimiter(l Limits) *limiter {
	return &limiter{limits: l.withDefaults(), chats: make(map[int64]*window)}
}

// admit decides whether a write call may run now. perChat says whether it
// counts toward the limit of chatID, whose type is chatType. An admitted
// call is counted; a refused one is not, and retryAfter says when to retry.
func (l *limiter) admit(now time.Time, chatID int64, chatType string, perChat bool) (retryAfter int, ok bool) {
	if l.limits.Disabled {
		return 0, true
	}
	wait := l.global.wait(now, l.limits.GlobalPerSecond, l.limits.GlobalWindow)
	var cw *window
	if perChat {
		cw = l.chats[chatID]
		if cw == nil {
			cw = &window{}
			l.chats[chatID] = cw
		}
		limit, length := l.limits.PrivatePerSecond, l.limits.PrivateWindow
		if chatType != "private" {
			limit, length = l.limits.GroupPerMinute, l.limits.GroupWindow
		}
		wait = max(wait, cw.wait(now, limit, length))
	}
	if wait > 0 {
		if l.limits.RetryAfter > 0 {
			return l.limits.RetryAfter, false
		}
		return retryAfterSeconds(wait), false
	}
	l.global.add(now)
	if cw != nil {
		cw.add(now)
	}
	return 0, true
}
