package engines

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestOneLine(t *testing.T) {
	cases := []struct {
		name string
		s    string
		max  int
		want string
	}{
		{"empty", "", 10, ""},
		{"blank", " \t\r\n ", 10, ""},
		{"unchanged", "go test ./...", 20, "go test ./..."},
		{"collapsed and trimmed", "  go test\n\t ./...  \n", 20, "go test ./..."},
		{"at the limit", strings.Repeat("a", 5) + "  \n", 5, "aaaaa"},
		{"clipped", "abcdefgh", 5, "abcd…"},
		{"clipped in runes", strings.Repeat("é", 8), 5, "éééé…"},
		{"space counts", "a b c d e f", 5, "a b …"},
		{"unicode spaces", "a\u00a0\u2003b", 5, "a b"},
		{"huge input read lazily", strings.Repeat("word ", 2<<20), 7, "word w…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := OneLine(tc.s, tc.max); got != tc.want {
				t.Errorf("OneLine(%.40q, %d) = %q, want %q", tc.s, tc.max, got, tc.want)
			}
		})
	}
}

func TestClip(t *testing.T) {
	cases := []struct {
		name string
		s    string
		max  int
		want string
	}{
		{"empty", "", 3, ""},
		{"short", "abc", 3, "abc"},
		{"long", "abcd", 3, "ab…"},
		{"multi-byte within limit", "ééé", 3, "ééé"},
		{"multi-byte cut on a rune", "éééé", 3, "éé…"},
		{"whitespace kept", "a\nb", 3, "a\nb"},
		{"one rune", "abc", 1, "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Clip(tc.s, tc.max)
			if got != tc.want {
				t.Errorf("Clip(%q, %d) = %q, want %q", tc.s, tc.max, got, tc.want)
			}
			if n := utf8.RuneCountInString(got); n > tc.max && tc.max > 0 {
				t.Errorf("Clip(%q, %d) has %d runes", tc.s, tc.max, n)
			}
		})
	}
}

func TestStripANSI(t *testing.T) {
	cases := []struct {
		name, s, want string
	}{
		{"plain", "no escapes", "no escapes"},
		{"colour", "\x1b[31merror\x1b[0m: boom", "error: boom"},
		{"private modes", "\x1b[=0u\x1b[<u\x1b[?25hError: x", "Error: x"},
		{"two-byte escape", "a\x1b7b", "ab"},
		{"unterminated CSI", "a\x1b[12", "a"},
		{"lone escape at the end", "a\x1b", "a"},
		{"invalid UTF-8 kept", "\xff\x1b[1m\xfe", "\xff\xfe"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := StripANSI(tc.s); got != tc.want {
				t.Errorf("StripANSI(%q) = %q, want %q", tc.s, got, tc.want)
			}
		})
	}
}

func TestStderrTail(t *testing.T) {
	usage := func(line string) bool { return strings.HasPrefix(line, "Usage: ") }
	cases := []struct {
		name   string
		stderr string
		skip   func(string) bool
		want   string
	}{
		{name: "empty", stderr: "", want: ""},
		{name: "blank lines", stderr: "\n \n\t\n", want: ""},
		{name: "last three", stderr: "first\n\n  second  \nthird\n\nfourth\n", want: "second; third; fourth"},
		{name: "long line clipped", stderr: strings.Repeat("x", 2000), want: strings.Repeat("x", 499) + "…"},
		{name: "budget stops at a line that does not fit", stderr: strings.Repeat("a", 300) + "\n" + strings.Repeat("b", 300), want: strings.Repeat("b", 300)},
		{name: "invalid UTF-8", stderr: "bad \xff byte", want: "bad \uFFFD byte"},
		{name: "skipped lines", stderr: "boom\nUsage: x [flags]\n", skip: usage, want: "boom"},
		{name: "skip sees the line made one", stderr: "boom\n   Usage:   x\n", skip: usage, want: "boom"},
		{name: "escape codes kept", stderr: "\x1b[31mred\x1b[0m", want: "\x1b[31mred\x1b[0m"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := StderrTail(tc.stderr, 3, 500, tc.skip); got != tc.want {
				t.Errorf("StderrTail(%.60q) = %q, want %q", tc.stderr, got, tc.want)
			}
		})
	}
}

func TestSignalName(t *testing.T) {
	cases := []struct {
		code int
		want string
		ok   bool
	}{
		{130, "SIGINT", true},
		{137, "SIGKILL", true},
		{143, "SIGTERM", true},
		{0, "", false},
		{1, "", false},
		{-1, "", false},
		{129, "", false},
		{255, "", false},
	}
	for _, tc := range cases {
		if got, ok := SignalName(tc.code); got != tc.want || ok != tc.ok {
			t.Errorf("SignalName(%d) = %q, %v; want %q, %v", tc.code, got, ok, tc.want, tc.ok)
		}
	}
}

