package telegram

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/mymmrac/telego"
	"golang.org/x/time/rate"

	"github.com/untether-go/untether/orchestrator"
)

// The outbox is the one way writes reach Telegram. Its scheduler goroutine
// picks, whenever a write may go, the most urgent one among the chats that
// are free to write: a chat has at most one call in flight, waits out its
// pace and its 429 pauses, and within it sends come before deletes, deletes
// before edits. Across chats the same order holds for the bot's global
// budget, then age. Each pick runs as its own goroutine, at most maxInFlight
// at once, so a slow chat does not hold up the others.
//
// Every write, edits and deletes included, counts against its chat's pace:
// Telegram documents the limits for messages, but answers 429 to edits in
// busy groups too. Edits and deletes leave headroom for sends (see need).

// maxInFlight bounds the calls running at once, across chats.
const maxInFlight = 8

// callTimeout bounds one API call; a call that hangs is retried.
const callTimeout = 30 * time.Second

// pacing is how fast the outbox writes. The intervals carry a margin over
// Telegram's limits, and a chat's pace counts from the end of each call,
// when Telegram surely has counted it.
type pacing struct {
	private     time.Duration // between writes to a private chat
	group       time.Duration // between writes to a group, after a burst
	groupBurst  int
	global      rate.Limit // calls per second, all chats together
	globalBurst int
}

// defaultPacing stays under 1 message/s per private chat, 20/min per group
// (5 at once, then one per 4.2 s: at most 19 in any minute) and 30/s
// overall.
func defaultPacing() pacing {
	return pacing{
		private:     1100 * time.Millisecond,
		group:       4200 * time.Millisecond,
		groupBurst:  5,
		global:      25,
		globalBurst: 5, // 25 a second plus 5 stays within 30 in any second
	}
}

// opKind orders writes: a lower kind goes first.
type opKind int

const (
	opSend opKind = iota
	opDelete
	opEdit
	opDraft // drafts.go
)

func (k opKind) method() string {
	return [...]string{"sendMessage", "deleteMessage", "editMessageText", "sendMessageDraft"}[k]
}

// need is how many tokens a chat's pacer must hold for a write of kind k to
// go. In a group a send may take the last one, a delete leaves one, an
// edit two, so progress edits do not use up what a final answer needs. In
// a private chat sends and edits take the one token, and deletes are not
// paced: they add no message, and the one that follows a final answer
// would otherwise hold back the next message's progress by a second.
func need(k opKind, q *chatQueue) float64 {
	if !paced(k, q) {
		return 0
	}
	return float64(min(q.pacer.Burst(), 1+int(k)))
}

// paced reports whether a write of kind k counts against q's pace.
func paced(k opKind, q *chatQueue) bool { return k != opDelete || !q.private }

// op is one queued write.
type op struct {
	kind   opKind
	chatID int64
	msgID  int64  // edits and deletes
	seq    uint64 // arrival order
	send   *telego.SendMessageParams
	file   *orchestrator.OutgoingFile // a send of a file instead of send
	size   int64                      // the file's, for its timeout
	edit   *telego.EditMessageTextParams
	draft  *draftParams // a draft's; msgID is then its draft id
	tries  int          // failed attempts (network errors)
	// ctx and done belong to the Send caller waiting for the result; done
	// also carries a Delete's outcome.
	ctx  context.Context
	done chan sendResult
}

type sendResult struct {
	id  int64
	err error
}

// method is the API method of the write.
func (o *op) method() string {
	switch {
	case o.file == nil:
		return o.kind.method()
	case o.file.Photo:
		return "sendPhoto"
	default:
		return "sendDocument"
	}
}

// minUploadRate is the slowest upload a file send waits for before its
// call is given up and retried.
const minUploadRate = 128 << 10 // bytes per second

// timeout bounds one call of the write: an upload gets time for its size.
func (o *op) timeout() time.Duration {
	return callTimeout + time.Duration(o.size/minUploadRate)*time.Second
}

// first reports whether a goes before b.
func (a *op) first(b *op) bool {
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.seq < b.seq
}

// chatQueue is the writes of one chat.
type chatQueue struct {
	pacer   *rate.Limiter
	private bool
	sends   []*op // in order
	deletes []*op
	edits   []*op // at most one per message
	drafts  []*op // at most one per draft id
	current *op   // in flight
	until   time.Time
	// marks remembers messages that are gone (edits are dropped) or whose
	// failure was logged (it is not logged again).
	marks map[int64]mark
}

type mark uint8

const (
	markLogged mark = 1 << iota
	markGone
)

// maxMarks bounds a chat's marks; past it they are forgotten.
const maxMarks = 256

