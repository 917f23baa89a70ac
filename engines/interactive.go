package engines

// Interactive is implemented by engines that can ask the user while they
// run: may a tool run, which option the user picks, is the plan good. Such
// an engine runs in its interactive protocol (Claude's control protocol,
// Codex's app-server, ACP) over a stdin that stays open for the whole run,
// instead of the one-shot invocation of Engine.Invocation.
//
// Engines without a permission channel (Pi, AMP) do not implement it.
type Interactive interface {
	Engine
	// Session builds the invocation of an interactive run for req and the
	// Protocol that speaks to it. The invocation's Stdin is nil: what goes
	// to stdin comes from the Protocol.
	Session(req Request, opts SessionOptions) (Invocation, Protocol, error)
	// Asks says what this engine can ask, for /help and the docs.
	Asks() AskSupport
}

// SessionOptions shape an interactive run.
type SessionOptions struct {
	// Plan starts the agent in plan mode, where it proposes a plan (an Ask
	// of AskPlan) before it changes anything. Engines without a plan mode
	// ignore it (see AskSupport.Plan).
	Plan bool
}

// AskSupport says which kinds of Ask an engine can make.
type AskSupport struct {
	Permission bool
	Question   bool
	Plan       bool
	// Always: a permission may be given for the rest of the session.
	Always bool
}

// Protocol speaks to one interactive run over its standard input and
// output. It is pure: it encodes what to write and decodes what was read,
// and does no I/O itself. One goroutine at a time uses it.
//
// A bridge that reattaches to a run left by an earlier one builds the
// Protocol again with the same Session call, calls Open, and decodes the
// run's whole output again from its first line: the Protocol must reach
// the same state and emit the same events and writes as the first time, so
// that the bridge can skip the writes and the answers it knows were made.
type Protocol interface {
	// Open returns what to write to stdin first: a handshake, the prompt,
	// or both.
	Open() ([]byte, error)
	// Decode returns the events carried by one stdout line (without its
	// newline), and what to write to stdin in answer right away (the next
	// step of a handshake, a refusal of a request the bridge does not
	// serve); nil when nothing. A line that cannot be decoded returns an
	// error; callers count it and go on.
	Decode(line []byte) (evs []Event, write []byte, err error)
	// Answer encodes the user's reply to the Ask with this ID. It fails
	// for an ID the protocol never asked, or one it answered already.
	Answer(id string, r Reply) ([]byte, error)
	// Interrupt encodes a graceful stop of the current turn: the agent
	// ends it and the stream then ends with a Completed. Nil when the
	// protocol has none (the process is then stopped).
	Interrupt() []byte
	// Finish is called once after the last line, as Decoder.Finish.
	Finish(exit Exit) []Event
}

// AskKind says what an engine asks of the user.
type AskKind string

const (
	// AskPermission: may this tool call run?
	AskPermission AskKind = "permission"
	// AskQuestion: the agent asks the user to pick an option or answer.
	AskQuestion AskKind = "question"
	// AskPlan: the agent presents a plan and waits for a go-ahead.
	AskPlan AskKind = "plan"
)

// Ask is emitted when the engine waits for the user. The run goes on once
// it is answered through Protocol.Answer; an Ask the run's stream
// withdraws (the turn ended, the agent gave up) is answered no more: see
// Withdrawn.
type Ask struct {
	// ID is the protocol's id for the request, unique in the run and the
	// same when the stream is decoded again.
	ID   string
	Kind AskKind
	// Tool is the tool's name as the engine calls it ("Bash"); Title is a
	// short line for the chat ("Bash", "Edit main.go").
	Tool  string
	Title string
	// Preview is compact: the command; a few -/+ lines of an edit; the
	// first lines of a written file; the plan (Markdown) of AskPlan.
	Preview string
	// Question is the question of AskQuestion, with Options to pick from
	// (none: the answer is free text).
	Question string
	Options  []AskOption
	// Always: the user may allow this for the rest of the session.
	Always bool
}

// AskOption is one choice offered with an Ask.
type AskOption struct {
	// ID is what the protocol needs back (an ACP option id); Label is what
	// the user reads and, for questions, what the agent gets.
	ID          string
	Label       string
	Description string
}

// Withdrawn says the engine no longer waits for the Ask with this ID (it
// was cancelled or answered otherwise); a later answer is refused.
type Withdrawn struct {
	ID string
}

// Reply is the user's answer to an Ask.
type Reply struct {
	// Allow lets the tool run (or the plan go on); false denies it.
	Allow bool
	// Always allows it for the rest of the session (Ask.Always).
	Always bool
	// Stop, with a denial, also ends the agent's turn.
	Stop bool
	// Text is, for a question, the chosen option's label or the user's own
	// words; for a denial, what the agent reads about why.
	Text string
	// Option is the chosen AskOption's ID, when the user picked one.
	Option string
}

func (Ask) isEvent()       {}
func (Withdrawn) isEvent() {}
