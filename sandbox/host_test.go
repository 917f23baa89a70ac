package sandbox

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckLimits(t *testing.T) {
	cases := []struct {
		name string
		host Host
		ok   bool
	}{
		{"rootful v1", Host{Name: "podman", CgroupVersion: "v1", Runtime: "runc", Controllers: []string{"memory", "pids"}}, true},
		{"rootful v2", Host{Name: "podman", CgroupVersion: "v2", Runtime: "crun"}, true},
		{"rootless v1", Host{Name: "podman", CgroupVersion: "v1", Runtime: "runc", Rootless: true}, false},
		{"rootless v2 delegated", Host{Name: "podman", CgroupVersion: "v2", Runtime: "crun", Rootless: true, Controllers: []string{"cpu", "memory", "pids"}}, true},
		{"rootless v2 without pids", Host{Name: "podman", CgroupVersion: "v2", Runtime: "crun", Rootless: true, Controllers: []string{"memory"}}, false},
		{"rootless v2 without memory and pids", Host{Name: "podman", CgroupVersion: "v2", Runtime: "crun", Rootless: true, Controllers: []string{"cpu"}}, false},
		{"unknown cgroups", Host{Name: "podman", CgroupVersion: "", Runtime: "runc"}, false},
		{"no runtime", Host{Name: "podman", CgroupVersion: "v2"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.host.CheckLimits()
			if (err == nil) != tc.ok {
				t.Fatalf("CheckLimits() = %v", err)
			}
			if err == nil {
				return
			}
			var le *LimitsError
			if !errors.Is(err, ErrLimitsUnenforceable) || !errors.As(err, &le) {
				t.Fatalf("error is not a LimitsError wrapping ErrLimitsUnenforceable: %v", err)
			}
			if le.Reason == "" || le.Fix == "" || strings.Contains(le.Reason, "/") {
				t.Errorf("reason %q (short, no path) and fix %q", le.Reason, le.Fix)
			}
		})
	}
}
