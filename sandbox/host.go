package sandbox

import (
	"fmt"
	"slices"
	"strings"
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

// LimitsError says why a host cannot enforce a run's limits. It wraps
// ErrLimitsUnenforceable.
type LimitsError struct {
	// Reason is short and fit for a chat, e.g. "rootless Podman on cgroup
	// v1"; Fix says what the host's admin can do.
	Reason string
	Fix    string
}

func (e *LimitsError) Error() string {
	return fmt.Sprintf("%s: %s; %s", ErrLimitsUnenforceable, e.Reason, e.Fix)
}

func (e *LimitsError) Unwrap() error { return ErrLimitsUnenforceable }

// CheckLimits reports whether memory and pids limits hold on h: a
// *LimitsError says why not and how to fix it.
func (h Host) CheckLimits() error {
	name := h.Name
	if name == "podman" {
		name = "Podman"
	}
	switch {
	case h.CgroupVersion != "v1" && h.CgroupVersion != "v2":
		return &LimitsError{
			Reason: fmt.Sprintf("%s reports an unknown cgroup version %q", name, h.CgroupVersion),
			Fix:    "run it on a host with cgroup v1 (rootful) or cgroup v2",
		}
	case h.Runtime == "":
		return &LimitsError{
			Reason: fmt.Sprintf("%s reports no OCI runtime", name),
			Fix:    "install runc or crun and set it in containers.conf ([engine] runtime)",
		}
	case h.Rootless && h.CgroupVersion == "v1":
		return &LimitsError{
			Reason: fmt.Sprintf("rootless %s on cgroup v1 ignores memory and pids limits", name),
			Fix:    "run the bridge against a rootful Podman (podman_url = \"unix:///run/podman/podman.sock\"), or boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
		}
	case h.Rootless:
		var missing []string
		for _, c := range []string{"memory", "pids"} {
			if !slices.Contains(h.Controllers, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			return &LimitsError{
				Reason: fmt.Sprintf("the %s cgroup controllers are not delegated to the user %s runs as", strings.Join(missing, " and "), name),
				Fix:    "delegate them (systemd: a drop-in with Delegate=memory pids cpu for user@.service) and restart the user session",
			}
		}
	}
	return nil
}
