package orchestrator

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/untether-go/untether/sandbox"
)

// Runs on several sandbox hosts: the sandbox places each run
// (sandbox.Placement); the run's progress message says when it waits for
// a host.

// placement sets the hooks of spec's placement: while no host has room,
// r counts as waiting and its progress message says so.
func (r *run) placement(spec *sandbox.Spec, p *runProgress, log *slog.Logger) {
	waited := false
	spec.Placement.Waiting = func(why string) {
		waited = true
		r.setState(stateWaiting)
		p.note("queued · " + why)
	}
	spec.Placement.Placed = func(host string) {
		if waited {
			r.setState(stateRunning)
			p.note("")
		}
		log.Info("run placed", "host", host)
	}
}

// remoteFilesText refuses a file feature for a project whose runs may go
// to a remote host.
func remoteFilesText(p Project) string {
	return fmt.Sprintf("Files and branches are not available in project %s: its runs may go to a remote host, where the bridge cannot reach the project's folder (hosts: %s). Give it only hosts that share the bridge's files (its hosts key) to use them.",
		p.Name, strings.Join(p.Hosts, ", "))
}

// hostWaitPrefix starts the note of a run waiting for a host: the
// sandbox's reasons all start "waiting for".
const hostWaitPrefix = "queued · waiting for"

// hostWait is what r waits for while no host has room ("waiting for a
// host (b full)"), "" when it does not wait for one.
func (r *run) hostWait() string {
	p := r.liveProgress()
	if p == nil {
		return ""
	}
	p.view.mu.Lock()
	defer p.view.mu.Unlock()
	if !strings.HasPrefix(p.view.note, hostWaitPrefix) {
		return ""
	}
	return strings.TrimPrefix(p.view.note, "queued · ")
}
