package orchestrator

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/untether-go/untether/engines"
)

// finish sends the final answer as a reply, deletes the progress message,
// then forgets the run's record and container. The answer's parts are
// recorded first, so that a bridge that dies while sending them delivers
// the rest after its restart.
func (r *run) finish(p *runProgress, c engines.Completed, log *slog.Logger) {
	s := r.sup
	resumeLine := ""
	if s.opts.ShowResumeLine && c.Resume != "" {
		resumeLine = r.engine.ResumeLine(c.Resume)
	}
	dir := ""
	if r.branch != "" {
		dir = dirLine(r.project.Name, r.branch)
	}
	notes := r.account(c, log)
	if r.killedNote != "" {
		notes = append([]string{r.killedNote}, notes...)
	}
	texts := finalTexts(finalView{
		header: p.view.header(finalState(c)), runID: r.id, dir: dir, resumeLine: resumeLine, render: s.opts.Render,
		notes: notes, hint: r.hint, used: r.used,
	}, c)
	r.setState(stateDelivering)
	s.book.setFinal(r, texts)
	r.deliver(p, log)
}

// deliver sends the parts of r's final answer not sent yet, recording each
// one sent, then deletes the progress message and forgets the run. When
// the answer cannot be delivered, the progress message is kept and says
// so. p is nil for a run restored after it ended.
func (r *run) deliver(p *runProgress, log *slog.Logger) {
	s := r.sup
	r.mu.Lock()
	final, from := r.final, r.delivered
	r.mu.Unlock()
	for i := from; i < len(final); i++ {
		err := r.sendPartPatiently(final[i], i, log)
		if err != nil && s.book.enabled() && s.lt.shuttingDown() {
			// The bridge stops: the record keeps the rest for the next one.
			log.Warn("final answer left for the next start", "part", i+1, "err", err)
			return
		}
		if err != nil {
			log.Error("send final answer", "part", i+1, "err", err)
			r.undelivered(p, log)
			s.book.forget(r, log)
			return
		}
		s.book.setDelivered(r, i+1)
	}
	s.desk.sendOutbox(r, log)
	if id := r.progressMsg(); id != 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.lt.ctx), sendTimeout)
		defer cancel()
		if err := s.opts.Chat.Delete(ctx, r.msg.ChatID, id); err != nil {
			log.Warn("delete progress message", "err", err)
		}
	}
	s.book.forget(r, log)
}

// deliverPatience is how long a final answer's part is tried while the
// chat service fails in ways that may pass (outages, flood waits, a queue
// slowed by them): an answer is not given up for a passing outage.
const deliverPatience = 15 * time.Minute

// sendPartPatiently sends part i, t, of r's final answer, trying again
// with growing pauses while the failure may pass, for up to
// deliverPatience and while the bridge runs. A refusal (ErrRefused) ends
// it at once.
func (r *run) sendPartPatiently(t Text, i int, log *slog.Logger) error {
	s := r.sup
	start := time.Now()
	pause := s.deliverPause
	for {
		err := r.sendPart(t, i, log)
		if err == nil || errors.Is(err, ErrRefused) || time.Since(start)+pause > deliverPatience {
			return err
		}
		log.Warn("send final answer; trying again", "part", i+1, "in", pause, "err", err)
		timer := time.NewTimer(pause)
		select {
		case <-s.lt.ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
		pause = min(2*pause, time.Minute)
	}
}

// sendPart sends part i, t, of r's final answer; formatting Telegram
// refuses does not cost the answer: the part then goes as plain text.
func (r *run) sendPart(t Text, i int, log *slog.Logger) error {
	s := r.sup
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.lt.ctx), sendTimeout)
	defer cancel()
	out := Outgoing{ChatID: r.msg.ChatID, ThreadID: r.msg.ThreadID, ReplyTo: r.msg.MessageID, Text: t}
	_, err := s.opts.Chat.Send(ctx, out)
	if err == nil || len(t.Entities) == 0 || ctx.Err() != nil || s.lt.shuttingDown() {
		return err
	}
	log.Warn("send final answer; retrying without formatting", "part", i+1, "err", err)
	out.Text.Entities = nil
	_, err = s.opts.Chat.Send(ctx, out)
	return err
}

// undelivered tells the user, on the progress message where they wait,
// that the answer could not be sent.
func (r *run) undelivered(p *runProgress, log *slog.Logger) {
	s := r.sup
	id := r.progressMsg()
	if id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.lt.ctx), sendTimeout)
	defer cancel()
	note := undeliveredNote(r.id)
	t := plainText(note)
	if p != nil {
		p.view.setNote(note)
		t = p.view.render()
	}
	if err := s.opts.Chat.Edit(ctx, r.msg.ChatID, id, t, nil); err != nil {
		log.Warn("edit progress message", "err", err)
	}
}
