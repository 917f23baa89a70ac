package gitwt

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidBranch marks a branch name git would refuse, or one this
// package refuses on top (see ValidBranch).
var ErrInvalidBranch = errors.New("invalid branch name")

// ValidBranch checks name against git's rules for a branch name, as
// `git check-ref-format --branch` applies them, and says in one sentence
// which rule it breaks. It is stricter than git in one case: "@", which git
// reads as HEAD. A valid name is also a safe relative path: no component is
// empty, ".", ".." or hidden.
func ValidBranch(name string) error {
	reason := branchRule(name)
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%w: %q %s", ErrInvalidBranch, name, reason)
}

// branchRule returns the rule name breaks, or "".
func branchRule(name string) string {
	switch {
	case name == "":
		return "is empty"
	case name == "@":
		return "is git's shorthand for HEAD"
	case name == "HEAD":
		return "is reserved by git"
	case strings.HasPrefix(name, "-"):
		return `starts with "-"`
	case strings.HasPrefix(name, "/"):
		return `starts with "/"`
	case strings.HasSuffix(name, "/"):
		return `ends with "/"`
	case strings.HasSuffix(name, "."):
		return `ends with "."`
	case strings.Contains(name, "//"):
		return `holds "//"`
	case strings.Contains(name, ".."):
		return `holds ".."`
	case strings.Contains(name, "@{"):
		return `holds "@{"`
	}
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f:
			return "holds a control character"
		case r == ' ':
			return "holds a space"
		case strings.ContainsRune(`~^:?*[\`, r):
			return fmt.Sprintf("holds %q, which git does not allow", r)
		}
	}
	for c := range strings.SplitSeq(name, "/") {
		switch {
		case strings.HasPrefix(c, "."):
			return fmt.Sprintf("has a part, %q, that starts with \".\"", c)
		case strings.HasSuffix(c, ".lock"):
			return fmt.Sprintf("has a part, %q, that ends with \".lock\"", c)
		}
	}
	return ""
}
