package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/untether-go/untether/sandbox"
)

// What a Pool does per host for the runs it placed: reattach, remove,
// list, report.

// hostOf is the host a container was placed on, nil when unknown.
func (p *Pool) hostOf(name string) *poolHost {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.placed[runKey(name)]; ok {
		return p.byName[n]
	}
	if n, ok := p.ids[name]; ok {
		return p.byName[n]
	}
	return nil
}

// Reattach carries on the run in container name on the host it was placed
// on (see Runner.Reattach). A container whose host is unknown is looked
// for on every host. When its host cannot be reached the run ends with a
// *sandbox.HostLostError.
func (p *Pool) Reattach(ctx context.Context, name string, stdin io.Reader, onLine func([]byte)) (sandbox.Result, error) {
	h := p.hostOf(name)
	if h == nil {
		for _, c := range p.hosts {
			res, err := c.r.Reattach(ctx, name, stdin, onLine)
			if !errors.Is(err, sandbox.ErrNotFound) {
				return res, err
			}
		}
		return sandbox.Result{}, fmt.Errorf("reattach %s: %w", name, sandbox.ErrNotFound)
	}
	// Its memory is not reserved again: the record does not say it, and
	// the run holds the host's room only until it ends.
	p.mu.Lock()
	h.runs++
	h.live[name] = true
	if i := instanceOf(name); i != "" {
		h.instances[i] = true
	}
	p.mu.Unlock()
	res, err := h.r.Reattach(ctx, name, stdin, onLine)
	p.mu.Lock()
	h.runs--
	p.broadcastLocked()
	p.mu.Unlock()
	if errors.Is(err, sandbox.ErrUnavailable) {
		p.markDown(h, err.Error())
		return res, &sandbox.HostLostError{Host: h.Name, Err: err}
	}
	return res, err
}

// RemoveContainer removes a container (by name, or by an id Containers
// listed) from its host (see Runner.RemoveContainer). One whose host is
// unknown is removed from whichever host has it.
func (p *Pool) RemoveContainer(ctx context.Context, id string) error {
	h := p.hostOf(id)
	if h == nil {
		for _, c := range p.hosts {
			if err := c.r.RemoveContainer(ctx, id); !errors.Is(err, sandbox.ErrNotFound) {
				return err
			}
		}
		return fmt.Errorf("remove container %s: %w", id, sandbox.ErrNotFound)
	}
	err := h.r.RemoveContainer(ctx, id)
	if errors.Is(err, sandbox.ErrUnavailable) {
		// Left for when the host is back (reapLost).
		p.markDown(h, err.Error())
	}
	p.mu.Lock()
	delete(h.live, id)
	p.mu.Unlock()
	p.forget(runKey(id))
	return err
}

// Containers lists the instance's containers on every host that answers,
// each with its Host; a host that does not is logged and left out.
func (p *Pool) Containers(ctx context.Context, instance string) ([]sandbox.Container, error) {
	var all []sandbox.Container
	var errs []error
	for _, h := range p.hosts {
		if p.isDown(h) {
			continue
		}
		list, err := h.r.Containers(ctx, instance)
		if err != nil {
			if errors.Is(err, sandbox.ErrUnavailable) {
				p.markDown(h, err.Error())
			}
			p.log.Warn("list containers", "host", h.Name, "err", err)
			errs = append(errs, fmt.Errorf("host %s: %w", h.Name, err))
			continue
		}
		p.mu.Lock()
		for i := range list {
			list[i].Host = h.Name
			p.ids[list[i].ID] = h.Name
		}
		p.mu.Unlock()
		all = append(all, list...)
	}
	if len(errs) == len(p.hosts) {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(all, func(a, b sandbox.Container) int { return a.Created.Compare(b.Created) })
	return all, nil
}

// HostState is what a Pool knows of one host now.
type HostState struct {
	Name     string
	URL      string
	Down     bool
	Why      string // why it is down
	Runs     int
	MaxRuns  int
	Reserved int64
	Memory   int64
}

// States reports every host, in order.
func (p *Pool) States() []HostState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]HostState, len(p.hosts))
	for i, h := range p.hosts {
		out[i] = HostState{Name: h.Name, URL: h.URL, Down: h.down, Why: h.downWhy, Runs: h.runs,
			MaxRuns: h.MaxRuns, Reserved: h.reserved, Memory: h.Memory}
	}
	return out
}

// Verify checks every host as Runner.Verify does, in order; errs has an
// entry per host (nil when it passed). A host that is unreachable is
// marked down; one that cannot enforce limits stays in, and its runs are
// refused by its Runner.
func (p *Pool) Verify(ctx context.Context) (hosts []sandbox.Host, errs []error) {
	for _, h := range p.hosts {
		host, err := h.r.Verify(ctx)
		if errors.Is(err, sandbox.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			p.markDown(h, err.Error())
		}
		hosts, errs = append(hosts, host), append(errs, err)
	}
	return hosts, errs
}
