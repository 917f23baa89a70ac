package sandbox

import (
	"errors"
	"testing"
)

func TestCheckLimits(t *testing.T) {
	cases := []struct {
		name string
		host Host
		ok   bool
	}{
		{"rootful v1", Host{Name: "podman", CgroupVersion: "v1", Controllers: []string{"memory", "pids"}}, true},
		{"rootful v2", Host{Name: "podman", CgroupVersion: "v2"}, true},
		{"rootless v1", Host{Name: "podman", CgroupVersion: "v1", Rootless: true}, false},
		{"rootless v2 delegated", Host{Name: "podman", CgroupVersion: "v2", Rootless: true, Controllers: []string{"cpu", "memory", "pids"}}, true},
		{"rootless v2 without pids", Host{Name: "podman", CgroupVersion: "v2", Rootless: true, Controllers: []string{"memory"}}, false},
		{"unknown cgroups", Host{Name: "podman", CgroupVersion: ""}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.host.CheckLimits()
			if (err == nil) != tc.ok {
				t.Fatalf("CheckLimits() = %v", err)
			}
			if err != nil && !errors.Is(err, ErrLimitsUnenforceable) {
				t.Errorf("error does not wrap ErrLimitsUnenforceable: %v", err)
			}
		})
	}
}
