// Package engines is the vocabulary shared by the coding-agent adapters: what a
// run asks for (Request), how a CLI is invoked (Invocation), and the events its
// stream decodes into (Started, Action, Completed).
//
// It imports only the standard library. Adapters live in engines/<name> and
// must stay pure: they build argv and decode lines, they never exec, touch the
// network or the file system.
package engines

import (
	"time"
)

// Request is what the orchestrator asks of an engine for one run.
type Request struct {
	// Prompt is the user's text, passed to the CLI unchanged.
	Prompt string
	// Resume is the engine's session id to continue; empty starts a new
	// session, unless Continue is set.
	Resume string
	// Continue resumes the engine's latest session in the project (the
	// CLI's own "continue" flag) when Resume is empty.
	Continue bool
	// Images are pictures the prompt refers to (absolute paths inside the
	// container). Adapters whose CLI takes images attach them its own way;
	// the others leave them out: the prompt names the files, which the
	// agent can open.
	Images []string
	// Model overrides the engine's default model when not empty.
	Model string
	// ExtraArgs are the user's own flags from the config, already checked
	// with Engine.CheckExtraArgs; adapters put them where the CLI accepts
	// flags, before the prompt.
	ExtraArgs []string
}

// Invocation is how to start the CLI for a Request. Secrets belong in Env,
// never in Argv.
type Invocation struct {
	Argv []string
	Env  map[string]string
	// Stdin is written to the process's standard input, which is then
	// closed; nil means the process gets no standard input.
	Stdin []byte
}

// Exit describes how the engine process ended, for decoders that must
// synthesize a Completed event when the stream stopped early.
type Exit struct {
	Code       int
	StderrTail string
	// Cause is a short human reason known to the caller (out of memory,
	// timeout, cancelled); empty when the process simply exited.
	Cause string
}

// Decoder turns the lines of one run's stdout into events. A Decoder is used
// by one goroutine and is not safe for concurrent use.
type Decoder interface {
	// Decode returns the events carried by one line (without its newline).
	// A line that cannot be decoded returns an error and no events; callers
	// count it and go on.
	Decode(line []byte) ([]Event, error)
	// Finish is called once after the last line. It returns a Completed
	// event synthesized from exit when the stream produced none, else nil.
	Finish(exit Exit) []Event
}

// Engine adapts one coding-agent CLI. Implementations are stateless and safe
// for concurrent use.
type Engine interface {
	// Name is the engine's config name ("claude").
	Name() string
	// Invocation builds the command line for req.
	Invocation(req Request) (Invocation, error)
	// NewDecoder returns a decoder for one run's stream.
	NewDecoder() Decoder
	// ResumeLine is the command a user copies to continue session id.
	ResumeLine(id string) string
	// ParseResume finds a resume line of this engine in text.
	ParseResume(text string) (id string, ok bool)
	// CheckExtraArgs rejects user flags the bridge owns (output format,
	// resume, headless and permission flags): the error names the flag.
	CheckExtraArgs(args []string) error
}

// Event is one of Started, Action, Text, UsageUpdate or Completed (and,
// in an interactive run, Ask and Withdrawn).
type Event interface{ isEvent() }

// Started is emitted once, as soon as the session id is known.
type Started struct {
	Engine string
	Resume string
	Model  string
	Meta   map[string]string
}

// ActionKind says what an Action did.
type ActionKind string

const (
	KindCommand    ActionKind = "command"
	KindTool       ActionKind = "tool"
	KindFileChange ActionKind = "file_change"
	KindWebSearch  ActionKind = "web_search"
	KindSubagent   ActionKind = "subagent"
	KindNote       ActionKind = "note"
	KindWarning    ActionKind = "warning"
)

// Phase is where an Action is in its life.
type Phase string

const (
	PhaseStarted   Phase = "started"
	PhaseUpdated   Phase = "updated"
	PhaseCompleted Phase = "completed"
)

// Action is a step of the agent: a command, a tool call, a note.
// Events for one action share its ID.
type Action struct {
	ID     string
	Kind   ActionKind
	Title  string
	Detail string
	Phase  Phase
	// OK is meaningful when Phase is PhaseCompleted.
	OK bool
}

// Text is the answer as the engine is writing it: the whole text of the
// agent's current message so far, not a delta. Each Text replaces the one
// before; a message the agent starts after a tool call starts its Text
// afresh. Adapters emit it wherever their stream carries the agent's text
// before the end (streamed deltas, or whole messages between tool calls);
// subagents' and thinking text is left out. It is a preview: the answer is
// Completed.Answer, which Text need not equal.
type Text struct {
	Text string
}

// Usage is what the engine reports about cost; zero values mean unknown.
type Usage struct {
	InputTokens  int64
	OutputTokens int64
	CachedTokens int64
	CostUSD      float64
	Turns        int
	Duration     time.Duration
}

// Completed is emitted exactly once, last.
type Completed struct {
	OK     bool
	Answer string
	Error  string
	Resume string
	Model  string
	Usage  Usage
}

// UsageUpdate is emitted while a run goes, by adapters whose stream
// reports usage as it goes (claude's assistant messages, pi's messages,
// opencode's steps): the run's usage so far, not a delta. Model is the
// model that spent it, "" when unknown. CostUSD is set when the stream
// reports costs, else zero: the orchestrator then estimates it from the
// tokens.
type UsageUpdate struct {
	Model string
	Usage Usage
}

func (Started) isEvent()     {}
func (Text) isEvent()        {}
func (Action) isEvent()      {}
func (Completed) isEvent()   {}
func (UsageUpdate) isEvent() {}

// ContinueSupport is implemented by an engine whose CLI may not continue
// its latest session (Request.Continue); others can.
type ContinueSupport interface {
	// CanContinue reports whether Request.Continue continues the CLI's
	// latest session in the working directory.
	CanContinue() bool
}
