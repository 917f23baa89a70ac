package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/sandbox"
)

// execute carries out one job: container, stream, progress, final answer.
func (o *Orchestrator) execute(j *job) {
	<-j.announced
	log := o.log.With("run", j.id, "chat", j.msg.ChatID, "project", j.project.Name, "engine", j.engine.Name())
	p := newProgress(o, j, time.Now())
	if !j.started.IsZero() {
		p.started = j.started
	}

	if o.stopping() {
		o.hold(j, p, log)
		return
	}
	if j.ctx.Err() != nil {
		o.finish(j, p, failure(j, "Cancelled before it started."), log)
		return
	}
	spec, req, err := o.buildSpec(j)
	if err != nil && !j.reattach {
		o.finish(j, p, failure(j, err.Error()), log)
		return
	}
	if j.reattach {
		// The run goes on in its container whatever the config says now.
		spec.Name = j.container
	}

	waited, ok := o.takeSlot(j, p, log)
	if !ok {
		return
	}
	if waited {
		p.started = time.Now() // show the run's time, not the wait's
	}
	o.mu.Lock()
	j.prog = p
	if j.started.IsZero() {
		j.started = p.started
	}
	j.container = spec.Name
	o.mu.Unlock()
	o.record(j)
	p.start()
	if waited {
		p.touch() // replace the "waiting" notice with the progress view
	}
	res, dec, err := o.run(j, spec, p, log, req.Resume != "")
	o.slots.release()
	if errors.Is(err, sandbox.ErrDetached) {
		o.detached(j, p, log)
		return
	}
	if err != nil {
		log.Error("run failed to start", "err", err)
		p.stop()
		msg := sandboxError(err, spec.Image, j.engine.Name())
		if j.ctx.Err() != nil { // cancelled while its container was made
			msg = o.cause(j, sandbox.Result{Cancelled: true})
		}
		o.finish(j, p, failure(j, msg), log)
		return
	}
	log.Info("run ended", "exit", res.ExitCode, "oom", res.OOMKilled, "timeout", res.TimedOut,
		"cancelled", res.Cancelled, "duration", res.Duration.Round(time.Millisecond))
	p.apply(dec.Finish(engines.Exit{Code: res.ExitCode, StderrTail: res.StderrTail, Cause: o.cause(j, res)}))
	p.stop()

	c := p.completion()
	if c.Resume != "" && o.opts.SessionMode == SessionChat && !o.resetSince(j) {
		if err := o.opts.Sessions.Put(j.session, j.engine.Name(), c.Resume); err != nil {
			log.Error("save session", "err", err)
		}
	}
	o.finish(j, p, c, log)
}

// takeSlot takes a run slot for j; ok is false when j was cancelled or
// the bridge began to stop meanwhile, and j was then held or answered.
func (o *Orchestrator) takeSlot(j *job, p *progress, log *slog.Logger) (waited, ok bool) {
	var err error
	if j.reattach {
		o.slots.take() // its container runs already: it holds a slot
	} else {
		waited, err = o.waitForSlot(j, log)
	}
	if err == nil && (j.ctx.Err() != nil || o.stopping()) {
		// A slot came free just as the job was cancelled or the bridge
		// began to stop: pass it on. (A shutdown cancels the jobs one by
		// one: o.ctx ends first.)
		o.slots.release()
		err = context.Canceled
	}
	switch {
	case err == nil:
		return waited, true
	case o.stopping():
		o.hold(j, p, log)
	default:
		o.finish(j, p, failure(j, "Cancelled before it started."), log)
	}
	return waited, false
}

// buildSpec builds the container spec of j and the request it carries.
func (o *Orchestrator) buildSpec(j *job) (sandbox.Spec, engines.Request, error) {
	name := j.engine.Name()
	req := engines.Request{Prompt: j.prompt, Model: o.model(j.msg, name), ExtraArgs: o.opts.ExtraArgs[name], Resume: j.resume}
	if req.Resume == "" && o.opts.SessionMode == SessionChat && !o.resetSince(j) {
		if eng, resume, ok := o.opts.Sessions.Get(j.session); ok && eng == name {
			req.Resume = resume
		}
	}
	inv, err := j.engine.Invocation(req)
	if err != nil {
		o.log.Error("build invocation", "run", j.id, "err", err)
		return sandbox.Spec{}, req, errors.New("This message could not be turned into an agent run.")
	}
	spec, err := o.spec(j, inv)
	return spec, req, err
}

