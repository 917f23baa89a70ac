package engines

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestUnmarshalLenient(t *testing.T) {
	type line struct {
		Type  string `json:"type"`
		Count int    `json:"count"`
		Text  string `json:"text"`
	}
	cases := []struct {
		name    string
		data    string
		want    line
		wantErr bool
	}{
		{name: "plain", data: `{"type":"a","count":2,"text":"x"}`, want: line{Type: "a", Count: 2, Text: "x"}},
		{name: "odd field type left zero", data: `{"type":"a","count":"many","text":"x"}`, want: line{Type: "a", Text: "x"}},
		{name: "type not a string", data: `{"type":5}`, want: line{}},
		{name: "not an object", data: `[1,2]`, want: line{}},
		{name: "syntax error", data: `{"type":"a"`, wantErr: true},
		{name: "garbage", data: `not json`, wantErr: true},
		{name: "invalid UTF-8 outside strings", data: "\xff{}", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got line
			err := UnmarshalLenient([]byte(tc.data), &got)
			if (err != nil) != tc.wantErr {
				t.Fatalf("UnmarshalLenient(%q) error = %v, want error %v", tc.data, err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("UnmarshalLenient(%q) = %+v, want %+v", tc.data, got, tc.want)
			}
		})
	}
}

func TestObjectFields(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want map[string]json.RawMessage
	}{
		{"empty", "", nil},
		{"null", "null", nil},
		{"string", `"oops"`, nil},
		{"array", `[{"a":1}]`, nil},
		{"broken object", `{"a":`, nil},
		{"object", ` {"a":1,"b":"x"} `, map[string]json.RawMessage{"a": json.RawMessage("1"), "b": json.RawMessage(`"x"`)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ObjectFields(json.RawMessage(tc.raw)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ObjectFields(%q) = %v, want %v", tc.raw, got, tc.want)
			}
		})
	}
}

func TestStringFields(t *testing.T) {
	in := ObjectFields(json.RawMessage(`{"s":"a\nb","blank":"  ","n":5,"null":null,"obj":{"s":"x"}}`))
	cases := []struct {
		name string
		keys []string
		one  string // StringField of the first key
		want string // FirstStringField of all keys
	}{
		{name: "string", keys: []string{"s"}, one: "a\nb", want: "a\nb"},
		{name: "missing", keys: []string{"missing"}},
		{name: "number", keys: []string{"n"}},
		{name: "null", keys: []string{"null"}},
		{name: "object", keys: []string{"obj"}},
		{name: "blank skipped", keys: []string{"blank", "n", "s"}, one: "  ", want: "a\nb"},
		{name: "none", keys: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.keys) > 0 {
				if got := StringField(in, tc.keys[0]); got != tc.one {
					t.Errorf("StringField(%q) = %q, want %q", tc.keys[0], got, tc.one)
				}
			}
			if got := FirstStringField(in, tc.keys...); got != tc.want {
				t.Errorf("FirstStringField(%q) = %q, want %q", tc.keys, got, tc.want)
			}
		})
	}
	if got := StringField(nil, "s"); got != "" {
		t.Errorf("StringField(nil) = %q", got)
	}
}

func TestContentBlocks(t *testing.T) {
	type block struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	text := func(s string) block { return block{Type: "text", Text: s} }
	cases := []struct {
		name string
		raw  string
		want []block
	}{
		{"array", `[{"type":"tool_use"},{"type":"text","text":"hi"}]`, []block{{Type: "tool_use"}, {Type: "text", Text: "hi"}}},
		{"string", ` "hello" `, []block{{Type: "text", Text: "hello"}}},
		{"empty", ``, nil},
		{"object", `{"type":"text"}`, nil},
		{"broken", `[{"type":`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ContentBlocks([]byte(tc.raw), text)
			if len(got) != len(tc.want) {
				t.Fatalf("ContentBlocks(%q) = %+v, want %+v", tc.raw, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("ContentBlocks(%q) = %+v, want %+v", tc.raw, got, tc.want)
				}
			}
		})
	}
}
