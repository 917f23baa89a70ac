package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/untether-go/untether/sandbox"

	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/orchestrator/state"
	"github.com/untether-go/untether/sandbox/podman"
)

// PlacementsFile keeps which host each run and conversation went to.
const PlacementsFile = "placements.json"

// hostOptions are the pool's hosts of cfg ([sandbox.hosts]), with the
// folders of the projects on each.
func hostOptions(cfg *config.Config) []podman.HostOptions {
	out := make([]podman.HostOptions, 0, len(cfg.Sandbox.Hosts))
	for _, h := range cfg.Sandbox.Hosts {
		o := podman.HostOptions{
			Name: h.Name, URL: h.URL, MaxRuns: h.MaxRuns, Memory: h.Memory,
			SSH: podman.SSH{Identity: h.Identity, KnownHosts: h.KnownHosts},
		}
		if h.Remote() {
			o.Paths = map[string]string{}
			for _, p := range cfg.Projects {
				if slices.Contains(cfg.HostsOf(p), h.Name) {
					o.Paths[p.Path] = p.RemotePath(h.Name)
				}
			}
		}
		out = append(out, o)
	}
	return out
}

// newPool makes the pool of cfg's hosts; with a state directory, its
// placements outlive the bridge.
func newPool(cfg *config.Config, dir string, log *slog.Logger) (*podman.Pool, error) {
	opts := podman.PoolOptions{Hosts: hostOptions(cfg), Logger: log.With("component", "podman")}
	if dir != "" {
		st, err := state.OpenRecords[string](dir, PlacementsFile)
		if err != nil {
			return nil, err
		}
		opts.Store = st
	}
	return podman.NewPool(opts)
}

// remoteProject reports whether some host project p may run on does not
// share the bridge's files.
func remoteProject(cfg *config.Config, p config.Project) bool {
	for _, h := range cfg.Sandbox.Hosts {
		if h.Remote() && slices.Contains(cfg.HostsOf(p), h.Name) {
			return true
		}
	}
	return false
}

// preflightHosts checks every host as preflight checks the one: a host
// that is reachable and cannot enforce limits stops the bridge; one that
// is down is only a warning, and runs go to the others until it is back.
func preflightHosts(ctx context.Context, pool *podman.Pool, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, errs := pool.Verify(ctx)
	for i, name := range pool.Names() {
		err := errs[i]
		switch {
		case err == nil:
		case errors.Is(err, sandbox.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
			log.Warn("host is not reachable; runs go to the others until it is back", "host", name, "err", err)
		default:
			return fmt.Errorf("host %s: %w", name, err)
		}
	}
	return nil
}
