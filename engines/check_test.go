package engines

import "testing"

func TestFindResume(t *testing.T) {
	cases := []struct {
		name, text, prefix, want string
		ok                       bool
	}{
		{"footer", "done\n\nclaude --resume ca28b1b9-709d", "claude --resume", "ca28b1b9-709d", true},
		{"last wins", "claude --resume a1\nclaude --resume b2", "claude --resume", "b2", true},
		{"inside a word", "myclaude --resume a1", "claude --resume", "", false},
		{"sentence end", "run codex resume 0199-ab.", "codex resume", "0199-ab", true},
		{"underscore ids", "opencode --session ses_123abc", "opencode --session", "ses_123abc", true},
		{"no id", "claude --resume", "claude --resume", "", false},
		{"flag is not an id", "claude --resume --help", "claude --resume", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FindResume(tc.text, tc.prefix)
			if got != tc.want || ok != tc.ok {
				t.Errorf("FindResume(%q) = %q, %v; want %q, %v", tc.text, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestCheckExtraArgs(t *testing.T) {
	owned := []string{"--output-format", "-p", "--resume"}
	cases := []struct {
		name string
		args []string
		ok   bool
	}{
		{"none", nil, true},
		{"harmless", []string{"--max-turns", "5", "--add-dir=/x"}, true},
		{"owned", []string{"--output-format", "text"}, false},
		{"owned with value", []string{"--resume=abc"}, false},
		{"short owned", []string{"-p"}, false},
		{"nul", []string{"a\x00b"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckExtraArgs("claude", tc.args, owned); (err == nil) != tc.ok {
				t.Errorf("CheckExtraArgs(%q) = %v", tc.args, err)
			}
		})
	}
}

func TestCheckRequest(t *testing.T) {
	cases := []struct {
		name string
		req  Request
		ok   bool
	}{
		{"plain", Request{Prompt: "hi"}, true},
		{"empty", Request{Prompt: " \n"}, false},
		{"nul", Request{Prompt: "a\x00"}, false},
		{"bad resume", Request{Prompt: "hi", Resume: "--rm"}, false},
		{"bad model", Request{Prompt: "hi", Model: "x y"}, false},
		{"good", Request{Prompt: "hi", Resume: "T-12ab_c", Model: "openai/gpt-5.1"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckRequest("x", tc.req); (err == nil) != tc.ok {
				t.Errorf("CheckRequest(%+v) = %v", tc.req, err)
			}
		})
	}
}
