package gitwt

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// branchNames is a table of names on both sides of each rule.
var branchNames = []string{
	"main", "feature/x", "feat/deep/er", "a@b", "@a", "a{", "x/HEAD", "HEADS", "refs/heads/x",
	"é", "日本", "v1.2", "a-b", "a_b", "a.b", "a.lock.x", "lock", "lockx", "a./b", "a.lock.b/c", "a.locked",
	"", "@", "HEAD", "-a", "-", "/a", "a/", "a.", "a/b.", "a//b", "a..b", "..", ".",
	"a b", "a~", "a^1", "a:b", "a?", "a*", "a[", `a\b`, "a@{b", "@{-1}", "a@{u}",
	".a", "a/.b", "a/./b", "a.lock", "a.lock/b", "b/a.lock", "a\x01", "a\x7f", "a\tb", "a\nb",
}

func TestValidBranchAgreesWithGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not installed")
	}
	dir := t.TempDir() // outside a repository, so git expands no shorthand
	for _, name := range branchNames {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("git", "check-ref-format", "--branch", name)
			cmd.Dir = dir
			cmd.Env = gitEnv()
			gitOK := cmd.Run() == nil
			err := ValidBranch(name)
			if name == "@" {
				// Stricter on purpose: "@" is HEAD to git's other commands.
				if err == nil {
					t.Error(`ValidBranch("@") = nil, want an error`)
				}
				return
			}
			if gitOK != (err == nil) {
				t.Errorf("ValidBranch(%q) = %v, but git check-ref-format --branch says valid=%v", name, err, gitOK)
			}
			if err != nil && !errors.Is(err, ErrInvalidBranch) {
				t.Errorf("ValidBranch(%q) = %v, want ErrInvalidBranch", name, err)
			}
		})
	}
}

func TestValidBranchReason(t *testing.T) {
	tests := []struct{ name, want string }{
		{"a..b", `holds ".."`},
		{"-x", `starts with "-"`},
		{"/x", `starts with "/"`},
		{"x/", `ends with "/"`},
		{"x.lock", `ends with ".lock"`},
		{"x.", `ends with "."`},
		{"a//b", `holds "//"`},
		{"a b", "holds a space"},
		{"a\x01", "control character"},
		{"a~1", `holds '~'`},
		{"a@{1}", `holds "@{"`},
		{"@", "shorthand for HEAD"},
		{"a/.b", `"."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidBranch(tt.name)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidBranch(%q) = %v, want it to say %s", tt.name, err, tt.want)
			}
		})
	}
}
