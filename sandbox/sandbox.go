// Package sandbox is the vocabulary of running one agent session in isolation:
// the Spec of what to run, its Limits, and the Result. Backends live in
// sandbox/<name> (podman, process) and adapt this vocabulary.
//
// It imports only the standard library and nothing of this module.
package sandbox

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Label keys put on every container; everything that lists, reaps or
// reattaches filters by LabelInstance.
const (
	LabelInstance = "untether.instance"
	LabelProject  = "untether.project"
	LabelEngine   = "untether.engine"
	LabelRun      = "untether.run"
	LabelChat     = "untether.chat"
	// LabelTopic is the forum topic (message thread) the run answers in;
	// absent outside forum topics.
	LabelTopic = "untether.topic"
)

// Fixed paths inside a run's container.
const (
	WorkspaceDir = "/workspace"
	HomeDir      = "/home/agent"
)

// AgentUID and AgentGID are the user the engine images run the agent as
// (images/*/Containerfile). Under rootful Podman that is the numeric owner
// of what the agent writes in the workspace; rootless Podman maps it to
// the bridge's own user (keep-id).
const (
	AgentUID = 1000
	AgentGID = 1000
)

// Sentinel errors callers branch on.
var (
	// ErrImageNotFound: the Spec's image is not present locally.
	ErrImageNotFound = errors.New("image not found")
	// ErrUnavailable: the backend (e.g. the Podman service) cannot be reached.
	ErrUnavailable = errors.New("sandbox unavailable")
	// ErrLimitsUnenforceable: the backend cannot enforce memory or pids limits.
	ErrLimitsUnenforceable = errors.New("resource limits cannot be enforced")
	// ErrEngineNotFound: the program the Spec's argv names is not installed
	// (backends that run host programs).
	ErrEngineNotFound = errors.New("engine not found")
	// ErrDetached: the backend was told to leave its runs running (a daemon
	// draining with policy detach); the run goes on without this process
	// and a later one may reattach to it.
	ErrDetached = errors.New("run detached")
	// ErrNotFound: there is no run (container) of that name to reattach to.
	ErrNotFound = errors.New("run not found")
)

// Limits bound one run. Zero means "no limit" for every field.
type Limits struct {
	MemoryBytes int64
	// SwapBytes is memory+swap, as cgroups count it; equal to MemoryBytes
	// means no swap beyond the memory limit.
	SwapBytes int64
	Pids      int64
	CPUs      float64
	Timeout   time.Duration
}

// Mount binds a host directory into the container.
type Mount struct {
	Source   string
	Target   string
	ReadOnly bool
}

// Volume mounts a named volume, created on first use.
type Volume struct {
	Name   string
	Target string
}

// Network modes.
const (
	NetworkDefault = ""
	NetworkNone    = "none"
	// NetworkHost shares the host's network, for engines that must reach a
	// model server on the host's loopback.
	NetworkHost = "host"
)

// Spec is everything needed to run one session.
type Spec struct {
	// Name is the container name; unique per run.
	Name    string
	Image   string
	Argv    []string
	Env     map[string]string
	Workdir string
	Mounts  []Mount
	Volumes []Volume
	Network string
	Limits  Limits
	Labels  map[string]string
	// StopGrace is how long a cancelled run gets between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// Stdin is copied to the process's standard input until it returns
	// EOF; the process's standard input then ends. Nil gives the process
	// no standard input.
	//
	// If Stdin is also an io.Closer, the backend closes it once the run
	// ended or detached, or when the copy failed (the process's stdin
	// broke): a copy blocked in Read then ends, and the writer of an
	// io.Pipe learns from its failing Write that nothing reads any more.
	// A Stdin whose Read can block must be an io.Closer: the backend waits
	// for its copy to end. Bytes read but not yet delivered when the run
	// detaches are lost.
	Stdin io.Reader
	// LiveStdin makes Stdin a conversation that survives a detach: the
	// process keeps its standard input open while nobody writes to it,
	// and a later Reattach may write to it again. The end of Stdin then
	// ends the run: the backend stops the process (see
	// Result.StdinEnded). Backends that cannot detach treat it as a plain
	// Stdin.
	LiveStdin bool
	// Keep leaves the container in place after the run ended, so that a
	// caller that persists its runs can deliver the answer before the
	// container's output is gone; the caller then removes it. Backends
	// without containers ignore it.
	Keep bool
	// Placement says where the run may go, for backends with several
	// hosts; others ignore it.
	Placement Placement
}

