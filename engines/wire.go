package engines

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// UnmarshalLenient is json.Unmarshal that tolerates values of unexpected
// types: such a field is left as it was and no error is returned. Decoders
// read a handful of fields out of large, evolving objects, and one odd
// field must not cost the line. Syntax errors are still errors.
func UnmarshalLenient(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return nil
	}
	return err
}

// ObjectFields decodes raw when it is a JSON object, such as a tool call's
// input; anything else, or an object that does not decode, is nil.
func ObjectFields(raw json.RawMessage) map[string]json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var in map[string]json.RawMessage
	if UnmarshalLenient(raw, &in) != nil {
		return nil
	}
	return in
}

// StringField returns in[key] when it is a JSON string, else "".
func StringField(in map[string]json.RawMessage, key string) string {
	raw := bytes.TrimSpace(in[key])
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if UnmarshalLenient(raw, &s) != nil {
		return ""
	}
	return s
}

// FirstStringField returns the first of in's keys whose value is a string
// that is not blank, else "".
func FirstStringField(in map[string]json.RawMessage, keys ...string) string {
	for _, key := range keys {
		if v := StringField(in, key); strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// ContentBlocks decodes a message's content as the Anthropic message format
// allows it: an array of blocks, or a string, which text turns into one
// block. Anything else, or JSON that does not decode, is no blocks.
func ContentBlocks[T any](raw json.RawMessage, text func(string) T) []T {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '[':
		var bs []T
		if UnmarshalLenient(raw, &bs) != nil {
			return nil
		}
		return bs
	case '"':
		var s string
		if UnmarshalLenient(raw, &s) != nil {
			return nil
		}
		return []T{text(s)}
	}
	return nil
}

// JSONLine encodes v as one line of a line-delimited JSON protocol, with
// its newline. HTML is not escaped: agents read "<" and "&" in a prompt as
// they are.
func JSONLine(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