func TestStopReason(t *testing.T) {
	cases := []struct {
		name string
		exit Exit
		want string
		ok   bool
	}{
		{"clean exit", Exit{}, "", false},
		{"failed exit", Exit{Code: 1, StderrTail: "boom"}, "", false},
		{"cause", Exit{Code: 137, Cause: " out of memory (limit 2 GiB) "}, "out of memory (limit 2 GiB)", true},
		{"blank cause", Exit{Code: 1, Cause: " \n"}, "", false},
		{"sigterm", Exit{Code: 143}, "x was interrupted (signal SIGTERM)", true},
		{"sigint", Exit{Code: 130}, "x was interrupted (signal SIGINT)", true},
		{"sigkill", Exit{Code: 137}, "x was interrupted (signal SIGKILL)", true},
		{"no exit status", Exit{Code: -1}, "x was interrupted", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := StopReason("x", tc.exit); got != tc.want || ok != tc.ok {
				t.Errorf("StopReason(%+v) = %q, %v; want %q, %v", tc.exit, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestFirstNonBlank(t *testing.T) {
	cases := []struct {
		name string
		vs   []string
		want string
	}{
		{"none", nil, ""},
		{"all blank", []string{"", " ", "\n"}, ""},
		{"first", []string{"a", "b"}, "a"},
		{"skips blank, keeps spaces", []string{" ", " b "}, " b "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FirstNonBlank(tc.vs...); got != tc.want {
				t.Errorf("FirstNonBlank(%q) = %q, want %q", tc.vs, got, tc.want)
			}
		})
	}
}

func TestFirstLine(t *testing.T) {
	cases := []struct {
		name, text string
		max        int
		want       string
	}{
		{"empty", "", 10, ""},
		{"blank", "\n \n", 10, ""},
		{"first non-blank", "\n\n  first  line \nsecond", 10, "first line"},
		{"clipped", "abcdefgh\nx", 5, "abcd…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FirstLine(tc.text, tc.max); got != tc.want {
				t.Errorf("FirstLine(%q, %d) = %q, want %q", tc.text, tc.max, got, tc.want)
			}
		})
	}
}

func TestRelPath(t *testing.T) {
	cases := []struct {
		name, p, cwd, want string
	}{
		{"under cwd", "/workspace/p/src/main.go", "/workspace/p", "src/main.go"},
		{"cwd with slash", "/workspace/p/go.mod", "/workspace/p/", "go.mod"},
		{"outside", "/tmp/x.txt", "/workspace/p", "/tmp/x.txt"},
		{"prefix is not a parent", "/workspace/project/x", "/workspace/p", "/workspace/project/x"},
		{"cwd itself with slash", "/workspace/p/", "/workspace/p", "/workspace/p/"},
		{"no cwd", "/workspace/p/x", "", "/workspace/p/x"},
		{"relative path", "src/x", "/workspace/p", "src/x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RelPath(tc.p, tc.cwd); got != tc.want {
				t.Errorf("RelPath(%q, %q) = %q, want %q", tc.p, tc.cwd, got, tc.want)
			}
		})
	}
}

func TestExitError(t *testing.T) {
	cases := []struct {
		name            string
		exit            Exit
		failure, detail string
		want            string
	}{
		{name: "code", exit: Exit{Code: 1}, want: "x exited with code 1"},
		{name: "code and detail", exit: Exit{Code: 2}, detail: "boom", want: "x exited with code 2: boom"},
		{name: "clean exit", exit: Exit{}, detail: "hm", want: "x exited without an answer: hm"},
		{name: "failure wins over the code", exit: Exit{Code: 1}, failure: "API error 401", detail: "boom", want: "API error 401"},
		{name: "stop wins over the failure", exit: Exit{Code: 143}, failure: "API error 401", want: "x was interrupted (signal SIGTERM)"},
		{name: "cause wins", exit: Exit{Code: 1, Cause: "timed out"}, failure: "API error 401", want: "timed out"},
		{name: "no exit status", exit: Exit{Code: -1}, detail: "boom", want: "x was interrupted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExitError("x", tc.exit, tc.failure, tc.detail); got != tc.want {
				t.Errorf("ExitError(%+v, %q, %q) = %q, want %q", tc.exit, tc.failure, tc.detail, got, tc.want)
			}
		})
	}
}

func TestFlagSafe(t *testing.T) {
	cases := []struct{ value, want string }{
		{"fix it", "fix it"},
		{"--help me", " --help me"},
		{"- fix it", " - fix it"},
		{" -x", " -x"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := FlagSafe(tc.value); got != tc.want {
			t.Errorf("FlagSafe(%q) = %q, want %q", tc.value, got, tc.want)
		}
	}
}
