package podman

import (
	"context"
	"fmt"

	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/bindings/system"

	"github.com/untether-go/untether/sandbox"
)

// Host asks the Podman service what it runs on: version, cgroups, rootless.
// An unreachable service is sandbox.ErrUnavailable.
func (r *Runner) Host(ctx context.Context) (sandbox.Host, error) {
	c, stop, err := r.bind(ctx)
	if err != nil {
		return sandbox.Host{}, err
	}
	defer stop()
	info, err := system.Info(c, nil)
	if err != nil {
		return sandbox.Host{}, r.unavailable(fmt.Errorf("podman info: %w", err))
	}
	h := sandbox.Host{
		Name:          "podman",
		Version:       info.Version.Version,
		APIVersion:    info.Version.APIVersion,
		CgroupVersion: info.Host.CgroupsVersion,
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
	c, stop, err := r.bind(ctx)
	if err != nil {
		return false, err
	}
	defer stop()
	ok, err := images.Exists(c, ref, nil)
	if err != nil {
		return false, r.unavailable(fmt.Errorf("look up image %s: %w", ref, err))
	}
	return ok, nil
}
