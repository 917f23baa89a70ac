package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// fake:stream: the final answer in pieces, as the CLI prints it while the
// model writes it. The captured stream's own pieces of the final message
// are replaced by n pieces of the answer (setAnswer has already put it in
// place), and their lines are marked paced.

// splitPieces cuts s into n pieces of about equal runes; fewer when s has
// fewer runes than n. It never splits a rune.
func splitPieces(s string, n int) []string {
	return splitAnswer(s, max(1, min(n, utf8.RuneCountInString(s))))
}

// replacePieces puts a line made by piece for each piece of the answer
// where the lines from..to (inclusive) were, and marks them paced.
func (s *stream) replacePieces(from, to int, pieces []string, line func(piece string) ([]byte, error)) error {
	lines := make([][]byte, 0, len(pieces))
	for _, p := range pieces {
		l, err := line(p)
		if err != nil {
			return err
		}
		lines = append(lines, l)
	}
	s.lines = slices.Replace(s.lines, from, to+1, lines...)
	s.paced = map[int]bool{}
	for i := range lines {
		s.paced[from+i] = true
	}
	return nil
}

// streamClaudeAnswer streams the answer of Claude Code's partial stream
// (--include-partial-messages): the text_delta stream_events of the final
// text block, before its whole assistant line.
func streamClaudeAnswer(s *stream, n int) error {
	answerAt, answer := -1, ""
	for i, line := range s.lines {
		var ev struct {
			Type    string `json:"type"`
			Message struct {
				Content []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"content"`
			} `json:"message"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.Type != "assistant" {
			continue
		}
		for _, c := range ev.Message.Content {
			if c.Type == "text" {
				answerAt, answer = i, c.Text
			}
		}
	}
	if answerAt < 0 {
		return errors.New("no answer to stream")
	}
	var deltas []int
	for i := answerAt - 1; i >= 0; i-- {
		kind, raw := claudeEvent(s.lines[i])
		if kind == "content_block_delta" && raw != nil {
			deltas = append(deltas, i)
			continue
		}
		if kind == "content_block_start" || lineType(s.lines[i]) != "stream_event" {
			break
		}
	}
	if len(deltas) == 0 {
		return errors.New("the stream has no partial messages (claude streams them with --include-partial-messages)")
	}
	first, last := deltas[len(deltas)-1], deltas[0]
	template := s.lines[first]
	_, old := claudeEvent(template)
	return s.replacePieces(first, last, splitPieces(answer, n), func(piece string) ([]byte, error) {
		l, err := replaceLast(template, "text", old, jsonJS(piece))
		if err != nil {
			return nil, fmt.Errorf("stream the answer: %w", err)
		}
		return l, nil
	})
}

// claudeEvent returns the SSE event type of a stream_event line and, for a
// text_delta, the raw JSON of its text.
func claudeEvent(line []byte) (kind string, text json.RawMessage) {
	var ev struct {
		Type  string `json:"type"`
		Event struct {
			Type  string `json:"type"`
			Delta struct {
				Type string          `json:"type"`
				Text json.RawMessage `json:"text"`
			} `json:"delta"`
		} `json:"event"`
	}
	if json.Unmarshal(line, &ev) != nil || ev.Type != "stream_event" {
		return "", nil
	}
	if ev.Event.Delta.Type == "text_delta" && isJSONString(ev.Event.Delta.Text) {
		text = ev.Event.Delta.Text
	}
	return ev.Event.Type, text
}

// streamGeminiAnswer streams the answer of Gemini CLI's stream-json: its
// assistant text comes only as delta messages, after the last tool result.
func streamGeminiAnswer(s *stream, n int) error {
	var at []int
	answer := ""
	for i, line := range s.lines {
		var ev struct {
			Type    string `json:"type"`
			Role    string `json:"role"`
			Content string `json:"content"`
			Delta   bool   `json:"delta"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "tool_result":
			at, answer = nil, ""
		case ev.Type == "message" && ev.Role == "assistant" && ev.Delta:
			at = append(at, i)
			answer += ev.Content
		}
	}
	if len(at) == 0 || at[len(at)-1]-at[0] != len(at)-1 {
		return errors.New("no run of answer deltas to stream")
	}
	template := s.lines[at[0]]
	old, err := rawField(template, "content")
	if err != nil {
		return err
	}
	return s.replacePieces(at[0], at[len(at)-1], splitPieces(answer, n), func(piece string) ([]byte, error) {
		return replaceLast(template, "content", old, jsonJS(piece))
	})
}

// streamPiAnswer streams the answer of pi's json mode: the text_delta
// message_updates of its last assistant message, which message_end then
// prints whole.
func streamPiAnswer(s *stream, n int) error {
	var at []int
	var deltas []int // of the message being read
	answer := ""
	for i, line := range s.lines {
		var ev struct {
			Type   string `json:"type"`
			Update struct {
				Type string `json:"type"`
			} `json:"assistantMessageEvent"`
			Message struct {
				Role    string `json:"role"`
				Content []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"content"`
			} `json:"message"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "message_start":
			deltas = nil
		case ev.Type == "message_update" && ev.Update.Type == "text_delta":
			deltas = append(deltas, i)
		case ev.Type == "message_end" && ev.Message.Role == "assistant" && len(deltas) > 0:
			at, answer = deltas, ""
			for _, c := range ev.Message.Content {
				if c.Type == "text" {
					answer += c.Text
				}
			}
		}
	}
	if len(at) == 0 || at[len(at)-1]-at[0] != len(at)-1 {
		return errors.New("no run of answer deltas to stream")
	}
	template := s.lines[at[0]]
	var ev struct {
		Update struct {
			Delta json.RawMessage `json:"delta"`
		} `json:"assistantMessageEvent"`
	}
	if err := json.Unmarshal(template, &ev); err != nil || !isJSONString(ev.Update.Delta) {
		return errors.New("a text_delta without its delta")
	}
	return s.replacePieces(at[0], at[len(at)-1], splitPieces(answer, n), func(piece string) ([]byte, error) {
		return replaceLast(template, "delta", ev.Update.Delta, jsonJS(piece))
	})
}

// rawField is the raw JSON of a top-level string field of line.
func rawField(line []byte, key string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil || !isJSONString(m[key]) {
		return nil, fmt.Errorf("no string %q in the line", key)
	}
	return m[key], nil
}