// Placement tells a backend with several hosts where a run may go.
type Placement struct {
	// Hosts are the hosts the run may go to; nil means any.
	Hosts []string
	// Session names the run's conversation. A run that Resumes it goes
	// back to the host its last run went to (where the engine's home
	// volume holds the session); another goes where there is room.
	Session string
	Resumes bool
	// Waiting is called, at most once, when no host has room for the run
	// and it waits for one; why is a short phrase for users. Placed is
	// called once the run has its host. Both are called from the
	// goroutine that called Run; nil for none.
	Waiting func(why string)
	Placed  func(host string)
}

// HostLostError says that the host a run was on became unreachable: the
// run ended without a result. It wraps ErrUnavailable.
type HostLostError struct {
	Host string
	Err  error
}

func (e *HostLostError) Error() string {
	return fmt.Sprintf("the host %s became unreachable: %v", e.Host, e.Err)
}

func (e *HostLostError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// ImageBuild describes an image to build from a Containerfile that needs no
// build context (it fetches what it installs).
type ImageBuild struct {
	Tag           string
	Containerfile []byte
	Args          map[string]string
	Labels        map[string]string
	// Secrets maps a build secret id to a host file, mounted only for the
	// RUN steps that ask for it (e.g. a proxy's CA for npm) and never
	// stored in the image.
	Secrets map[string]string
}

// Image is a local image.
type Image struct {
	Ref     string
	ID      string
	Created time.Time
	Size    int64
	Labels  map[string]string
}

// Result is how a run ended.
type Result struct {
	ExitCode  int
	OOMKilled bool
	TimedOut  bool
	Cancelled bool
	// StdinEnded: the backend stopped the process because its live stdin
	// (Spec.LiveStdin) returned EOF, as a run ends whose conversation is
	// over. The exit code is then the stop signal's, which is no failure.
	StdinEnded bool
	Duration   time.Duration
	// StderrTail is the last few KiB the process wrote to stderr.
	StderrTail string
	// Killed: a signal nobody on the bridge's side sent ended the process
	// (e.g. `podman kill` from outside), and it was not the OOM killer's.
	Killed bool
	// Gone: the container disappeared while the run lasted (removed from
	// outside); how the process ended is unknown.
	Gone bool
	// Usage is what the run used, nil when the backend could not tell.
	Usage *Usage
}

// Usage is what a run's processes used, as their cgroup counts it.
type Usage struct {
	// PeakMemory is the highest memory use seen, in bytes; MemoryLimit the
	// limit it ran under (0: none). Memory is the use at the last reading.
	PeakMemory  int64
	MemoryLimit int64
	Memory      int64
	// CPU is the CPU time used; CPUPercent the use over the last readings'
	// interval, in percent of one CPU (above 100 on several CPUs).
	CPU        time.Duration
	CPUPercent float64
	// OOMKills counts the processes the kernel's OOM killer ended.
	OOMKills int
	// Complete: read once the processes had ended, so the counters hold
	// all of the run. Otherwise they are the last readings while it ran
	// and may miss its last moment.
	Complete bool
}

// Container is a run's container as the backend lists it.
type Container struct {
	ID      string
	Name    string
	Labels  map[string]string
	State   string // created, running, exited, ...
	Created time.Time
	// MemoryBytes and CPUPercent are current usage; zero when not running.
	MemoryBytes int64
	CPUPercent  float64
	// Host names the host the container is on, for backends with several;
	// "" otherwise.
	Host string
	// Warm: a container made ahead for runs (warm start) that no run has
	// claimed yet. The backend owns it: it is no run's, and no orphan.
	Warm bool
}