// run streams j's run into p: a new container, or for a restored run the
// container it had (a new one when that never started).
func (o *Orchestrator) run(j *job, spec sandbox.Spec, p *progress, log *slog.Logger, resumed bool) (sandbox.Result, engines.Decoder, error) {
	dec := j.engine.NewDecoder()
	var undecoded int
	onLine := func(line []byte) {
		evs, derr := dec.Decode(line)
		if derr != nil {
			undecoded++
			return
		}
		p.apply(evs)
	}
	defer func() {
		if undecoded > 0 {
			log.Warn("stream lines skipped", "count", undecoded)
		}
	}()
	if j.reattach {
		log.Info("run reattaching", "container", spec.Name)
		res, err := o.opts.Reattacher.Reattach(j.ctx, spec.Name, onLine)
		if !errors.Is(err, sandbox.ErrNotFound) {
			return res, dec, err
		}
		log.Info("container of the restored run never started: starting it anew")
	}
	log.Info("run starting", "container", spec.Name, "resume", resumed)
	res, err := o.opts.Sandbox.Run(j.ctx, spec, onLine)
	return res, dec, err
}

// detached leaves a run to the next bridge: its record stays, and its
// progress message says the run carries on.
func (o *Orchestrator) detached(j *job, p *progress, log *slog.Logger) {
	log.Info("run detached: the next bridge reattaches to it")
	p.mu.Lock()
	p.note = "↻ The bridge is restarting; this run carries on and its answer will follow."
	p.mu.Unlock()
	p.stop()
	p.flush()
}

// notRunShutdown tells the user a message never ran because the bridge is
// shutting down.
const notRunShutdown = "The bridge is shutting down: this message was not run. Send it again in a moment."

// cause explains, in the user's words, why the sandbox ended a run early.
func (o *Orchestrator) cause(j *job, res sandbox.Result) string {
	switch {
	case res.OOMKilled:
		return fmt.Sprintf("Out of memory: the run used up its %s memory limit and was stopped.",
			formatBytes(j.project.Limits.MemoryBytes))
	case res.TimedOut:
		return fmt.Sprintf("Timed out: the run went past its %s time limit and was stopped.",
			j.project.Limits.Timeout)
	case res.Cancelled && o.ctx.Err() != nil:
		return "Stopped: the bridge is shutting down. Send the message again in a moment."
	case res.Cancelled:
		return "Cancelled."
	}
	return ""
}

// resetSince reports whether /new was sent in j's conversation after j
// was accepted: j then neither resumes nor stores a session.
func (o *Orchestrator) resetSince(j *job) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	at, ok := o.resets[conversationKey(j.msg)]
	return ok && at.After(j.accepted)
}

// model is the model override for engine in m's chat: the one chosen with
// /model, else the config's.
func (o *Orchestrator) model(m Message, engine string) string {
	if o.opts.Chats != nil {
		if model, ok := o.opts.Chats.Model(chatKey(m), engine); ok {
			return model
		}
	}
	return o.opts.Models[engine]
}

// sandboxError is the chat text for a run that could not start.
func sandboxError(err error, image, engine string) string {
	var limits *sandbox.LimitsError
	switch {
	case errors.As(err, &limits):
		return fmt.Sprintf("Not run: the sandbox cannot enforce this run's memory and pids limits (%s), and the bridge never runs an agent without them. The host's admin sees the fix with `untether doctor`.", limits.Reason)
	case errors.Is(err, sandbox.ErrImageNotFound):
		return fmt.Sprintf("The %s image %s is missing. Build it on the host with `untether images build %s`.", engine, image, engine)
	case errors.Is(err, sandbox.ErrEngineNotFound):
		return fmt.Sprintf("The %s CLI is not installed on the bridge's host (sandbox = \"process\"): install it there, or use the podman backend.", engine)
	case errors.Is(err, sandbox.ErrUnavailable):
		return "Podman is not reachable, so this run could not be carried out. The bridge keeps running; try again once Podman is back."
	case errors.Is(err, context.Canceled):
		return "Stopped: the bridge is shutting down. Send the message again in a moment."
	}
	return "The run's container could not be started."
}

func failure(j *job, msg string) engines.Completed {
	return engines.Completed{OK: false, Error: msg}
}

// spec builds the container spec of j.
func (o *Orchestrator) spec(j *job, inv engines.Invocation) (sandbox.Spec, error) {
	eng := j.engine.Name()
	image := j.project.Images[eng]
	if image == "" {
		return sandbox.Spec{}, fmt.Errorf("No container image is configured for %s.", eng)
	}
	env := maps.Clone(inv.Env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, o.opts.EngineEnv[eng])
	env["HOME"] = sandbox.HomeDir
	labels := map[string]string{
		sandbox.LabelInstance: o.opts.Instance,
		sandbox.LabelProject:  j.project.Name,
		sandbox.LabelEngine:   eng,
		sandbox.LabelRun:      j.id,
		sandbox.LabelChat:     strconv.FormatInt(j.msg.ChatID, 10),
	}
	if j.msg.ThreadID != 0 {
		labels[sandbox.LabelTopic] = strconv.FormatInt(j.msg.ThreadID, 10)
	}
	return sandbox.Spec{
		Name:    fmt.Sprintf("untether-%s-%s", o.opts.Instance, j.id),
		Image:   image,
		Argv:    inv.Argv,
		Env:     env,
		Workdir: sandbox.WorkspaceDir,
		Mounts:  []sandbox.Mount{{Source: j.project.Path, Target: sandbox.WorkspaceDir}},
		Volumes: []sandbox.Volume{{
			Name:   fmt.Sprintf("untether-%s-%s-%s-home", o.opts.Instance, j.project.Name, eng),
			Target: sandbox.HomeDir,
		}},
		Network:   j.project.Network,
		Limits:    j.project.Limits,
		Labels:    labels,
		StopGrace: o.opts.StopGrace,
		Keep:      o.opts.Runs != nil && o.opts.Reattacher != nil,
		Stdin:     inv.Stdin,
	}, nil
}

