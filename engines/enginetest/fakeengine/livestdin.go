package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// stdinHelperName is the name the fake answers to as the live-stdin helper
// that sandbox/podman wraps interactive runs in; the engine images install
// a bash script of the same behaviour (images/*/Containerfile).
const stdinHelperName = "untether-stdin"

// fifoWait bounds how long `write` waits for `run` to make the FIFO.
const fifoWait = 30 * time.Second

// runStdinHelper is untether-stdin:
//
//	untether-stdin run FIFO -- ARGV...  make FIFO if missing, exec ARGV with FIFO opened read-write as fd 0
//	untether-stdin write FIFO           wait until FIFO exists, copy stdin into it
//	untether-stdin launch               read a launch header from stdin, exec it (launch.go)
//
// The process holds its own FIFO open for writing too, so it never reads
// EOF while no writer is connected: a bridge that detaches or dies ends
// its `write`, not the conversation.
func runStdinHelper(args []string) int {
	usage := func() int {
		fmt.Fprintln(os.Stderr, "usage: untether-stdin run FIFO -- ARGV... | untether-stdin write FIFO | untether-stdin launch")
		return exitBadDirective
	}
	if len(args) == 1 && args[0] == "launch" {
		err := stdinLaunch(os.Stdin)
		fmt.Fprintf(os.Stderr, "untether-stdin: %v\n", err)
		return 1
	}
	if len(args) < 2 {
		return usage()
	}
	var err error
	switch cmd, fifo, rest := args[0], args[1], args[2:]; {
	case cmd == "run" && len(rest) >= 2 && rest[0] == "--":
		err = stdinRun(fifo, rest[1:])
	case cmd == "write" && len(rest) == 0:
		err = stdinWrite(fifo)
	default:
		return usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "untether-stdin: %v\n", err)
		return 1
	}
	return 0
}

// stdinRun replaces the helper by argv, reading fifo; it returns only on
// failure, with an error.
func stdinRun(fifo string, argv []string) error {
	if err := syscall.Mkfifo(fifo, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("make %s: %w", fifo, err)
	}
	f, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return fmt.Errorf("%s is not a FIFO", fifo)
	}
	if err := syscall.Dup3(int(f.Fd()), 0, 0); err != nil {
		return fmt.Errorf("make %s the standard input: %w", fifo, err)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}

// stdinWrite copies stdin into fifo once it exists.
func stdinWrite(fifo string) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(fifoWait)
	for {
		fi, err := os.Stat(fifo)
		if err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no FIFO at %s after %v", fifo, fifoWait)
		}
		<-t.C
	}
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, os.Stdin); err != nil {
		f.Close()
		return fmt.Errorf("copy to %s: %w", fifo, err)
	}
	return f.Close()
}
