package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// directivePrefix starts a directive token in a prompt. Directives are
// whitespace-separated tokens, fake:NAME or fake:NAME=VALUE, anywhere in the
// prompt; several combine. A token that starts with the prefix but names no
// directive is an error, so a typo in a test fails loudly instead of
// replaying the default stream.
const directivePrefix = "fake:"

// maxForkbomb caps fake:forkbomb's attempts, so that a host without a pids
// limit is slowed down, not brought down.
const maxForkbomb = 100000

// maxAnswerBytes keeps fake:answer-bytes within what a test can mean.
const maxAnswerBytes = 64 << 20

// directives is what a prompt asks of the fake, beyond the default replay.
//
// After the captured stderr and the stream's first line (the one that
// announces the session: system/init, thread.started, init, session, ...),
// a run does, in order: write and probe, start spinning, forkbomb, sleep,
// then oom (never returns) or exit (returns N), then replays the rest of the
// stream with delay and garbage between lines. The directives work the same
// for every engine; answer and answer-bytes put the answer where that
// engine's stream carries it, and stream streams it in pieces, the way that
// engine's stream carries an answer as it is written (for the engines that
// can: claude, gemini and pi).
type directives struct {
	caseName    string        // case=NAME: replay NAME.jsonl
	delay       time.Duration // delay=DUR: between replayed lines
	sleep       time.Duration // sleep=DUR: after the first line
	oom         bool          // oom: allocate after the first line until killed
	childOOM    bool          // child-oom: a child allocates until killed; the run goes on (misbehave.go)
	exit        bool          // exit=N: crash after the first line
	exitCode    int
	garbage     bool          // garbage: non-JSON lines between replayed lines
	cut         bool          // cut: the last line stops halfway, no newline, exit 1
	ignoreTerm  bool          // ignore-term: SIGTERM does nothing
	spin        bool          // spin: busy-loop on every CPU while the run lasts
	forkbomb    int           // forkbomb[=N]: start up to N copies of itself
	answer      *string       // answer=TEXT_WITH_UNDERSCORES: the final answer
	answerBytes int           // answer-bytes=N: a final answer of N bytes
	answerFile  string        // answer-file=NAME: the final answer is file NAME's text
	writes      []string      // write=NAME: create NAME (and its folder) containing "hello\n"
	probe       bool          // probe: write .fakeengine-probe.json
	session     string        // session=ID|random: a new run's session id
	pieces      int           // stream=N: the final answer in N streamed pieces
	pieceGap    time.Duration // stream-gap=DUR: before each piece; 0 is defaultPieceGap
	hog         int           // hog=N: hold N MiB, touched, for hogHold, then answer (hog.go)

	usage usageDirectives // cost, usage-stream (usage.go)
}

// maxPieces bounds fake:stream.
const maxPieces = 1000

// defaultPieceGap is the time between the pieces of a streamed answer.
const defaultPieceGap = time.Second

// parseDirectives finds the directives in prompt. It reports every bad
// directive at once.
func parseDirectives(prompt string) (directives, error) {
	d := directives{answerBytes: -1}
	var errs []error
	for _, tok := range strings.Fields(prompt) {
		rest, ok := strings.CutPrefix(tok, directivePrefix)
		if !ok {
			continue
		}
		if err := d.set(rest); err != nil {
			errs = append(errs, fmt.Errorf("directive %s: %w", tok, err))
		}
	}
	if n := btoi(d.answer != nil) + btoi(d.answerBytes >= 0) + btoi(d.answerFile != ""); n > 1 {
		errs = append(errs, errors.New("directives fake:answer, fake:answer-bytes and fake:answer-file exclude each other"))
	}
	return d, errors.Join(errs...)
}

