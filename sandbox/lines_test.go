package sandbox

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestLineWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{name: "lines", writes: []string{"a\nb\n"}, want: []string{"a", "b"}},
		{name: "split across writes", writes: []string{"he", "llo\nwor", "ld\n"}, want: []string{"hello", "world"}},
		{name: "carriage returns stripped", writes: []string{"a\r\nb\r", "\n"}, want: []string{"a", "b"}},
		{name: "last line without newline", writes: []string{"a\nlast"}, want: []string{"a", "last"}},
		{name: "empty lines kept", writes: []string{"\n\na\n"}, want: []string{"", "", "a"}},
		{name: "nothing", writes: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := &LineWriter{Emit: func(b []byte) { got = append(got, string(b)) }}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.Close()
			if !slices.Equal(got, tt.want) {
				t.Fatalf("lines = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLineWriterCutsLongLines(t *testing.T) {
	var got [][]byte
	w := &LineWriter{Emit: func(b []byte) { got = append(got, bytes.Clone(b)) }}
	long := bytes.Repeat([]byte("x"), MaxLine+1<<20)
	w.Write(long[:MaxLine-10])
	w.Write(long[:1<<20]) // crosses the bound
	w.Write(long[:1<<20]) // wholly past it
	w.Write([]byte("\nnext\n"))
	w.Close()
	if len(got) != 2 || len(got[0]) != MaxLine || string(got[1]) != "next" {
		t.Fatalf("got %d lines, first %d bytes; want a %d-byte line and \"next\"", len(got), len(got[0]), MaxLine)
	}
}

func TestTailWriter(t *testing.T) {
	w := &TailWriter{Max: 8}
	w.Write([]byte("abc"))
	w.Write([]byte(strings.Repeat("-", 10) + "12345678"))
	if got := w.String(); got != "12345678" {
		t.Fatalf("tail = %q", got)
	}
}
