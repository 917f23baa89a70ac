package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// isTerminal reports whether f is a terminal. A CLI reads a piped stdin but
// not a terminal; /dev/null is piped input that ends at once.
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// readStdin reads stdin to its end, as the CLIs do that take piped input:
// a caller that never closes stdin hangs them.
func readStdin() (string, error) {
	if isTerminal(os.Stdin) {
		return "", nil
	}
	b, err := io.ReadAll(os.Stdin)
	if err != nil {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	return string(b), nil
}

// readStdinPatiently reads stdin the way gemini does: when nothing arrives
// within wait it gives up and reads nothing, so a stdin left open does not
// hang the run; once input comes, it reads to the end.
func readStdinPatiently(wait time.Duration) (string, error) {
	if isTerminal(os.Stdin) {
		return "", nil
	}
	// Only a non-blocking descriptor gets read deadlines (pipes do; files
	// and /dev/null do not, and they end anyway).
	if err := syscall.SetNonblock(int(os.Stdin.Fd()), true); err != nil {
		return readStdin()
	}
	// f takes fd 0 over and closes it: stdin is read once.
	f := os.NewFile(os.Stdin.Fd(), "/dev/stdin")
	defer f.Close()
	if err := f.SetReadDeadline(time.Now().Add(wait)); err != nil {
		b, err := io.ReadAll(f)
		return string(b), err
	}
	first := make([]byte, 64<<10)
	n, err := f.Read(first)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), err == io.EOF:
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read stdin: %w", err)
	}
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	return string(first[:n]) + string(rest), nil
}

// userText joins the text of the user messages in stream-json input, the
// input claude and amp take with their stream-json input options.
func userText(data string) (string, error) {
	var texts []string
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var msg struct {
			Type    string `json:"type"`
			Message struct {
				Content json.RawMessage `json:"content"`
			} `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			return "", fmt.Errorf("Error parsing streaming input line: %s: %v", sc.Text(), err)
		}
		if msg.Type != "user" {
			continue
		}
		var s string
		if json.Unmarshal(msg.Message.Content, &s) == nil {
			texts = append(texts, s)
			continue
		}
		var blocks []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(msg.Message.Content, &blocks); err != nil {
			return "", fmt.Errorf("Error parsing streaming input line: %s: %v", sc.Text(), err)
		}
		for _, b := range blocks {
			if b.Type == "text" {
				texts = append(texts, b.Text)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	return strings.Join(texts, "\n"), nil
}
