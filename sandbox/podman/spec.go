package podman

import (
	"fmt"
	"maps"
	"path/filepath"

	"github.com/untether-go/untether/sandbox"
)

// cpuPeriod is the CFS period the CPU quota is expressed against (100 ms, the
// kernel's default).
const cpuPeriod = 100_000

// agentOOMScoreAdj makes an agent's processes the kernel's preferred victims
// over the bridge when the host itself runs out of memory.
const agentOOMScoreAdj = 500

// logDriver keeps a container's whole output in a file the service serves
// back from the start, whether or not anyone was attached: a daemon that
// reattaches after a restart replays the stream from there.
const logDriver = "k8s-file"

// labelTimeout records a run's wall-clock timeout on its container (a Go
// duration); with the container's start time it gives the deadline a
// reattaching daemon enforces.
const labelTimeout = "untether.timeout"

// labelKeep marks a container created with Spec.Keep, which a reattaching
// daemon leaves in place too.
const labelKeep = "untether.keep"

// containerSpec is the part of podman's container spec (package specgen's
// SpecGenerator) the sandbox sets, under podman's JSON names. Fields left
// out take the service's defaults.
type containerSpec struct {
	Name               string            `json:"name,omitempty"`
	Image              string            `json:"image"`
	Command            []string          `json:"command,omitempty"`
	Entrypoint         []string          `json:"entrypoint"` // empty: the image's is not used
	Env                map[string]string `json:"env,omitempty"`
	Labels             map[string]string `json:"labels,omitempty"`
	LogConfiguration   *logConfig        `json:"log_configuration,omitempty"`
	WorkDir            string            `json:"work_dir,omitempty"`
	Terminal           *bool             `json:"terminal,omitempty"`
	Stdin              *bool             `json:"stdin,omitempty"`
	Mounts             []mount           `json:"mounts,omitempty"`
	Volumes            []namedVolume     `json:"volumes,omitempty"`
	NetNS              namespace         `json:"netns"`
	UserNS             namespace         `json:"userns"`
	ResourceLimits     *resources        `json:"resource_limits,omitempty"`
	OOMScoreAdj        *int              `json:"oom_score_adj,omitempty"`
	CapDrop            []string          `json:"cap_drop,omitempty"`
	NoNewPrivileges    *bool             `json:"no_new_privileges,omitempty"`
	ReadOnlyFilesystem *bool             `json:"read_only_filesystem,omitempty"`
	ReadWriteTmpfs     *bool             `json:"read_write_tmpfs,omitempty"`
	StopTimeout        *uint             `json:"stop_timeout,omitempty"`
}

type logConfig struct {
	Driver string `json:"driver,omitempty"`
}

// mount is an OCI runtime-spec mount.
type mount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// namedVolume is specgen's; its fields have no JSON tags there.
type namedVolume struct {
	Name string `json:"Name"`
	Dest string `json:"Dest"`
}

// namespace is how a container gets a namespace; an empty mode is the
// service's default.
type namespace struct {
	NSMode string `json:"nsmode,omitempty"`
}

// Namespace modes of specgen.
const (
	nsNone   = "none"
	nsHost   = "host"
	nsKeepID = "keep-id"
)

// resources is the OCI runtime-spec's LinuxResources, the fields the
// sandbox limits.
type resources struct {
	Memory *memory `json:"memory,omitempty"`
	CPU    *cpu    `json:"cpu,omitempty"`
	Pids   *pids   `json:"pids,omitempty"`
}

type memory struct {
	Limit *int64 `json:"limit,omitempty"`
	Swap  *int64 `json:"swap,omitempty"`
}

type cpu struct {
	Quota  *int64  `json:"quota,omitempty"`
	Period *uint64 `json:"period,omitempty"`
}

type pids struct {
	Limit int64 `json:"limit"`
}

// resourcesFor maps sandbox limits to the OCI resources podman applies. Zero
// fields are left unset (no limit).
func resourcesFor(l sandbox.Limits) *resources {
	r := &resources{}
	if l.MemoryBytes > 0 {
		mem := l.MemoryBytes
		swap := l.SwapBytes
		if swap < mem {
			swap = mem
		}
		r.Memory = &memory{Limit: &mem, Swap: &swap}
	}
	if l.Pids > 0 {
		r.Pids = &pids{Limit: l.Pids}
	}
	if l.CPUs > 0 {
		period := uint64(cpuPeriod)
		quota := int64(l.CPUs * cpuPeriod)
		r.CPU = &cpu{Period: &period, Quota: &quota}
	}
	return r
}

