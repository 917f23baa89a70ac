package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/untether-go/untether/engines/enginetest/captures"
)

// runClaudeControl answers as claude in its control protocol (`claude -p
// --input-format stream-json --permission-prompt-tool stdio`): it answers
// the client's initialize, takes the prompt's user message, and replays the
// real run captured in captures/claude/control/allow. At its can_use_tool
// request it waits for the client's control_response, as the real CLI does;
// a denial goes on with control/deny instead. Once the result is out it
// waits for stdin to end (the real CLI waits for more user messages).
func runClaudeControl(stdin io.Reader, stdout io.Writer) int {
	allow, err1 := controlLines("allow")
	deny, err2 := controlLines("deny")
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, "fakeengine: claude:", err)
		return claudeExitError
	}
	lines := make(chan []byte)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			lines <- bytes.Clone(sc.Bytes())
		}
	}()
	out := bufio.NewWriter(stdout)
	emit := func(l []byte) { out.Write(l); out.WriteByte('\n'); out.Flush() }

	// The client's initialize and its prompt.
	for prompted := false; !prompted; {
		l, ok := <-lines
		if !ok {
			fmt.Fprintln(os.Stderr, claudeNoInput)
			return claudeExitError
		}
		var m struct {
			Type      string `json:"type"`
			RequestID string `json:"request_id"`
		}
		json.Unmarshal(l, &m)
		switch m.Type {
		case "control_request":
			emit(fmt.Appendf(nil, `{"type":"control_response","response":{"subtype":"success","request_id":%q,"response":{}}}`, m.RequestID))
		case "user":
			prompted = true
		}
	}
	stream, denied := allow, false
	for i := 0; i < len(stream); i++ {
		emit(stream[i])
		id, asks := canUseTool(stream[i])
		if !asks {
			continue
		}
		behavior, ok := awaitAnswer(lines, id)
		if !ok {
			return claudeExitError
		}
		if behavior == "deny" && !denied {
			stream, i, denied = deny, requestIndex(deny), true
		}
	}
	for range lines { // until stdin ends
	}
	return 0
}

// controlLines is a captured interactive run's stdout, with the session id
// of control/allow throughout (so that a run that turns to control/deny
// keeps its session).
func controlLines(name string) ([][]byte, error) {
	data, err := fs.ReadFile(captures.Engine("claude"), "control/"+name+".out.jsonl")
	if err != nil {
		return nil, err
	}
	if name != "allow" {
		allow, err := fs.ReadFile(captures.Engine("claude"), "control/allow.out.jsonl")
		if err != nil {
			return nil, err
		}
		data = bytes.ReplaceAll(data, []byte(sessionOf(data)), []byte(sessionOf(allow)))
	}
	return bytes.Split(bytes.TrimSpace(data), []byte("\n")), nil
}

func sessionOf(stream []byte) string {
	var first struct {
		SessionID string `json:"session_id"`
	}
	line, _, _ := bytes.Cut(stream, []byte("\n"))
	json.Unmarshal(line, &first)
	return first.SessionID
}

// canUseTool returns the request id of a can_use_tool line.
func canUseTool(line []byte) (string, bool) {
	var m struct {
		Type      string `json:"type"`
		RequestID string `json:"request_id"`
		Request   struct {
			Subtype string `json:"subtype"`
		} `json:"request"`
	}
	json.Unmarshal(line, &m)
	return m.RequestID, m.Type == "control_request" && m.Request.Subtype == "can_use_tool"
}

func requestIndex(stream [][]byte) int {
	for i, l := range stream {
		if _, ok := canUseTool(l); ok {
			return i
		}
	}
	return len(stream)
}

// awaitAnswer reads the client's lines until the control_response to id,
// and returns its behavior.
func awaitAnswer(lines <-chan []byte, id string) (string, bool) {
	for l := range lines {
		var m struct {
			Type     string `json:"type"`
			Response struct {
				RequestID string `json:"request_id"`
				Response  struct {
					Behavior string `json:"behavior"`
				} `json:"response"`
			} `json:"response"`
		}
		if json.Unmarshal(l, &m) == nil && m.Type == "control_response" && m.Response.RequestID == id {
			return m.Response.Response.Behavior, true
		}
	}
	fmt.Fprintln(os.Stderr, "fakeengine: claude: stdin ended while a permission request waited")
	return "", false
}
