package podman

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// A Pool's view of its hosts' health: a host is taken out when a call or
// its SSH connection fails, and asked every so often whether it is back.

// markDown takes h out of placement until a check passes again.
func (p *Pool) markDown(h *poolHost, why string) {
	p.mu.Lock()
	was := h.down
	h.down, h.downWhy = true, why
	p.mu.Unlock()
	h.r.lost()
	if !was {
		p.log.Warn("host unreachable: runs go elsewhere until it is back", "host", h.Name, "why", why)
	}
}

// recheck asks the hosts that are down, every p.every, whether they are
// back. Hosts that are up are not polled: a failing call or a broken SSH
// connection takes them down.
func (p *Pool) recheck() {
	defer p.wg.Done()
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
		}
		for _, h := range p.hosts {
			if p.isDown(h) {
				p.check(h)
			}
		}
	}
}

// check verifies a host that was down and takes it back when it passes,
// removing what lost runs left on it.
func (p *Pool) check(h *poolHost) {
	ctx, cancel := context.WithTimeout(p.ctx, sshDialTimeout)
	defer cancel()
	if _, err := h.r.Verify(ctx); err != nil {
		p.log.Debug("host still unusable", "host", h.Name, "err", err)
		return
	}
	p.reapLost(ctx, h)
	p.mu.Lock()
	h.down, h.downWhy = false, ""
	p.broadcastLocked()
	p.mu.Unlock()
	p.log.Info("host is back", "host", h.Name)
}

// reapLost removes the containers of this instance on h that no run of
// this Pool carries on in: the runs that were on it ended when it was
// lost.
func (p *Pool) reapLost(ctx context.Context, h *poolHost) {
	instances := map[string]bool{}
	p.mu.Lock()
	for i := range h.instances {
		instances[i] = true
	}
	for name := range h.live {
		if i := instanceOf(name); i != "" {
			instances[i] = true
		}
	}
	for k, v := range p.placed {
		if name, ok := strings.CutPrefix(k, "run:"); ok && v == h.Name {
			if i := instanceOf(name); i != "" {
				instances[i] = true
			}
		}
	}
	p.mu.Unlock()
	for inst := range instances {
		list, err := h.r.Containers(ctx, inst)
		if err != nil {
			continue
		}
		for _, c := range list {
			name := strings.TrimPrefix(c.Name, "/")
			p.mu.Lock()
			live := h.live[name] && !p.lostLocked(name)
			p.mu.Unlock()
			if live {
				continue
			}
			if err := h.r.RemoveContainer(ctx, c.ID); err == nil || errors.Is(err, sandbox.ErrNotFound) {
				p.log.Info("removed a container of a run lost with its host", "host", h.Name, "container", name)
				p.mu.Lock()
				delete(h.live, name)
				p.mu.Unlock()
				p.forget(runKey(name))
			}
		}
	}
}

// lostLocked reports whether the container's run ended already (its
// placement was forgotten or it is not running here any more).
func (p *Pool) lostLocked(name string) bool {
	_, ok := p.placed[runKey(name)]
	return !ok
}

// instanceOf reads the instance from a container name the orchestrator
// made (untether-<instance>-<run>); "" for another name.
func instanceOf(name string) string {
	rest, ok := strings.CutPrefix(name, "untether-")
	if !ok {
		return ""
	}
	i := strings.LastIndex(rest, "-")
	if i <= 0 {
		return ""
	}
	return rest[:i]
}