// finish sends the final answer as a reply, deletes the progress message,
// then forgets the run's record and container. The answer's parts are
// recorded first, so that a bridge that dies while sending them delivers
// the rest after its restart.
func (o *Orchestrator) finish(j *job, p *progress, c engines.Completed, log *slog.Logger) {
	texts := o.finalTexts(j, p, c)
	o.mu.Lock()
	j.final, j.delivering = texts, true
	o.mu.Unlock()
	o.record(j)
	o.deliver(j, p, log)
}

// deliver sends the parts of j's final answer not sent yet, recording each
// one sent, then deletes the progress message and forgets the run. When
// the answer cannot be delivered, the progress message is kept and says
// so. p is nil for a run restored after it ended.
func (o *Orchestrator) deliver(j *job, p *progress, log *slog.Logger) {
	for i := j.delivered; i < len(j.final); i++ {
		err := o.sendPartPatiently(j, i, log)
		if err != nil && o.opts.Runs != nil && o.ctx.Err() != nil {
			// The bridge stops: the record keeps the rest for the next one.
			log.Warn("final answer left for the next start", "part", i+1, "err", err)
			return
		}
		if err != nil {
			log.Error("send final answer", "part", i+1, "err", err)
			o.undelivered(j, p, log)
			o.forget(j, log)
			return
		}
		o.mu.Lock()
		j.delivered = i + 1
		o.mu.Unlock()
		o.record(j)
	}
	if j.progressID != 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), sendTimeout)
		defer cancel()
		if err := o.opts.Chat.Delete(ctx, j.msg.ChatID, j.progressID); err != nil {
			log.Warn("delete progress message", "err", err)
		}
	}
	o.forget(j, log)
}

// deliverPatience is how long a final answer's part is tried while the
// chat service fails in ways that may pass (outages, flood waits, a queue
// slowed by them): an answer is not given up for a passing outage.
const deliverPatience = 15 * time.Minute

// sendPartPatiently sends part i of j's final answer, trying again with
// growing pauses while the failure may pass, for up to deliverPatience and
// while the bridge runs. A refusal (ErrRefused) ends it at once.
func (o *Orchestrator) sendPartPatiently(j *job, i int, log *slog.Logger) error {
	start := time.Now()
	pause := o.deliverPause
	for {
		err := o.sendPart(j, i, log)
		if err == nil || errors.Is(err, ErrRefused) || time.Since(start)+pause > deliverPatience {
			return err
		}
		log.Warn("send final answer; trying again", "part", i+1, "in", pause, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-o.ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, time.Minute)
	}
}

// sendPart sends part i of j's final answer; formatting Telegram refuses
// does not cost the answer: the part then goes as plain text.
func (o *Orchestrator) sendPart(j *job, i int, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), sendTimeout)
	defer cancel()
	t := j.final[i]
	out := Outgoing{ChatID: j.msg.ChatID, ThreadID: j.msg.ThreadID, ReplyTo: j.msg.MessageID, Text: t}
	_, err := o.opts.Chat.Send(ctx, out)
	if err == nil || len(t.Entities) == 0 || ctx.Err() != nil || o.ctx.Err() != nil {
		return err
	}
	log.Warn("send final answer; retrying without formatting", "part", i+1, "err", err)
	out.Text.Entities = nil
	_, err = o.opts.Chat.Send(ctx, out)
	return err
}

// undelivered tells the user, on the progress message where they wait,
// that the answer could not be sent.
func (o *Orchestrator) undelivered(j *job, p *progress, log *slog.Logger) {
	if j.progressID == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), sendTimeout)
	defer cancel()
	note := fmt.Sprintf("✗ The answer could not be delivered: Telegram refused it. Ask again, or look for run %s in the bridge's log.", j.id)
	t := plainText(note)
	if p != nil {
		p.mu.Lock()
		p.note = note
		p.mu.Unlock()
		t = p.render()
	}
	if err := o.opts.Chat.Edit(ctx, j.msg.ChatID, j.progressID, t, nil); err != nil {
		log.Warn("edit progress message", "err", err)
	}
}

// formatBytes prints a size in binary units, as limits are configured.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	v := float64(n) / unit
	i := 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
