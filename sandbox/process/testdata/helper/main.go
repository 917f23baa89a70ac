// Command helper is the stand-in engine of the process backend's tests. It
// runs its arguments as a script of verb=argument steps, in order:
//
//	out=TEXT       print TEXT and a newline on stdout
//	outn=TEXT      print TEXT on stdout, without a newline
//	lines=N        print "line 1" … "line N" on stdout
//	err=TEXT       print TEXT and a newline on stderr
//	errbytes=N     write N bytes of 'e' to stderr, then "END"
//	cat            copy stdin to stdout, each line prefixed "in:"
//	count          read stdin to its end and print "bytes=N"
//	sleep=DUR      sleep (a Go duration)
//	ignoreterm     ignore SIGTERM from here on
//	waitfile=PATH  wait until PATH exists
//	spawn=PIDFILE  start a grandchild that ignores SIGTERM and sleeps an
//	               hour holding stdout open; write its pid to PIDFILE
//	escape=PIDFILE the same, but the grandchild leaves the process group
//	env=NAME       print NAME=value, or "NAME unset"
//	environ        print every environment variable as "env:NAME=value"
//	pwd            print the working directory
//	ids            print "leader=true" when it leads its own session and group
//	writehome=F:C  write C to $HOME/F
//	readhome=F     print "home:" and the content of $HOME/F
//	raise=SIG      send itself SIGKILL (KILL) or SIGTERM (TERM)
//	exit=N         exit with code N
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	for _, step := range os.Args[1:] {
		verb, arg, _ := strings.Cut(step, "=")
		if err := do(verb, arg); err != nil {
			fmt.Fprintf(os.Stderr, "helper: %s: %v\n", step, err)
			os.Exit(99)
		}
	}
}

func do(verb, arg string) error {
	switch verb {
	case "out":
		fmt.Println(arg)
	case "outn":
		fmt.Print(arg)
	case "lines":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(os.Stdout)
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "line %d\n", i)
		}
		return w.Flush()
	case "err":
		fmt.Fprintln(os.Stderr, arg)
	case "errbytes":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		_, err = os.Stderr.WriteString(strings.Repeat("e", n) + "END")
		return err
	case "cat":
		s := bufio.NewScanner(os.Stdin)
		for s.Scan() {
			fmt.Println("in:" + s.Text())
		}
		return s.Err()
	case "count":
		n, err := io.Copy(io.Discard, os.Stdin)
		if err != nil {
			return err
		}
		fmt.Printf("bytes=%d\n", n)
	case "sleep":
		d, err := time.ParseDuration(arg)
		if err != nil {
			return err
		}
		time.Sleep(d)
	case "ignoreterm":
		signal.Ignore(syscall.SIGTERM)
	case "waitfile":
		for {
			if _, err := os.Stat(arg); err == nil {
				return nil
			}
			time.Sleep(10 * time.Millisecond)
		}
	case "spawn", "escape":
		return spawn(arg, verb == "escape")
	case "env":
		if v, ok := os.LookupEnv(arg); ok {
			fmt.Printf("%s=%s\n", arg, v)
		} else {
			fmt.Printf("%s unset\n", arg)
		}
	case "environ":
		for _, kv := range os.Environ() {
			fmt.Println("env:" + kv)
		}
	case "pwd":
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		fmt.Println(wd)
	case "ids":
		pid := syscall.Getpid()
		sid, _, _ := syscall.RawSyscall(syscall.SYS_GETSID, 0, 0, 0)
		fmt.Printf("leader=%t\n", syscall.Getpgrp() == pid && int(sid) == pid)
	case "writehome":
		name, content, _ := strings.Cut(arg, ":")
		return os.WriteFile(filepath.Join(os.Getenv("HOME"), name), []byte(content), 0o600)
	case "readhome":
		b, err := os.ReadFile(filepath.Join(os.Getenv("HOME"), arg))
		if err != nil {
			return err
		}
		fmt.Println("home:" + string(b))
	case "raise":
		sig := map[string]syscall.Signal{"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM}[arg]
		if sig == 0 {
			return fmt.Errorf("unknown signal %q", arg)
		}
		if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
			return err
		}
		time.Sleep(time.Minute)
	case "exit":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		os.Exit(n)
	default:
		return fmt.Errorf("unknown verb %q", verb)
	}
	return nil
}

// spawn starts a grandchild that outlives this process unless its process
// group is killed; with escape it starts its own session and so leaves the
// group.
func spawn(pidfile string, escape bool) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "ignoreterm", "sleep=1h")
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if escape {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	return os.WriteFile(pidfile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
}
