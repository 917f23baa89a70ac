package podman

import (
	"context"
	"fmt"
	"net/http"

	"github.com/untether-go/untether/sandbox"
)

// Host asks the Podman service what it runs on: version, cgroups, rootless.
// An unreachable service is sandbox.ErrUnavailable.
func (r *Runner) Host(ctx context.Context) (sandbox.Host, error) {
	var info struct {
		Host struct {
			CgroupVersion     string   `json:"cgroupVersion"`
			CgroupManager     string   `json:"cgroupManager"`
			CgroupControllers []string `json:"cgroupControllers"`
			Security          struct {
				Rootless bool `json:"rootless"`
			} `json:"security"`
			OCIRuntime *struct {
				Name string `json:"name"`
			} `json:"ociRuntime"`
		} `json:"host"`
		Version struct {
			Version    string
			APIVersion string
		} `json:"version"`
	}
	if err := r.api.call(ctx, http.MethodGet, "/info", nil, nil, &info); err != nil {
		return sandbox.Host{}, r.unavailable(fmt.Errorf("podman info: %w", err))
	}
	h := sandbox.Host{
		Name:          "podman",
		Version:       info.Version.Version,
		APIVersion:    info.Version.APIVersion,
		CgroupVersion: info.Host.CgroupVersion,
		CgroupManager: info.Host.CgroupManager,
		Controllers:   info.Host.CgroupControllers,
		Rootless:      info.Host.Security.Rootless,
	}
	if info.Host.OCIRuntime != nil {
		h.Runtime = info.Host.OCIRuntime.Name
	}
	return h, nil
}

// ImageExists reports whether ref is present locally.
func (r *Runner) ImageExists(ctx context.Context, ref string) (bool, error) {
	ok, err := r.api.exists(ctx, endpoint("/images/%s/exists", ref))
	if err != nil {
		return false, r.unavailable(fmt.Errorf("look up image %s: %w", ref, err))
	}
	return ok, nil
}

// Close stops making containers ahead (warm start) and removes those it
// holds, then closes the Runner's connections to the service (its SSH
// connection, for an ssh:// URL). Call it once the Runner is no longer
// used: runs still attached fail; detached ones are left alone.
func (r *Runner) Close() {
	if r.pool != nil {
		r.pool.close()
	}
	r.api.close()
}

// APICalls is how many API requests the Runner made so far, streams
// included: what a run costs on a remote host.
func (r *Runner) APICalls() int64 { return r.api.calls.Load() }