func (q *chatQueue) head() *op {
	switch {
	case len(q.sends) > 0:
		return q.sends[0]
	case len(q.deletes) > 0:
		return q.deletes[0]
	case len(q.edits) > 0:
		return q.edits[0]
	case len(q.drafts) > 0:
		return q.drafts[0]
	}
	return nil
}

func (q *chatQueue) pop(o *op) {
	switch o.kind {
	case opSend:
		q.sends = q.sends[1:]
	case opDelete:
		q.deletes = q.deletes[1:]
	case opDraft:
		q.drafts = q.drafts[1:]
	default:
		q.edits = q.edits[1:]
	}
}

func (q *chatQueue) len() int { return len(q.sends) + len(q.deletes) + len(q.edits) + len(q.drafts) }

func (q *chatQueue) mark(msgID int64, m mark) {
	if q.marks == nil || len(q.marks) >= maxMarks {
		q.marks = map[int64]mark{}
	}
	q.marks[msgID] |= m
}

// deleting reports whether the message is being or will be deleted.
func (q *chatQueue) deleting(msgID int64) bool {
	if c := q.current; c != nil && c.kind == opDelete && c.msgID == msgID {
		return true
	}
	return slices.ContainsFunc(q.deletes, func(d *op) bool { return d.msgID == msgID })
}

// outbox queues, paces and performs the writes of a Client.
type outbox struct {
	pace   pacing
	call   func(ctx context.Context, o *op) (int64, error)
	log    *slog.Logger
	redact func(error) error

	ctx    context.Context // ends when Close stops waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup // the scheduler and the calls
	wake   chan struct{}  // something changed
	done   chan struct{}  // closed when the scheduler returns
	global *rate.Limiter  // safe for concurrent use on its own

	mu       sync.Mutex
	started  bool
	closed   bool
	seq      uint64
	chats    map[int64]*chatQueue
	until    time.Time // every chat waits (a 429 outside any chat)
	inflight int
}

func newOutbox(pace pacing, call func(context.Context, *op) (int64, error), log *slog.Logger, redact func(error) error) *outbox {
	ctx, cancel := context.WithCancel(context.Background())
	return &outbox{
		pace: pace, call: call, log: log, redact: redact,
		ctx: ctx, cancel: cancel,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		global: rate.NewLimiter(pace.global, pace.globalBurst),
		chats:  map[int64]*chatQueue{},
	}
}

// signal wakes the scheduler.
func (b *outbox) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *outbox) chatLocked(id int64) *chatQueue {
	q := b.chats[id]
	if q == nil {
		// Private chats have positive ids, groups negative ones.
		l := rate.NewLimiter(rate.Every(b.pace.group), b.pace.groupBurst)
		if id > 0 {
			l = rate.NewLimiter(rate.Every(b.pace.private), 1)
		}
		q = &chatQueue{pacer: l, private: id > 0}
		b.chats[id] = q
	}
	return q
}

// enqueue adds a write; edits coalesce and deletes drop pending edits.
func (b *outbox) enqueue(o *op) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if !b.started {
		b.started = true
		b.wg.Add(1)
		go b.run()
	}
	q := b.chatLocked(o.chatID)
	b.seq++
	o.seq = b.seq
	same := func(x *op) bool { return x.msgID == o.msgID }
	switch o.kind {
	case opSend:
		q.sends = append(q.sends, o)
		// A draft queued before the message would come after it.
		q.drafts = nil
	case opDraft:
		if i := slices.IndexFunc(q.drafts, same); i >= 0 {
			q.drafts[i].draft = o.draft // newest wins, in its place
		} else {
			q.drafts = append(q.drafts, o)
		}
	case opDelete:
		q.edits = slices.DeleteFunc(q.edits, same)
		if !q.deleting(o.msgID) {
			q.deletes = append(q.deletes, o)
		} else if o.done != nil {
			o.done <- sendResult{} // a deletion of it is already under way
		}
	case opEdit:
		switch i := slices.IndexFunc(q.edits, same); {
		case q.deleting(o.msgID) || q.marks[o.msgID]&markGone != 0:
		case i >= 0:
			q.edits[i].edit = o.edit // keeps its place in the queue
		default:
			q.edits = append(q.edits, o)
		}
	}
	b.signal()
	return nil
}

// withdraw removes a send that is still queued; false when it is already
// in flight or done.
func (b *outbox) withdraw(o *op) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.chats[o.chatID]
	if q == nil {
		return false
	}
	i := slices.Index(q.sends, o)
	if i < 0 {
		return false
	}
	q.sends = slices.Delete(q.sends, i, i+1)
	b.signal()
	return true
}