// validateSpec rejects specs that would run something other than asked.
func validateSpec(s sandbox.Spec) error {
	switch {
	case s.Name == "":
		return fmt.Errorf("spec: empty container name")
	case s.Image == "":
		return fmt.Errorf("spec %s: empty image", s.Name)
	case len(s.Argv) == 0:
		return fmt.Errorf("spec %s: empty argv", s.Name)
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
			return fmt.Errorf("spec %s: mount %q → %q: paths must be absolute", s.Name, m.Source, m.Target)
		}
	}
	switch s.Network {
	case sandbox.NetworkDefault, sandbox.NetworkNone, sandbox.NetworkHost:
	default:
		return fmt.Errorf("spec %s: unknown network %q", s.Name, s.Network)
	}
	return nil
}

// containerSpecFor translates a sandbox Spec into podman's container spec with
// the security defaults of the sandbox contract: no capabilities, no new
// privileges, a read-only root file system with writable tmpfs scratch
// directories, and nothing of the host but the declared mounts. Under a
// rootless Podman the user namespace keeps the invoking user's id, so the
// files an agent writes in the project belong to that user.
func containerSpecFor(s sandbox.Spec, rootless bool) *containerSpec {
	g := &containerSpec{Image: s.Image}
	g.Name = s.Name
	g.Command = append([]string(nil), s.Argv...)
	if s.LiveStdin {
		g.Command = liveArgv(s.Argv)
	}
	g.Entrypoint = []string{}
	g.Env = maps.Clone(s.Env)
	g.Labels = maps.Clone(s.Labels)
	if g.Labels == nil {
		g.Labels = map[string]string{}
	}
	if s.Limits.Timeout > 0 {
		g.Labels[labelTimeout] = s.Limits.Timeout.String()
	}
	if s.Keep {
		g.Labels[labelKeep] = "true"
	}
	if s.LiveStdin {
		g.Labels[labelStdin] = stdinLive
	}
	g.LogConfiguration = &logConfig{Driver: logDriver}
	g.WorkDir = s.Workdir
	g.Terminal = ptr(false)
	// A live stdin is a FIFO the process opens itself: the container's own
	// stdin would end with the first attach.
	g.Stdin = ptr(s.Stdin != nil && !s.LiveStdin)

	for _, m := range s.Mounts {
		opts := []string{"rbind", "rw"}
		if m.ReadOnly {
			opts = []string{"rbind", "ro"}
		}
		g.Mounts = append(g.Mounts, mount{
			Type: "bind", Source: m.Source, Destination: m.Target, Options: opts,
		})
	}
	// The root is read-only: scratch space is an explicit tmpfs, so it
	// does not depend on the service's read-only-tmpfs default.
	g.Mounts = append(g.Mounts, mount{
		Type: "tmpfs", Source: "tmpfs", Destination: "/tmp",
		Options: []string{"rw", "nosuid", "nodev", "mode=1777", "size=" + tmpSize(s.Limits)},
	})
	for _, v := range s.Volumes {
		g.Volumes = append(g.Volumes, namedVolume{Name: v.Name, Dest: v.Target})
	}
	switch s.Network {
	case sandbox.NetworkNone:
		g.NetNS = namespace{NSMode: nsNone}
	case sandbox.NetworkHost:
		g.NetNS = namespace{NSMode: nsHost}
	}

	if rootless {
		g.UserNS = namespace{NSMode: nsKeepID}
	}
	g.ResourceLimits = resourcesFor(s.Limits)
	g.OOMScoreAdj = ptr(agentOOMScoreAdj)
	g.CapDrop = []string{"ALL"}
	g.NoNewPrivileges = ptr(true)
	g.ReadOnlyFilesystem = ptr(true)
	g.ReadWriteTmpfs = ptr(true)
	if s.StopGrace > 0 {
		g.StopTimeout = ptr(uint(s.StopGrace.Seconds() + 0.5))
	}
	return g
}

// tmpSize bounds /tmp. A tmpfs is charged to the container's memory
// cgroup, so the memory limit bounds it anyway; without a limit, 1 GiB.
func tmpSize(l sandbox.Limits) string {
	if l.MemoryBytes > 0 {
		return fmt.Sprint(l.MemoryBytes)
	}
	return "1g"
}

func ptr[T any](v T) *T { return &v }
