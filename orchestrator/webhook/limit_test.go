package webhook

import (
	"fmt"
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(0, 0)
	b := newBucket(Rate{PerMinute: 60, Burst: 2}, t0)
	for i, want := range []bool{true, true, false} {
		if ok, _ := b.take(t0); ok != want {
			t.Fatalf("take %d = %v, want %v", i, ok, want)
		}
	}
	if _, wait := b.take(t0.Add(500 * time.Millisecond)); wait != 500*time.Millisecond {
		t.Errorf("wait = %s, want 500ms", wait)
	}
	if ok, _ := b.take(t0.Add(time.Second)); !ok {
		t.Error("no token after a second")
	}
	if ok, _ := b.take(t0.Add(time.Hour)); !ok {
		t.Error("no token after an hour")
	}
	if ok, _ := b.take(t0.Add(time.Hour)); !ok {
		t.Error("the burst did not refill")
	}
	if ok, _ := b.take(t0.Add(time.Hour)); ok {
		t.Error("more than the burst")
	}
}

func TestMemory(t *testing.T) {
	t0 := time.Unix(0, 0)
	m := newMemory(time.Minute)
	m.add("a", t0)
	m.add("b", t0.Add(30*time.Second))
	if !m.has("a", t0.Add(59*time.Second)) || m.has("a", t0.Add(time.Minute)) {
		t.Error("a not kept for exactly a minute")
	}
	m.forget("b")
	m.add("b", t0.Add(40*time.Second)) // a second entry for b
	m.add("c", t0.Add(80*time.Second)) // drops a and b's first entry
	if !m.has("b", t0.Add(90*time.Second)) {
		t.Error("b's first entry took its second one with it")
	}
	if len(m.seen) != 2 {
		t.Errorf("seen = %v, want b and c", m.seen)
	}
	for i := range maxRemembered + 10 {
		m.add(fmt.Sprint(i), t0.Add(90*time.Second))
	}
	if len(m.seen) > maxRemembered || len(m.order) > maxRemembered {
		t.Errorf("memory holds %d keys, %d entries; want at most %d", len(m.seen), len(m.order), maxRemembered)
	}
}
