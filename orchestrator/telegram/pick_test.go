package telegram

import (
	"log/slog"
	"testing"
	"time"
)

// TestPick checks the scheduler's choice among queued writes, without a
// server: which write goes now, or how long until one may.
func TestPick(t *testing.T) {
	const a, b = int64(-1), int64(-2) // groups: 5 at once, then one per 4.2 s
	now := time.Now()
	queue := func(o *outbox, chat int64, kind opKind, seq uint64) {
		q := o.chatLocked(chat)
		x := &op{kind: kind, chatID: chat, msgID: int64(seq), seq: seq}
		switch kind {
		case opSend:
			q.sends = append(q.sends, x)
		case opDelete:
			q.deletes = append(q.deletes, x)
		default:
			q.edits = append(q.edits, x)
		}
	}
	spend := func(o *outbox, chat int64, n int) { o.chatLocked(chat).pacer.ReserveN(now, n) }
	tests := []struct {
		name     string
		setup    func(o *outbox)
		wantChat int64 // 0: nothing goes now
		wantKind opKind
		wantWait time.Duration
	}{
		{"a send beats an older edit of another chat", func(o *outbox) {
			queue(o, a, opEdit, 1)
			queue(o, b, opSend, 2)
		}, b, opSend, 0},
		{"a delete beats an older edit of another chat", func(o *outbox) {
			queue(o, a, opEdit, 1)
			queue(o, b, opDelete, 2)
		}, b, opDelete, 0},
		{"the older of two sends", func(o *outbox) {
			queue(o, a, opSend, 2)
			queue(o, b, opSend, 1)
		}, b, opSend, 0},
		{"within a chat sends come first", func(o *outbox) {
			queue(o, a, opEdit, 1)
			queue(o, a, opDelete, 2)
			queue(o, a, opSend, 3)
		}, a, opSend, 0},
		{"a paused chat waits, another goes", func(o *outbox) {
			queue(o, a, opSend, 1)
			o.chatLocked(a).until = now.Add(time.Second)
			queue(o, b, opEdit, 2)
		}, b, opEdit, time.Second},
		{"a busy chat waits for its call", func(o *outbox) {
			queue(o, a, opSend, 1)
			o.chatLocked(a).current = &op{}
		}, 0, 0, 0},
		{"a send may take a group's last token", func(o *outbox) {
			spend(o, a, 4)
			queue(o, a, opSend, 1)
		}, a, opSend, 0},
		{"an edit leaves two tokens to sends", func(o *outbox) {
			spend(o, a, 3)
			queue(o, a, opEdit, 1)
		}, 0, 0, 4200 * time.Millisecond},
		{"a delete leaves one", func(o *outbox) {
			spend(o, a, 4)
			queue(o, a, opDelete, 1)
		}, 0, 0, 4200 * time.Millisecond},
		{"a private chat paces edits like sends", func(o *outbox) {
			o.chatLocked(7).pacer.ReserveN(now, 1)
			queue(o, 7, opEdit, 1)
		}, 0, 0, 1100 * time.Millisecond},
		{"a private chat's deletes are not paced", func(o *outbox) {
			o.chatLocked(7).pacer.ReserveN(now, 1)
			queue(o, 7, opDelete, 1)
		}, 7, opDelete, 0},
		{"the global budget holds everything", func(o *outbox) {
			o.global.ReserveN(now, 5)
			queue(o, a, opSend, 1)
		}, 0, 0, 40 * time.Millisecond},
		{"a global pause holds everything", func(o *outbox) {
			o.until = now.Add(2 * time.Second)
			queue(o, a, opSend, 1)
		}, 0, 0, 2 * time.Second},
		{"no more than maxInFlight calls", func(o *outbox) {
			o.inflight = maxInFlight
			queue(o, a, opSend, 1)
		}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOutbox(defaultPacing(), nil, slog.New(slog.DiscardHandler), func(err error) error { return err })
			tt.setup(o)
			q, x, wait := o.pickLocked(now)
			switch {
			case tt.wantChat == 0 && x != nil:
				t.Errorf("picked %v of chat %d, want none", x.kind.method(), x.chatID)
			case tt.wantChat != 0 && x == nil:
				t.Errorf("picked none (wait %v), want %s of chat %d", wait, tt.wantKind.method(), tt.wantChat)
			case x != nil && (x.chatID != tt.wantChat || x.kind != tt.wantKind || q != o.chats[tt.wantChat]):
				t.Errorf("picked %s of chat %d, want %s of chat %d", x.kind.method(), x.chatID, tt.wantKind.method(), tt.wantChat)
			}
			if wait != tt.wantWait {
				t.Errorf("wait = %v, want %v", wait, tt.wantWait)
			}
		})
	}
}
