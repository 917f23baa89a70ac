package orchestrator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/sandbox"
)

// buildSpec builds the container spec of r and the request it carries.
func (r *run) buildSpec() (sandbox.Spec, engines.Request, error) {
	s := r.sup
	name := r.engine.Name()
	req := engines.Request{
		Prompt: r.prompt, Model: s.router.model(r.msg, name), ExtraArgs: s.opts.ExtraArgs[name],
		Resume: s.sessions.resumeFor(r), Images: picturesIn(r.prompt),
	}
	if r.cont {
		// The latest CLI session in the folder, not this chat's.
		req.Resume, req.Continue = "", true
	}
	ws, err := r.workspace()
	if err != nil {
		return sandbox.Spec{}, req, err
	}
	r.mu.Lock()
	r.workdir = ws.Path
	r.mu.Unlock()
	inv, conv, err := r.invocation(req)
	if err != nil {
		s.log.Error("build invocation", "run", r.id, "err", err)
		return sandbox.Spec{}, req, errors.New("This message could not be turned into an agent run.")
	}
	spec, err := containerSpec(s.opts, r, inv, ws)
	spec.Placement = sandbox.Placement{Hosts: r.project.Hosts, Session: r.session, Resumes: req.Resume != "" || req.Continue}
	r.mu.Lock()
	r.conv = conv
	r.mu.Unlock()
	return spec, req, err
}

// invocation builds the engine's command line for req: its interactive
// protocol when approvals are on for the run (or were, for a restored
// run) and the engine can ask, else the one-shot invocation.
func (r *run) invocation(req engines.Request) (engines.Invocation, *conversation, error) {
	on, plan := r.sup.router.approvals(r.msg, r.project)
	if r.reattach {
		// Its container runs in the mode it was started in.
		on, plan = r.restored.Interactive, cmpOr(r.restored.Plan, PlanOff)
	}
	ie, ok := r.engine.(engines.Interactive)
	if !on || !ok {
		inv, err := r.engine.Invocation(req)
		return inv, nil, err
	}
	inv, proto, err := ie.Session(req, engines.SessionOptions{Plan: plan != PlanOff && ie.Asks().Plan})
	if err != nil && req.Continue && !r.reattach {
		// Some protocols cannot find the latest session; the CLI can.
		inv, err := r.engine.Invocation(req)
		return inv, nil, err
	}
	if err != nil {
		return inv, nil, err
	}
	c := newConversation(r, proto, plan)
	if r.reattach {
		c.restoreFrom(*r.restored)
	}
	return inv, c, nil
}

// workspace is the folder r works in: its project's, or the worktree of
// its branch, made when missing.
func (r *run) workspace() (Workspace, error) {
	if r.branch == "" {
		return Workspace{Path: r.project.Path}, nil
	}
	ws := r.sup.opts.Workspaces
	if r.project.Remote {
		return Workspace{}, errors.New(remoteFilesText(r.project))
	}
	if ws == nil {
		return Workspace{}, errors.New("Branches (@name) are not available in this bridge.")
	}
	ctx, cancel := context.WithTimeout(r.ctx, 2*time.Minute)
	defer cancel()
	w, err := ws.Worktree(ctx, r.project, r.branch)
	if err != nil {
		r.logger().Warn("worktree", "branch", r.branch, "err", err)
		return Workspace{}, fmt.Errorf("The worktree of @%s could not be made: %v", r.branch, err)
	}
	return w, nil
}

// containerSpec builds the container spec of r, working in ws.
func containerSpec(opts *Options, r *run, inv engines.Invocation, ws Workspace) (sandbox.Spec, error) {
	eng := r.engine.Name()
	spec, err := baseSpec(opts, r.project, eng, ws)
	if err != nil {
		return spec, err
	}
	env := maps.Clone(inv.Env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, opts.EngineEnv[eng])
	env["HOME"] = sandbox.HomeDir
	spec.Labels[sandbox.LabelRun] = r.id
	spec.Labels[sandbox.LabelChat] = strconv.FormatInt(r.msg.ChatID, 10)
	if r.msg.ThreadID != 0 {
		spec.Labels[sandbox.LabelTopic] = strconv.FormatInt(r.msg.ThreadID, 10)
	}
	spec.Name = fmt.Sprintf("untether-%s-%s", opts.Instance, r.id)
	spec.Argv, spec.Env, spec.Stdin = inv.Argv, env, stdinOf(inv)
	return spec, nil
}

// baseSpec is what every run of engine eng in project p working in ws
// has in its container spec, whatever its session: the parts a warm
// container is made with ahead (see Warmer).
func baseSpec(opts *Options, p Project, eng string, ws Workspace) (sandbox.Spec, error) {
	image := p.Images[eng]
	if image == "" {
		return sandbox.Spec{}, fmt.Errorf("No container image is configured for %s.", eng)
	}
	return sandbox.Spec{
		Image:   image,
		Workdir: sandbox.WorkspaceDir,
		Mounts:  append([]sandbox.Mount{{Source: ws.Path, Target: sandbox.WorkspaceDir}}, ws.Mounts...),
		Volumes: []sandbox.Volume{{
			Name:   fmt.Sprintf("untether-%s-%s-%s-home", opts.Instance, p.Name, eng),
			Target: sandbox.HomeDir,
		}},
		Network: p.Network,
		Limits:  p.Limits,
		Labels: map[string]string{
			sandbox.LabelInstance: opts.Instance,
			sandbox.LabelProject:  p.Name,
			sandbox.LabelEngine:   eng,
		},
		StopGrace: opts.StopGrace,
		Keep:      opts.Runs != nil && opts.Reattacher != nil,
	}, nil
}

// stdinOf is a one-shot invocation's stdin; nil gives none.
func stdinOf(inv engines.Invocation) io.Reader {
	if inv.Stdin == nil {
		return nil
	}
	return bytes.NewReader(inv.Stdin)
}
