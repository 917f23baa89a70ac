package gitwt

import "testing"

func TestMessage(t *testing.T) {
	tests := []struct{ name, stderr, want string }{
		{"fatal", "Preparing worktree (new branch 'x')\nfatal: a branch named 'x' already exists\n", "a branch named 'x' already exists"},
		{"hints", "error: one\nhint: do this\nfatal: two\n", "one; two"},
		{"no prefix", "something odd\n\n", "something odd"},
		{"many", "fatal: 1\nfatal: 2\nfatal: 3\nfatal: 4\n", "1; 2; 3"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := message(tt.stderr); got != tt.want {
				t.Errorf("message(%q) = %q, want %q", tt.stderr, got, tt.want)
			}
		})
	}
}
