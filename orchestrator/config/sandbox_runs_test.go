package config

import (
	"slices"
	"testing"
	"time"
)

func TestSandboxRunKeys(t *testing.T) {
	tests := []struct {
		name    string
		sandbox string // [sandbox] keys
		footer  bool
		stall   time.Duration
		warm    bool
	}{
		{"defaults", "", true, 5 * time.Minute, false},
		{"footer off", "footer = false", false, 5 * time.Minute, false},
		{"stall after", "stall_after = '90s'", true, 90 * time.Second, false},
		{"stall never", "stall_after = '0s'", true, 0, false},
		{"warm", "warm = true", true, 5 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tg+"[sandbox]\n"+tt.sandbox+"\n", testPath, env())
			sb := c.Sandbox
			if sb.Footer != tt.footer || sb.StallAfter != tt.stall || sb.Warm != tt.warm {
				t.Errorf("footer %v, stall_after %s, warm %v; want %v, %s, %v", sb.Footer, sb.StallAfter, sb.Warm, tt.footer, tt.stall, tt.warm)
			}
		})
	}
}

func TestSandboxRunKeysProblems(t *testing.T) {
	for _, bad := range []string{"stall_after = '10ms'", "stall_after = 'soon'", "footer = 'yes'", "warm = 1",
		"warm = true\n[sandbox.hosts.a]\nurl = \"unix:///run/podman/podman.sock\""} {
		t.Run(bad, func(t *testing.T) {
			_, err := Parse([]byte(tg+"[sandbox]\n"+bad+"\n"), testPath, env())
			if keys := problemKeys(t, err); len(keys) != 1 || !slices.Contains([]string{"sandbox.stall_after", "sandbox.footer", "sandbox.warm"}, keys[0]) {
				t.Errorf("problems = %v", keys)
			}
		})
	}
}
