package webhook

import (
	"math"
	"time"
)

// Rate is a token bucket: PerMinute calls a minute on average, Burst at
// once. The zero Rate means the default of the Options field it sets.
type Rate struct {
	PerMinute float64
	Burst     int
}

// Defaults of Options.
var (
	DefaultHookRate   = Rate{PerMinute: 30, Burst: 10}
	DefaultGlobalRate = Rate{PerMinute: 120, Burst: 30}
)

// bucket is a token bucket. Not safe for concurrent use: Server guards it.
type bucket struct {
	rate   Rate
	tokens float64
	last   time.Time
}

func newBucket(r Rate, now time.Time) *bucket {
	return &bucket{rate: r, tokens: float64(r.Burst), last: now}
}

// take takes a token, or reports how long until one is there.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	perSec := b.rate.PerMinute / 60
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(float64(b.rate.Burst), b.tokens+elapsed.Seconds()*perSec)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / perSec * float64(time.Second))
}

// give returns a token taken for a call that then did not count.
func (b *bucket) give() { b.tokens = math.Min(float64(b.rate.Burst), b.tokens+1) }

// maxRemembered bounds the replay memory; past it the oldest entries go
// first, however young.
const maxRemembered = 10000

// memory remembers keys for a while: delivery ids and body digests. Not
// safe for concurrent use: Server guards it.
type memory struct {
	ttl   time.Duration
	seen  map[string]time.Time // key → when it expires
	order []remembered         // by expiry, which is insertion order
}

type remembered struct {
	key string
	exp time.Time
}

func newMemory(ttl time.Duration) *memory {
	return &memory{ttl: ttl, seen: map[string]time.Time{}}
}

// has reports whether key is remembered at now.
func (m *memory) has(key string, now time.Time) bool {
	exp, ok := m.seen[key]
	return ok && now.Before(exp)
}

func (m *memory) add(key string, now time.Time) {
	m.expire(now)
	exp := now.Add(m.ttl)
	m.seen[key] = exp
	m.order = append(m.order, remembered{key, exp})
	for len(m.order) > maxRemembered {
		m.drop()
	}
}

// forget removes key; its entry in order is skipped when reached.
func (m *memory) forget(key string) { delete(m.seen, key) }

func (m *memory) expire(now time.Time) {
	for len(m.order) > 0 && !now.Before(m.order[0].exp) {
		m.drop()
	}
}

// drop removes the oldest entry, and its key unless it was added again
// since.
func (m *memory) drop() {
	e := m.order[0]
	m.order[0] = remembered{}
	m.order = m.order[1:]
	if exp, ok := m.seen[e.key]; ok && exp.Equal(e.exp) {
		delete(m.seen, e.key)
	}
}

// logEvery is how often one kind of refusal of one hook is logged.
const logEvery = time.Minute

// throttle decides which refusals are logged: the first of each (hook,
// reason) per logEvery, with the count of those not logged since. Not safe
// for concurrent use: Server guards it.
type throttle struct {
	last    map[string]time.Time
	dropped map[string]int
}

func newThrottle() *throttle {
	return &throttle{last: map[string]time.Time{}, dropped: map[string]int{}}
}

// allow reports whether key may be logged at now, and how many were
// suppressed since it last was.
func (t *throttle) allow(key string, now time.Time) (bool, int) {
	if last, ok := t.last[key]; ok && now.Sub(last) < logEvery {
		t.dropped[key]++
		return false, 0
	}
	n := t.dropped[key]
	t.last[key] = now
	delete(t.dropped, key)
	return true, n
}