// run is the scheduler: it starts every write that may go, then sleeps
// until the next may or something changes. It returns once the outbox is
// closed and empty, or when Close stops waiting.
func (b *outbox) run() {
	defer b.wg.Done()
	defer close(b.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		wait, finished := b.dispatch()
		if finished {
			return
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-b.ctx.Done():
			return
		case <-b.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// dispatch starts every write that may go now. It returns how long until
// another may (0: only a change can tell), and whether the outbox is closed
// and has nothing left to do.
func (b *outbox) dispatch() (wait time.Duration, finished bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now() // under the lock, so the limiters' times only grow
	for {
		q, o, wait := b.pickLocked(now)
		if o == nil {
			return wait, b.closed && b.inflight == 0 && b.pendingLocked() == 0
		}
		b.startLocked(q, o, now)
	}
}

// pickLocked returns the most urgent write that may go now, or nil and how
// long until one may (0 when none is waiting on time alone).
func (b *outbox) pickLocked(now time.Time) (*chatQueue, *op, time.Duration) {
	var next time.Duration
	soon := func(d time.Duration) {
		if next == 0 || d < next {
			next = d
		}
	}
	if b.inflight >= maxInFlight {
		return nil, nil, 0
	}
	var best *chatQueue
	var bestOp *op
	for id, q := range b.chats {
		h := q.head()
		switch {
		case q.current != nil:
			continue
		case h == nil:
			if idle(q, now) {
				delete(b.chats, id) // a new queue would start the same
			}
			continue
		}
		pause := max(q.until.Sub(now), b.until.Sub(now))
		if wait := max(pause, tokenWait(q.pacer, now, need(h.kind, q))); wait > 0 {
			soon(wait)
			continue
		}
		if bestOp == nil || h.first(bestOp) {
			best, bestOp = q, h
		}
	}
	if bestOp == nil {
		return nil, nil, next
	}
	if wait := tokenWait(b.global, now, 1); wait > 0 {
		soon(wait)
		return nil, nil, next
	}
	return best, bestOp, next
}

// idle reports whether an empty queue holds nothing a new one would not.
func idle(q *chatQueue, now time.Time) bool {
	return !q.until.After(now) && len(q.marks) == 0 &&
		q.pacer.TokensAt(now) >= float64(q.pacer.Burst())
}

// tokenWait is how long until l holds n tokens.
func tokenWait(l *rate.Limiter, now time.Time, n float64) time.Duration {
	short := n - l.TokensAt(now)
	if short <= 0 {
		return 0
	}
	// Rounded up to a millisecond, so the timer does not wake just short.
	return time.Duration(math.Ceil(short/float64(l.Limit())*1000)) * time.Millisecond
}

func (b *outbox) pendingLocked() int {
	n := 0
	for _, q := range b.chats {
		n += q.len()
	}
	return n
}

// startLocked runs o as its own goroutine. The global budget is taken now;
// the chat's once the call ended (see finish).
func (b *outbox) startLocked(q *chatQueue, o *op, now time.Time) {
	q.pop(o)
	q.current = o
	b.inflight++
	b.global.ReserveN(now, 1)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		// A send's caller that gives up does not cut the call once it is on
		// the wire: Telegram may have taken the message, and only the
		// answer tells its id, so no message is left behind unknown.
		ctx, cancel := context.WithTimeout(b.ctx, o.timeout())
		defer cancel()
		id, err := b.call(ctx, o)
		b.finish(q, o, id, err)
	}()
}

// finish records the outcome of a call: it delivers a send's result, or
// queues the write again after a 429 (only the newest edit of a message)
// or a network error, or logs a failed edit or delete.
func (b *outbox) finish(q *chatQueue, o *op, id int64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at := time.Now()
	q.current = nil
	b.inflight--
	if paced(o.kind, q) {
		q.pacer.ReserveN(at, 1)
	}
	b.signal()
	v, wait := verdictOf(err)
	if v == failed && b.ctx.Err() == nil && (o.ctx == nil || o.ctx.Err() == nil) && isContextErr(err) {
		v = transient // the call timed out, nobody gave up
	}
	switch v {
	case delivered:
		switch o.kind {
		case opSend:
			o.done <- sendResult{id: id}
		case opDelete:
			q.mark(o.msgID, markGone) // later edits of it are dropped
			o.done <- sendResult{}
		}
		return
	case retryLater:
		q.until = laterOf(q.until, at.Add(wait))
		b.log.Warn("telegram flood control: chat paused", "chat", o.chatID, "method", o.method(), "retry_after", wait)
		b.requeueLocked(q, o)
		return
	case transient:
		o.tries++
		if o.tries < maxAttempts && b.ctx.Err() == nil {
			q.until = laterOf(q.until, at.Add(backoff(o.tries)))
			b.requeueLocked(q, o)
			return
		}
		err = fmt.Errorf("giving up after %d attempts: %w", o.tries, err)
	}
	b.failLocked(q, o, err)
}

// requeueLocked puts a write back at the head of its kind; a send whose
// caller gave up fails instead, an edit replaced or deleted meanwhile is
// dropped.
func (b *outbox) requeueLocked(q *chatQueue, o *op) {
	switch o.kind {
	case opSend:
		if err := o.ctx.Err(); err != nil {
			b.failLocked(q, o, err)
			return
		}
		q.sends = slices.Insert(q.sends, 0, o)
	case opDelete:
		q.deletes = slices.Insert(q.deletes, 0, o)
	case opEdit:
		newer := slices.ContainsFunc(q.edits, func(x *op) bool { return x.msgID == o.msgID })
		if !newer && !q.deleting(o.msgID) {
			q.edits = slices.Insert(q.edits, 0, o)
		}
	case opDraft:
		if !slices.ContainsFunc(q.drafts, func(x *op) bool { return x.msgID == o.msgID }) {
			q.drafts = slices.Insert(q.drafts, 0, o)
		}
	}
}

// failLocked returns a send's error to its caller, or logs a failed edit
// or delete once per message.
func (b *outbox) failLocked(q *chatQueue, o *op, err error) {
	if isTooBig(err) {
		err = fmt.Errorf("%w: %w", orchestrator.ErrTooBig, err)
	}
	if v, _ := verdictOf(err); v == failed && !isContextErr(err) && !isLocal(err) {
		err = fmt.Errorf("%w: %w", orchestrator.ErrRefused, err)
	}
	err = fmt.Errorf("telegram %s: %w", o.method(), b.redact(err))
	if o.kind == opSend {
		o.done <- sendResult{err: err}
		return
	}
	if o.done != nil { // a Delete waits for its outcome
		o.done <- sendResult{err: err}
	}
	v, _ := verdictOf(err)
	gone := v == failed && isNotFound(err)
	if gone {
		q.mark(o.msgID, markGone)
	}
	if q.marks[o.msgID]&markLogged != 0 {
		return
	}
	q.mark(o.msgID, markLogged)
	level := slog.LevelWarn
	if gone {
		level = slog.LevelInfo // deleted by someone else: nothing lost
	}
	b.log.Log(context.Background(), level, "telegram write failed",
		"chat", o.chatID, "message", o.msgID, "method", o.method(), "err", err)
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// pauseAll holds every chat until t, after a 429 that names no chat.
func (b *outbox) pauseAll(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.until = laterOf(b.until, t)
	b.log.Warn("telegram flood control: all chats paused", "until", t)
}

// account counts a call made outside the queues against the global budget
// without waiting for it.
func (b *outbox) account() {
	b.global.ReserveN(time.Now(), 1)
	b.signal()
}

// waitGlobal waits until the global budget and pause allow a call outside
// the queues, and takes its share.
func (b *outbox) waitGlobal(ctx context.Context) error {
	b.mu.Lock()
	until := b.until
	b.mu.Unlock()
	if d := time.Until(until); d > 0 && !sleep(ctx, d) {
		return ctx.Err()
	}
	return b.global.Wait(ctx)
}

// close implements Client.Close.
func (b *outbox) close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	started := b.started
	b.mu.Unlock()
	if !started {
		return nil
	}
	b.signal()
	select {
	case <-b.done:
	case <-ctx.Done():
	}
	b.cancel() // cuts off calls in flight
	b.wg.Wait()
	if n := b.dropAll(); n > 0 {
		return fmt.Errorf("close telegram outbox: %d writes not delivered: %w", n, context.Cause(ctx))
	}
	return nil
}

// dropAll empties the queues once the scheduler stopped: sends fail with
// ErrClosed. It returns how many writes were dropped.
func (b *outbox) dropAll() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for id, q := range b.chats {
		for _, o := range q.sends {
			o.done <- sendResult{err: fmt.Errorf("telegram %s: %w", o.method(), ErrClosed)}
		}
		for _, o := range q.deletes {
			o.done <- sendResult{err: fmt.Errorf("telegram deleteMessage: %w", ErrClosed)}
		}
		// A draft not shown loses nothing: its answer is sent as a message.
		n += q.len() - len(q.drafts)
		delete(b.chats, id)
	}
	if n > 0 {
		b.log.Warn("telegram outbox closed with writes not delivered", "writes", n)
	}
	return n
}
