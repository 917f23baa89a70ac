package main

import (
	"slices"
	"strings"
	"testing"
)

func TestLaunchFields(t *testing.T) {
	r := strings.NewReader("+A=1\x00+B=\x00\x00+claude\x00+\x00\x00rest")
	env, err := launchFields(r)
	if err != nil || !slices.Equal(env, []string{"A=1", "B="}) {
		t.Fatalf("env = %q, %v", env, err)
	}
	argv, err := launchFields(r)
	if err != nil || !slices.Equal(argv, []string{"claude", ""}) {
		t.Fatalf("argv = %q, %v", argv, err)
	}
	if rest := make([]byte, 8); true {
		n, _ := r.Read(rest)
		if string(rest[:n]) != "rest" {
			t.Errorf("the rest of stdin = %q, want it unread", rest[:n])
		}
	}
	for _, bad := range []string{"", "+A=1\x00", "A\x00\x00"} {
		if _, err := launchFields(strings.NewReader(bad)); err == nil {
			t.Errorf("launchFields(%q) succeeded", bad)
		}
	}
}
