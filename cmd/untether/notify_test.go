package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/state"
	"github.com/untether-go/untether/orchestrator/telegram"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// listenNotify listens where systemd would (a unixgram socket for
// NOTIFY_SOCKET) and returns the socket's path and the datagrams received.
func listenNotify(t *testing.T) (string, <-chan string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1000)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(got)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case got <- string(buf[:n]):
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		conn.Close()
		<-done
	})
	return sock, got
}

// watchdogEnv makes this process look like a unit with WatchdogSec: the
// notifier pings every 100 ms while it may.
func watchdogEnv(t *testing.T, sock string) {
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
}

// runNotifier runs n until the end of the test.
func runNotifier(t *testing.T, n *notifier) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); n.run(ctx, func() (int, int) { return 0, 0 }) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// quietFor waits, up to limit, for a span of gap without a datagram
// containing state.
func quietFor(t *testing.T, got <-chan string, state string, gap, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	quiet := time.NewTimer(gap)
	defer quiet.Stop()
	for {
		select {
		case msg, ok := <-got:
			if !ok {
				t.Fatal("notify socket closed")
			}
			if strings.Contains(msg, state) {
				quiet.Reset(gap)
			}
		case <-quiet.C:
			return
		case <-deadline:
			t.Fatalf("%q kept coming for %v", state, limit)
		}
	}
}

// nothing is a Handler for a poll whose updates do not matter.
type nothing struct{}

func (nothing) Handle(context.Context, orchestrator.Message) {}

func TestWatchdogPingsOnlyWhilePollsSucceed(t *testing.T) {
	sock, got := listenNotify(t)
	watchdogEnv(t, sock)
	srv := telegramtest.NewServer(telegramtest.Options{})
	t.Cleanup(srv.Close)
	const pollTimeout, margin = time.Second, time.Second
	n := &notifier{log: slog.New(slog.DiscardHandler), pollWithin: pollTimeout + margin}
	tg, err := telegram.New(telegram.Options{Token: srv.Token(), APIURL: srv.URL(),
		PollTimeout: pollTimeout, PollMargin: margin, OnPolled: n.Polled})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tg.Close(context.Background()); err != nil {
			t.Errorf("close telegram client: %v", err)
		}
	})
	runNotifier(t, n)
	ctx, stopPoll := context.WithCancel(context.Background())
	polled := make(chan error, 1)
	go func() { polled <- tg.Poll(ctx, nothing{}, state.NewOffset(t.TempDir())) }()
	t.Cleanup(func() {
		stopPoll()
		if err := <-polled; err != nil {
			t.Errorf("poll: %v", err)
		}
	})

	expectState(t, got, "READY=1", 10*time.Second)
	expectState(t, got, "WATCHDOG=1", 2*time.Second)

	// getUpdates hangs: once the last success is older than a poll may
	// take, the pings stop, and stay away.
	srv.Stall("getUpdates", 1000)
	quietFor(t, got, "WATCHDOG=1", time.Second, 3*(pollTimeout+margin))
	quietFor(t, got, "WATCHDOG=1", 2*time.Second, 2*time.Second+500*time.Millisecond)

	// It answers again: so does the watchdog.
	srv.Unstall("getUpdates")
	expectState(t, got, "WATCHDOG=1", 15*time.Second)
}

func TestWatchdogWaitsForTheFirstPollAndPingsWhileStopping(t *testing.T) {
	sock, got := listenNotify(t)
	watchdogEnv(t, sock)
	n := &notifier{log: slog.New(slog.DiscardHandler), pollWithin: time.Minute}
	runNotifier(t, n)
	// No getUpdates has succeeded yet: no ping.
	quietFor(t, got, "WATCHDOG=1", time.Second, time.Second+500*time.Millisecond)
	// The drain has begun: polling may stop, the pings may not.
	n.Stopping()
	expectState(t, got, "STOPPING=1", time.Second)
	expectState(t, got, "WATCHDOG=1", time.Second)
}

func TestWatchdogAlive(t *testing.T) {
	now := time.Now()
	limit := 30*time.Second + telegram.DefaultPollMargin
	tests := []struct {
		name     string
		polled   time.Time
		stopping bool
		want     bool
	}{
		{"never polled", time.Time{}, false, false},
		{"polled within a poll timeout", now.Add(-30 * time.Second), false, true},
		{"polled at the limit", now.Add(-limit), false, true},
		{"poll too old", now.Add(-limit - time.Second), false, false},
		{"stopping, poll too old", now.Add(-time.Hour), true, true},
		{"stopping, never polled", time.Time{}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNotifier(slog.New(slog.DiscardHandler), 30*time.Second)
			n.polled, n.stopping = tt.polled, tt.stopping
			if got, _ := n.alive(now); got != tt.want {
				t.Errorf("alive = %v, want %v", got, tt.want)
			}
		})
	}
}
