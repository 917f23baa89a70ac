package main

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// engine is what a fake CLI shares with the others once its argv is parsed:
// which captured streams it replays, how they carry the session id and the
// final answer, where the CLI keeps its sessions and how it fails.
type engine struct {
	name      string
	errorExit int            // the CLI's status for usage and runtime errors
	caseExits map[string]int // the CLI's status in each captured case, 0 when absent
	// sessionDir is where the CLI keeps its sessions, under $HOME.
	sessionDir func() (string, error)
	// sessionOf finds the session id a captured stream carries.
	sessionOf func(lines [][]byte) string
	// newSessionID makes an id in the CLI's format, for fake:session=random.
	newSessionID func() string
	// setAnswer replaces the final answer in the CLI's format.
	setAnswer func(s *stream, answer string) error
	// streamAnswer makes the stream carry its final answer in n pieces as
	// it is written (fake:stream), marking their lines paced; nil when the
	// fake cannot stream this CLI's answer.
	streamAnswer func(s *stream, n int) error
	// unknownSession is the CLI's refusal to resume a session it does not
	// have.
	unknownSession func(id string) error
	// noLatest is the CLI's refusal to continue when there is no session to
	// continue; nil means the CLI starts a new session instead.
	noLatest error
	// interrupted returns the status of a run a signal ended; nil means
	// 128+signal.
	interrupted func(p *player, sig int) int
}

// request is a run as the CLI's argv and stdin describe it.
type request struct {
	prompt    string
	resume    string // the session to resume
	last      bool   // continue the latest session of the working directory
	anyDir    bool   // with last: of any directory
	newCase   string // the case a new run replays; "" is basic
	fixedCase bool   // replay newCase for resumed and continued runs too
	format    string // claude's --output-format; "" is stream-json
	ephemeral bool   // keep no session
}

// fail prints what err says the CLI prints and returns its status.
func fail(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprint(os.Stderr, ue.stderr)
		return ue.code
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// fakeError is a complaint of the fake itself, not of the CLI it imitates.
func fakeError(code int, format string, args ...any) error {
	return &usageError{"fakeengine: " + fmt.Sprintf(format, args...) + "\n", code}
}

// cliError is a one-line complaint of the CLI with its status.
func cliError(code int, format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...) + "\n", code}
}

// run replays the run req describes and returns the exit status.
func (e *engine) run(req request) int {
	p, err := e.prepare(req)
	if err != nil {
		return fail(err)
	}
	return p.run()
}

// prepare picks the captured stream for req, applies the answer directives,
// resolves and records the session, and returns the player for the run.
func (e *engine) prepare(req request) (*player, error) {
	d, err := parseDirectives(req.prompt)
	if err != nil {
		return nil, fakeError(exitBadDirective, "%v", err)
	}
	continued := req.resume != "" || req.last
	if continued && d.session != "" {
		return nil, fakeError(exitBadDirective, "directive fake:session is for new runs, not resumed or continued ones")
	}
	dir, err := e.sessionDir()
	if err != nil {
		return nil, fakeError(e.errorExit, "%s: %v", e.name, err)
	}
	st := sessionStore{dir: dir}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fakeError(e.errorExit, "%s: %v", e.name, err)
	}
	id, err := e.continuedSession(req, st, cwd)
	if err != nil {
		return nil, err
	}
	resumed := id != ""
	s, err := loadStream(e, e.pickCase(req, d, resumed))
	if err != nil {
		return nil, fakeError(exitBadDirective, "%v", err)
	}
	if answer, ok := d.finalAnswer(); ok {
		if err := e.setAnswer(&s, answer); err != nil {
			return nil, fakeError(exitBadDirective, "case %s: %v", s.name, err)
		}
	}
	if err := d.usage.apply(e, &s); err != nil {
		return nil, fakeError(exitBadDirective, "case %s: %v", s.name, err)
	}
	if d.pieces > 0 {
		if e.streamAnswer == nil {
			return nil, fakeError(exitBadDirective, "directive fake:stream: %s's answer is not streamed by the fake", e.name)
		}
		if err := e.streamAnswer(&s, d.pieces); err != nil {
			return nil, fakeError(exitBadDirective, "directive fake:stream: case %s: %v", s.name, err)
		}
	}
	switch {
	case id != "":
	case d.session == "random":
		id = e.newSessionID()
	case d.session != "":
		id = d.session
	default:
		id = s.sessionID
	}
	s.setSessionID(id)
	if !req.ephemeral {
		rec := sessionRecord{Time: time.Now().UTC(), Resumed: resumed, Cwd: cwd, Prompt: req.prompt}
		if err := st.save(id, rec); err != nil {
			return nil, fakeError(e.errorExit, "%s: save session: %v", e.name, err)
		}
	}
	format := req.format
	if format == "" {
		format = "stream-json"
	}
	return &player{
		out:         &output{w: os.Stdout, format: format},
		stderr:      os.Stderr,
		stream:      s,
		exitCode:    e.caseExits[s.name],
		errorExit:   e.errorExit,
		d:           d,
		interrupted: e.interrupted,
	}, nil
}

// continuedSession returns the session req resumes or continues, "" for a
// new session. Its errors are the CLI's.
func (e *engine) continuedSession(req request, st sessionStore, cwd string) (string, error) {
	switch {
	case req.resume != "":
		if !st.exists(req.resume) {
			return "", e.unknownSession(req.resume)
		}
		return req.resume, nil
	case req.last:
		in := cwd
		if req.anyDir {
			in = ""
		}
		id, err := st.latest(in)
		if err != nil {
			return "", fakeError(e.errorExit, "%s: find the latest session: %v", e.name, err)
		}
		if id == "" && e.noLatest != nil {
			return "", e.noLatest
		}
		return id, nil
	}
	return "", nil
}

// pickCase returns the captured case a run replays: the one fake:case asks
// for, else resume for a resumed session, continue_last (where captured,
// else resume) for a continued one, else the request's case for a new one.
func (e *engine) pickCase(req request, d directives, continued bool) string {
	switch {
	case d.caseName != "":
		return d.caseName
	case req.fixedCase:
		return req.newCase
	case continued && req.last && hasCase(e.name, "continue_last"):
		return "continue_last"
	case continued:
		return "resume"
	case req.newCase != "":
		return req.newCase
	}
	return "basic"
}
