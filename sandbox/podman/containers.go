package podman

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// Containers lists the containers labelled with instance (running or not),
// with their current memory and CPU use, oldest first. Other instances'
// containers are never listed.
func (r *Runner) Containers(ctx context.Context, instance string) ([]sandbox.Container, error) {
	filters, err := json.Marshal(map[string][]string{"label": {sandbox.LabelInstance + "=" + instance}})
	if err != nil {
		return nil, err
	}
	var list []struct {
		ID      string `json:"Id"`
		Names   []string
		Labels  map[string]string
		State   string
		Created time.Time
	}
	q := url.Values{"all": {"true"}, "filters": {string(filters)}}
	if err := r.api.call(ctx, http.MethodGet, "/containers/json", q, nil, &list); err != nil {
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
		warm := l.Labels[labelPool] != "" && strings.HasPrefix(name, warmPrefix)
		out = append(out, sandbox.Container{ID: l.ID, Name: name, Labels: l.Labels, State: l.State, Created: l.Created, Warm: warm})
		if l.State == "running" {
			running = append(running, l.ID)
		}
	}
	if len(running) > 0 {
		r.addStats(ctx, running, out)
	}
	// The runs followed here have their cgroup's figures: the same ones
	// their stall notices and footers show.
	for i := range out {
		if u, ok := r.Usage(out[i].Name); ok && out[i].State == "running" {
			out[i].MemoryBytes, out[i].CPUPercent = u.Memory, u.CPUPercent
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// addStats fills in memory and CPU use; stats are best effort (a container
// may stop between the list and the stats).
func (r *Runner) addStats(ctx context.Context, ids []string, out []sandbox.Container) {
	var rep struct {
		// Error is set, to an object without fields, when the service
		// could not read the stats.
		Error json.RawMessage
		Stats []struct {
			ContainerID string
			MemUsage    uint64
			CPU         float64
		}
	}
	q := url.Values{"stream": {"false"}, "containers": ids}
	if err := r.api.call(ctx, http.MethodGet, "/containers/stats", q, nil, &rep); err != nil {
		r.log.Debug("container stats", "err", err)
		return
	}
	if len(rep.Error) > 0 && string(rep.Error) != "null" {
		r.log.Debug("container stats", "err", string(rep.Error))
		return
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

// RemoveContainer removes a container (by name or id) and whatever still
// runs in it, e.g. one kept after its run (Spec.Keep). When there is no such
// container the error wraps sandbox.ErrNotFound; when Podman cannot be
// reached, sandbox.ErrUnavailable. Safe for concurrent use.
func (r *Runner) RemoveContainer(ctx context.Context, id string) error {
	q := url.Values{"force": {"true"}}
	if err := r.api.call(ctx, http.MethodDelete, endpoint("/containers/%s", id), q, nil, nil); err != nil {
		if notFound(err) {
			return fmt.Errorf("remove container %s: %w", id, sandbox.ErrNotFound)
		}
		return r.unavailable(fmt.Errorf("remove container %s: %w", id, err))
	}
	return nil
}
