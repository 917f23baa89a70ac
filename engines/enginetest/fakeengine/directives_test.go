package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestParseDirectives(t *testing.T) {
	t.Parallel()
	none := directives{answerBytes: -1}
	tests := []struct {
		name   string
		prompt string
		want   directives
		err    string // substring; "" for no error
	}{
		{"plain prompt", "create hello.txt containing hello", none, ""},
		{"prefix inside a word", "see xfake:oom here", none, ""},
		{"case", "fake:case=error_401", directives{caseName: "error_401", answerBytes: -1}, ""},
		{"combined, anywhere", "please\tfake:delay=10ms do\nfake:garbage fake:ignore-term fake:cut",
			directives{delay: 10 * time.Millisecond, garbage: true, ignoreTerm: true, cut: true, answerBytes: -1}, ""},
		{"sleep spin oom probe", "fake:sleep=1s fake:spin fake:oom fake:probe",
			directives{sleep: time.Second, spin: true, oom: true, probe: true, answerBytes: -1}, ""},
		{"exit", "fake:exit=42", directives{exit: true, exitCode: 42, answerBytes: -1}, ""},
		{"forkbomb default", "fake:forkbomb", directives{forkbomb: maxForkbomb, answerBytes: -1}, ""},
		{"forkbomb capped", "fake:forkbomb=10", directives{forkbomb: 10, answerBytes: -1}, ""},
		{"hog", "fake:hog=200", directives{hog: 200, answerBytes: -1}, ""},
		{"answer", "fake:answer=Hello_world", directives{answer: ptr("Hello world"), answerBytes: -1}, ""},
		{"answer bytes", "fake:answer-bytes=10", directives{answerBytes: 10}, ""},
		{"writes", "fake:write=a.txt fake:write=b", directives{writes: []string{"a.txt", "b"}, answerBytes: -1}, ""},
		{"session", "fake:session=random", directives{session: "random", answerBytes: -1}, ""},
		{"unknown", "fake:explode", none, "unknown directive"},
		{"bad duration", "fake:delay=soon", none, "invalid duration"},
		{"negative duration", "fake:sleep=-1s", none, "negative"},
		{"duration without value", "fake:sleep", none, "needs a duration"},
		{"flag with value", "fake:oom=1", none, "takes no value"},
		{"exit out of range", "fake:exit=256", none, "0..255"},
		{"forkbomb too many", "fake:forkbomb=100001", none, "1..100000"},
		{"hog without a size", "fake:hog", none, "MiB"},
		{"hog too big", "fake:hog=999999", none, "1..65536"},
		{"case path", "fake:case=../x", none, "bad case name"},
		{"both answers", "fake:answer=a fake:answer-bytes=3", none, "exclude each other"},
		{"answer file", "fake:answer-file=answer.md", directives{answerFile: "answer.md", answerBytes: -1}, ""},
		{"answer file path", "fake:answer-file=../etc/passwd", none, "a file in the working directory"},
		{"answer file and answer", "fake:answer-file=a fake:answer=b", none, "exclude each other"},
		{"session path", "fake:session=a/b", none, "bad session id"},
		{"stream", "fake:stream=8 fake:stream-gap=300ms", directives{pieces: 8, pieceGap: 300 * time.Millisecond, answerBytes: -1}, ""},
		{"stream without count", "fake:stream", none, "needs a value"},
		{"stream too many", "fake:stream=1001", none, "1..1000"},
		{"stream gap zero", "fake:stream-gap=0s", none, "above 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseDirectives(tt.prompt)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v; want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseDirectivesReportsAll(t *testing.T) {
	t.Parallel()
	_, err := parseDirectives("fake:a fake:b")
	if err == nil || !strings.Contains(err.Error(), "fake:a") || !strings.Contains(err.Error(), "fake:b") {
		t.Errorf("err %v; want both directives named", err)
	}
}

func TestLorem(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 200, 1 << 20} {
		if got := lorem(n); len(got) != n {
			t.Errorf("lorem(%d) has %d bytes", n, len(got))
		}
	}
}

func TestParseClaudeArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want claudeArgs
	}{
		{"daemon argv", []string{"-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "bypassPermissions", "--model", "m", "--resume", "id", "--", "-x prompt"},
			claudeArgs{print: true, verbose: true, outputFormat: "stream-json", inputFormat: "text", permissionMode: "bypassPermissions", model: "m", resume: "id", positional: []string{"-x prompt"}}},
		{"defaults", []string{"--print", "hi"},
			claudeArgs{print: true, outputFormat: "text", inputFormat: "text", positional: []string{"hi"}}},
		{"inline and short", []string{"-p", "--model=a=b", "-r", "id", "--include-partial-messages", "hi"},
			claudeArgs{print: true, outputFormat: "text", inputFormat: "text", model: "a=b", resume: "id", partial: true, positional: []string{"hi"}}},
		{"resume without value", []string{"-p", "--resume", "--verbose"},
			claudeArgs{print: true, verbose: true, outputFormat: "text", inputFormat: "text", resumePicker: true}},
		{"lone dash is a prompt", []string{"-p", "-"},
			claudeArgs{print: true, outputFormat: "text", inputFormat: "text", positional: []string{"-"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseClaudeArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSetSessionID(t *testing.T) {
	t.Parallel()
	s, err := loadStream(claudeEngine(), "basic")
	if err != nil {
		t.Fatal(err)
	}
	if s.sessionID != basicSession {
		t.Fatalf("session %q", s.sessionID)
	}
	s.setSessionID("other")
	for _, l := range s.lines {
		if bytes.Contains(l, []byte(basicSession)) || !bytes.Contains(l, []byte(`"session_id":"other"`)) {
			t.Fatalf("line %.80q", l)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`/plain`:           "/plain",
		`/with\040space`:   "/with space",
		`/back\134slash`:   `/back\slash`,
		`/short\04`:        `/short\04`,
		`/not\999octal\01`: `/not\999octal\01`,
	}
	for in, want := range tests {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q; want %q", in, got, want)
		}
	}
}
