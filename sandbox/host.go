package sandbox

import (
	"fmt"
	"slices"
)

// Host describes a sandbox backend's host, as a preflight found it.
type Host struct {
	// Name and Version of the backend, e.g. "podman" "4.3.1".
	Name    string
	Version string
	// APIVersion is the version of the service's API.
	APIVersion string
	// CgroupVersion is "v1" or "v2".
	CgroupVersion string
	CgroupManager string
	// Controllers are the cgroup controllers available to containers.
	Controllers []string
	Rootless    bool
	Runtime     string
}

// CheckLimits reports whether memory and pids limits hold on h: an error
// wrapping ErrLimitsUnenforceable says why not and how to fix it.
func (h Host) CheckLimits() error {
	switch {
	case h.Rootless && h.CgroupVersion == "v1":
		return fmt.Errorf("%w: rootless %s on cgroup v1 ignores memory and pids limits; run the bridge against a rootful Podman (podman_url = \"unix:///run/podman/podman.sock\"), or boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
			ErrLimitsUnenforceable, h.Name)
	case h.Rootless && h.CgroupVersion == "v2":
		var missing []string
		for _, c := range []string{"memory", "pids"} {
			if !slices.Contains(h.Controllers, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: the %v cgroup controllers are not delegated to this user; delegate them (systemd: a drop-in with Delegate=memory pids cpu for user@.service) and restart the user session",
				ErrLimitsUnenforceable, missing)
		}
	case h.CgroupVersion != "v1" && h.CgroupVersion != "v2":
		return fmt.Errorf("%w: unknown cgroup version %q", ErrLimitsUnenforceable, h.CgroupVersion)
	}
	return nil
}