func (d *directives) set(directive string) error {
	name, value, hasValue := strings.Cut(directive, "=")
	need := func() error {
		if !hasValue {
			return errors.New("needs a value (NAME=VALUE)")
		}
		return nil
	}
	flag := func(b *bool) error {
		if hasValue {
			return errors.New("takes no value")
		}
		*b = true
		return nil
	}
	switch name {
	case "case":
		if err := need(); err != nil {
			return err
		}
		if value == "" || strings.ContainsAny(value, `/\.`) {
			return fmt.Errorf("bad case name %q", value)
		}
		d.caseName = value
	case "delay":
		return parseDuration(value, hasValue, &d.delay)
	case "sleep":
		return parseDuration(value, hasValue, &d.sleep)
	case "exit":
		if err := need(); err != nil {
			return err
		}
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 255 {
			return fmt.Errorf("exit status %q is not in 0..255", value)
		}
		d.exit, d.exitCode = true, n
	case "forkbomb":
		d.forkbomb = maxForkbomb
		if hasValue {
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 || n > maxForkbomb {
				return fmt.Errorf("attempts %q is not in 1..%d", value, maxForkbomb)
			}
			d.forkbomb = n
		}
	case "answer":
		if err := need(); err != nil {
			return err
		}
		text := strings.ReplaceAll(value, "_", " ")
		d.answer = &text
	case "answer-bytes":
		if err := need(); err != nil {
			return err
		}
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > maxAnswerBytes {
			return fmt.Errorf("size %q is not in 0..%d", value, maxAnswerBytes)
		}
		d.answerBytes = n
	case "answer-file":
		if err := need(); err != nil {
			return err
		}
		if value == "" || strings.ContainsAny(value, `/\`) {
			return fmt.Errorf("bad file name %q: a file in the working directory", value)
		}
		d.answerFile = value
	case "write":
		if err := need(); err != nil {
			return err
		}
		if value == "" {
			return errors.New("needs a file name")
		}
		d.writes = append(d.writes, value)
	case "session":
		if err := need(); err != nil {
			return err
		}
		if !validSessionID(value) {
			return fmt.Errorf("bad session id %q", value)
		}
		d.session = value
	case "stream":
		if err := need(); err != nil {
			return err
		}
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > maxPieces {
			return fmt.Errorf("pieces %q is not in 1..%d", value, maxPieces)
		}
		d.pieces = n
	case "stream-gap":
		if err := parseDuration(value, hasValue, &d.pieceGap); err != nil {
			return err
		}
		if d.pieceGap == 0 {
			return errors.New("needs a duration above 0")
		}
	case "hog":
		return parseHog(value, hasValue, &d.hog)
	case "oom":
		return flag(&d.oom)
	case "child-oom":
		return flag(&d.childOOM)
	case "garbage":
		return flag(&d.garbage)
	case "cut":
		return flag(&d.cut)
	case "ignore-term":
		return flag(&d.ignoreTerm)
	case "spin":
		return flag(&d.spin)
	case "probe":
		return flag(&d.probe)
	default:
		if handled, err := d.usage.set(name, value, hasValue); handled {
			return err
		}
		return errors.New("unknown directive (known: case, delay, sleep, oom, child-oom, exit, garbage, cut, ignore-term, spin, forkbomb, answer, answer-bytes, answer-file, write, probe, session, stream, stream-gap, cost, usage-stream, hog)")
	}
	return nil
}

func parseDuration(value string, hasValue bool, dst *time.Duration) error {
	if !hasValue {
		return errors.New("needs a duration (NAME=1s)")
	}
	v, err := time.ParseDuration(value)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("negative duration %s", value)
	}
	*dst = v
	return nil
}

// gap is the time before each piece of a streamed answer.
func (d directives) gap() time.Duration {
	if d.pieceGap > 0 {
		return d.pieceGap
	}
	return defaultPieceGap
}

// finalAnswer returns the answer the directives ask for, if any. An
// answer file that cannot be read becomes an answer saying so.
func (d directives) finalAnswer() (string, bool) {
	switch {
	case d.answer != nil:
		return *d.answer, true
	case d.answerBytes >= 0:
		return lorem(d.answerBytes), true
	case d.answerFile != "":
		data, err := os.ReadFile(d.answerFile)
		if err != nil {
			return fmt.Sprintf("fake: answer-file: %v", err), true
		}
		return string(data), true
	}
	return "", false
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lorem returns n bytes of ASCII filler text.
func lorem(n int) string {
	const text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor " +
		"incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud " +
		"exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.\n"
	return strings.Repeat(text, n/len(text)+1)[:n]
}
