package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// signalError is the cause of a run's context when a signal ends the run.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "got " + e.sig.String() }

// watchSignals returns a context that ends with a signalError on SIGINT or
// SIGTERM (SIGTERM is ignored instead when ignoreTerm is set, so a canceller
// must escalate to SIGKILL). stop releases the signals and waits for the
// watching goroutine.
func watchSignals(ignoreTerm bool) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := []os.Signal{syscall.SIGINT}
	if ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	} else {
		sigs = append(sigs, syscall.SIGTERM)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, sigs...)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case s := <-c:
			cancel(signalError{s.(syscall.Signal)})
		case <-ctx.Done():
		}
	})
	return ctx, func() {
		signal.Stop(c)
		cancel(nil)
		wg.Wait()
	}
}

// signalled returns the signal that ended ctx, or 0.
func signalled(ctx context.Context) int {
	var se signalError
	if errors.As(context.Cause(ctx), &se) {
		return int(se.sig)
	}
	return 0
}

// spin busy-loops on every CPU until stop is called, which waits for the
// loops to end.
func spin() (stop func()) {
	n := runtime.NumCPU()
	// The runtime sizes GOMAXPROCS to a cgroup CPU quota; the point is to
	// push against that quota, and the replay itself needs a thread too.
	prev := runtime.GOMAXPROCS(n + 1)
	var done atomic.Bool
	var wg sync.WaitGroup
	sums := make([]uint64, n)
	for i := range n {
		wg.Go(func() {
			x := uint64(i + 1)
			for !done.Load() {
				for range 1 << 12 {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			sums[i] = x // keeps the loop from being optimized away
		})
	}
	return func() {
		done.Store(true)
		wg.Wait()
		runtime.GOMAXPROCS(prev)
	}
}

// forkbombChildRole is childRoleEnv's value in the copies forkbomb starts.
const forkbombChildRole = "forkbomb-child"

// forkbombChildArg0 names the copies in ps and /proc/PID/cmdline; their
// second argument is the parent's pid.
const forkbombChildArg0 = "fakeengine-forkbomb-child"

// forkbomb starts copies of the fake until starting one fails, attempts are
// used up or ctx ends. The copies stay alive while the fake lives: they die
// with it (parent-death signal, and a check of their parent pid), so a
// forkbomb run on a host leaves nothing behind.
func forkbomb(ctx context.Context, attempts int, stderr io.Writer) {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "fakeengine: forkbomb: %v\n", err)
		return
	}
	parent := strconv.Itoa(os.Getpid())
	env := append(os.Environ(), childRoleEnv+"="+forkbombChildRole,
		"GOMAXPROCS=1", "GOGC=off") // as few threads and as little memory per copy as Go allows
	started := 0
	var stopErr error
	for ; started < attempts; started++ {
		if stopErr = ctx.Err(); stopErr != nil {
			break
		}
		cmd := exec.Command(exe)
		cmd.Args = []string{forkbombChildArg0, parent}
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if stopErr = cmd.Start(); stopErr != nil {
			break
		}
		// Keep no pidfd per copy: the fd limit must not stop the bomb first.
		_ = cmd.Process.Release()
	}
	if stopErr == nil {
		stopErr = errors.New("attempts used up")
	}
	fmt.Fprintf(stderr, "fakeengine: forkbomb: started %d copies in %d attempts; stopped: %v\n",
		started, min(started+1, attempts), stopErr)
}

// forkbombChild is the body of a copy started by forkbomb: it waits until
// its parent is gone.
func forkbombChild() int {
	parent := -1
	if len(os.Args) > 1 {
		parent, _ = strconv.Atoi(os.Args[1])
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != parent {
			return 0
		}
	}
	return 0
}

// allocateUntilKilled allocates memory in 1 MiB chunks and touches every
// page, so the memory is resident, until the kernel kills the process or
// ctx ends.
func allocateUntilKilled(ctx context.Context, stderr io.Writer) {
	fmt.Fprintln(stderr, "fakeengine: allocating memory until killed")
	page := os.Getpagesize()
	var chunks [][]byte
	for ctx.Err() == nil {
		c := make([]byte, 1<<20)
		for i := 0; i < len(c); i += page {
			c[i] = 1
		}
		chunks = append(chunks, c)
	}
	runtime.KeepAlive(chunks)
}

// oomChildRole is childRoleEnv's value in the copy oomChild starts.
const oomChildRole = "oom-child"

// oomChild starts a copy of the fake that allocates memory until it is
// killed, as a build the agent runs in its shell tool can, and waits for
// it to end: the OOM killer takes the copy, the biggest process, and the
// run goes on.
func oomChild(ctx context.Context, stderr io.Writer) {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "fakeengine: child-oom: %v\n", err)
		return
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Args = []string{"fakeengine-oom-child"}
	cmd.Env = append(os.Environ(), childRoleEnv+"="+oomChildRole)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	fmt.Fprintf(stderr, "fakeengine: child-oom: the child ended: %v\n", err)
}

// crash prints what a crashing CLI prints on stderr.
func crash(stderr io.Writer, code int) {
	fmt.Fprintf(stderr, "fake: crashing on request\n"+
		"Error: fake crash, exit status %d\n"+
		"    at crash (file:///fakeengine/cli.js:1:1)\n"+
		"    at main (file:///fakeengine/cli.js:2:1)\n", code)
}
