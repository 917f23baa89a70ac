package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// streamFS holds the captured streams, streams/<engine>/<case>.jsonl, copied
// unchanged from shared/fixtures/engines/<engine>/.
//
//go:embed streams
var streamFS embed.FS

// stream is one captured run, ready to replay.
type stream struct {
	lines     [][]byte // without their newlines
	sessionID string   // the session id the capture carries
}

// loadStream reads the captured case of engine.
func loadStream(engine, name string) (stream, error) {
	data, err := streamFS.ReadFile(path.Join("streams", engine, name+".jsonl"))
	if err != nil {
		return stream{}, fmt.Errorf("no captured case %q for %s (have %s)", name, engine, strings.Join(streamCases(engine), ", "))
	}
	var s stream
	for line := range bytes.Lines(data) {
		s.lines = append(s.lines, bytes.TrimSuffix(line, []byte("\n")))
	}
	for _, line := range s.lines {
		var ev struct {
			SessionID string `json:"session_id"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.SessionID != "" {
			s.sessionID = ev.SessionID
			break
		}
	}
	return s, nil
}

// streamCases lists the captured cases of engine.
func streamCases(engine string) []string {
	entries, _ := fs.ReadDir(streamFS, path.Join("streams", engine))
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".jsonl"); ok {
			names = append(names, name)
		}
	}
	return names
}

// lineType returns the "type" of an event line, "" if it has none.
func lineType(line []byte) string {
	var ev struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(line, &ev)
	return ev.Type
}

// headLen is how many lines there are up to and including system/init (the
// whole stream if it has none).
func (s *stream) headLen() int {
	for i, line := range s.lines {
		var ev struct {
			Type    string `json:"type"`
			Subtype string `json:"subtype"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Type == "system" && ev.Subtype == "init" {
			return i + 1
		}
	}
	return len(s.lines)
}

// setSessionID makes every line carry id instead of the captured session id.
// The id is a UUID in the captures, so a byte replacement cannot hit
// anything else.
func (s *stream) setSessionID(id string) {
	if s.sessionID == "" || id == s.sessionID {
		return
	}
	old, repl := []byte(s.sessionID), []byte(id)
	for i, line := range s.lines {
		s.lines[i] = bytes.ReplaceAll(line, old, repl)
	}
	s.sessionID = id
}

// setAnswer replaces the final answer: the result line's "result" and the
// text of the last assistant event that has text. The rest of each line is
// kept byte for byte. Streamed deltas (stream_event lines) keep the captured
// text.
func (s *stream) setAnswer(answer string) error {
	value := jsonString(answer)
	resultAt, textAt := -1, -1
	var resultRaw, textRaw json.RawMessage
	for i, line := range s.lines {
		var ev struct {
			Type    string          `json:"type"`
			Result  json.RawMessage `json:"result"`
			Message struct {
				Content []struct {
					Type string          `json:"type"`
					Text json.RawMessage `json:"text"`
				} `json:"content"`
			} `json:"message"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch ev.Type {
		case "result":
			if len(ev.Result) > 0 && ev.Result[0] == '"' {
				resultAt, resultRaw = i, ev.Result
			}
		case "assistant":
			for _, c := range ev.Message.Content {
				if c.Type == "text" {
					textAt, textRaw = i, c.Text
				}
			}
		}
	}
	var errs []error
	if resultAt >= 0 {
		line, err := replaceLast(s.lines[resultAt], "result", resultRaw, value)
		s.lines[resultAt] = line
		errs = append(errs, err)
	}
	if textAt >= 0 {
		line, err := replaceLast(s.lines[textAt], "text", textRaw, value)
		s.lines[textAt] = line
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// replaceLast replaces the last "key":old in line by "key":value.
func replaceLast(line []byte, key string, old, value []byte) ([]byte, error) {
	prefix := []byte(`"` + key + `":`)
	needle := append(append([]byte{}, prefix...), old...)
	at := bytes.LastIndex(line, needle)
	if at < 0 {
		return line, fmt.Errorf("set answer: %q not found in line", key)
	}
	out := make([]byte, 0, len(line)-len(old)+len(value))
	out = append(out, line[:at+len(prefix)]...)
	out = append(out, value...)
	return append(out, line[at+len(needle):]...), nil
}

// jsonString encodes s as a JSON string the way JavaScript does: no HTML
// escaping.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// garbageLine returns the i-th line of garbage: things a parser of the
// stream must survive.
func garbageLine(i int) []byte {
	lines := [...]string{
		"fake: this line is not JSON",
		"\xff\xfe invalid UTF-8 \xc3\x28 \xed\xa0\x80",
		`{"type":"assistant","message":{"id":"msg_truncated","content":[{"type":"text","te`,
		"\x1b[31mWARNING\x1b[0m something printed to stdout",
		"}{",
	}
	return []byte(lines[i%len(lines)])
}
