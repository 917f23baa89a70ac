package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/untether-go/untether/engines/enginetest/captures"
)

// stream is one captured run, ready to replay.
type stream struct {
	name      string   // the case
	lines     [][]byte // stdout, without the newlines
	stderr    []byte
	sessionID string // the session id the capture carries
	// paced marks the lines that are pieces of a streamed answer
	// (fake:stream): they come the directive's gap apart.
	paced map[int]bool
}

// loadStream reads the captured case of engine e: <case>.jsonl (stdout)
// and <case>.stderr.txt (stderr) of package captures.
func loadStream(e *engine, name string) (stream, error) {
	fsys := captures.Engine(e.name)
	data, err := fs.ReadFile(fsys, name+".jsonl")
	if err != nil {
		return stream{}, fmt.Errorf("no captured case %q for %s (have %s)", name, e.name, strings.Join(streamCases(e.name), ", "))
	}
	s := stream{name: name}
	for line := range bytes.Lines(data) {
		s.lines = append(s.lines, bytes.TrimSuffix(line, []byte("\n")))
	}
	// A case captured without stderr has an empty file; none is the same.
	s.stderr, _ = fs.ReadFile(fsys, name+".stderr.txt")
	s.sessionID = e.sessionOf(s.lines)
	return s, nil
}

// streamCases lists the captured one-shot cases of engine, not its ACP
// transcripts.
func streamCases(engine string) []string {
	entries, _ := fs.ReadDir(captures.Engine(engine), ".")
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".jsonl"); ok && !strings.HasPrefix(name, captures.TranscriptPrefix) {
			names = append(names, name)
		}
	}
	return names
}

// hasCase reports whether engine has the captured case.
func hasCase(engine, name string) bool {
	_, err := fs.Stat(captures.Engine(engine), name+".jsonl")
	return err == nil
}

// sessionKey returns a function that finds the session id as the first
// top-level string key of the lines.
func sessionKey(key string) func([][]byte) string {
	return func(lines [][]byte) string {
		for _, line := range lines {
			var ev map[string]json.RawMessage
			var id string
			if json.Unmarshal(line, &ev) == nil && json.Unmarshal(ev[key], &id) == nil && id != "" {
				return id
			}
		}
		return ""
	}
}

// lineType returns the "type" of an event line, "" if it has none.
func lineType(line []byte) string {
	var ev struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(line, &ev)
	return ev.Type
}

// setSessionID makes every line carry id instead of the captured session
// id. The captured ids are unique strings (UUIDs, ses_..., T-...), so a byte
// replacement cannot hit anything else.
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

// answerSite is a JSON string in a line that carries (part of) the final
// answer: the last "key":old in line.
type answerSite struct {
	line int
	key  string
	old  json.RawMessage
}

// replace puts value (a JSON string) at each site; the rest of each line is
// kept byte for byte.
func (s *stream) replace(sites []answerSite, values ...[]byte) error {
	var errs []error
	for i, site := range sites {
		value := values[min(i, len(values)-1)]
		line, err := replaceLast(s.lines[site.line], site.key, site.old, value)
		s.lines[site.line] = line
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

// isJSONString reports whether raw is a JSON string.
func isJSONString(raw json.RawMessage) bool {
	return len(raw) > 0 && raw[0] == '"'
}

// setResultAnswer replaces the final answer of a Claude Code style stream
// (claude, amp): the result line's "result" and the text of the last
// assistant event that has text. Streamed deltas (stream_event lines) keep
// the captured text.
func setResultAnswer(s *stream, answer string) error {
	var result, text []answerSite
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
			if isJSONString(ev.Result) {
				result = []answerSite{{i, "result", ev.Result}}
			}
		case "assistant":
			for _, c := range ev.Message.Content {
				if c.Type == "text" {
					text = []answerSite{{i, "text", c.Text}}
				}
			}
		}
	}
	return s.replace(append(result, text...), jsonJS(answer))
}

// jsonJS encodes v the way JavaScript's JSON.stringify does: no HTML
// escaping.
func jsonJS(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings and the fake's own types always encode
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
