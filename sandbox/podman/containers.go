package podman

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/containers"

	"github.com/untether-go/untether/sandbox"
)

// Containers lists the containers labelled with instance (running or not),
// with their current memory and CPU use, oldest first. Other instances'
// containers are never listed.
func (r *Runner) Containers(ctx context.Context, instance string) ([]sandbox.Container, error) {
	c, stop, err := r.bind(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	list, err := containers.List(c, new(containers.ListOptions).WithAll(true).
		WithFilters(map[string][]string{"label": {sandbox.LabelInstance + "=" + instance}}))
	if err != nil {
		return nil, r.unavailable(fmt.Errorf("list containers of %s: %w", instance, err))
	}
	out := make([]sandbox.Container, 0, len(list))
	var running []string
	for _, l := range list {
		if l.Labels[sandbox.LabelInstance] != instance {
			continue // the filter is the service's; this is ours
		}
		name := l.ID
		if len(l.Names) > 0 {
			name = l.Names[0]
		}
		out = append(out, sandbox.Container{ID: l.ID, Name: name, Labels: l.Labels, State: l.State, Created: l.Created})
		if l.State == "running" {
			running = append(running, l.ID)
		}
	}
	if len(running) > 0 {
		r.addStats(c, running, out)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// addStats fills in memory and CPU use; stats are best effort (a container
// may stop between the list and the stats).
func (r *Runner) addStats(c context.Context, ids []string, out []sandbox.Container) {
	reports, err := containers.Stats(c, ids, new(containers.StatsOptions).WithStream(false))
	if err != nil {
		r.log.Debug("container stats", "err", err)
		return
	}
	for rep := range reports {
		if rep.Error != nil {
			r.log.Debug("container stats", "err", rep.Error)
			continue
		}
		for _, s := range rep.Stats {
			for i := range out {
				if strings.HasPrefix(out[i].ID, s.ContainerID) || strings.HasPrefix(s.ContainerID, out[i].ID) {
					out[i].MemoryBytes = int64(s.MemUsage)
					out[i].CPUPercent = s.CPU
				}
			}
		}
	}
}

// RemoveContainer removes a container (by name or id) and whatever still
// runs in it, e.g. one kept after its run (Spec.Keep). When there is no such
// container the error wraps sandbox.ErrNotFound; when Podman cannot be
// reached, sandbox.ErrUnavailable. Safe for concurrent use.
func (r *Runner) RemoveContainer(ctx context.Context, id string) error {
	c, stop, err := r.bind(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if _, err := containers.Remove(c, id, new(containers.RemoveOptions).WithForce(true)); err != nil {
		if notFound(err) {
			return fmt.Errorf("remove container %s: %w", id, sandbox.ErrNotFound)
		}
		return r.unavailable(fmt.Errorf("remove container %s: %w", id, err))
	}
	return nil
}
