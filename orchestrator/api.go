package orchestrator

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/sandbox"
)

// The vocabulary the core shares with its adapters: the messages in and
// out, the interfaces it consumes, and its Options.

// Message is an incoming chat message, already decoded by the transport.
type Message struct {
	UpdateID  int64
	ChatID    int64
	ThreadID  int64
	MessageID int64
	UserID    int64
	Private   bool
	Text      string
	// Sent is when the user sent the message (Telegram's date), zero when
	// unknown.
	Sent time.Time
	// ReplyToID and ReplyToText are the message this one replies to, if
	// any (0 and "" otherwise).
	ReplyToID   int64
	ReplyToText string
	// ReplyToBot is the username of the bot whose message this one
	// replies to, "" when it replies to a person or to nothing.
	ReplyToBot string
	// CallbackID is set when this is a press of an inline button: MessageID
	// is then the message that holds the button, CallbackData its data,
	// and Text is empty. The press must be answered with
	// Chat.AnswerCallback.
	CallbackID   string
	CallbackData string
	// Files are the files the message carries; Text is then its caption.
	Files []Attachment
	// MediaGroup names the album the message belongs to, "" for none. An
	// album comes as one message per file, sharing MediaGroup; the caption
	// is on one of them (usually the first).
	MediaGroup string
	// StoppedDraft is set when the user stopped the draft with this ID
	// (the Stop button under a streamed answer, see Drafter): the run
	// showing it is cancelled as /cancel would. Text is then empty.
	StoppedDraft int64
}

// Attachment is a file that came with a message.
type Attachment struct {
	Kind string // AttachDocument, AttachPhoto, AttachVoice or AttachAudio
	// FileID is the transport's handle of the file, for Files.Download.
	FileID string
	// Name is the sender's file name; "" when it has none (photos, voice
	// notes).
	Name string
	MIME string
	// Size is the size the chat service reported; 0 when unknown.
	Size int64
}

// Kinds of Attachment. A photo is its largest size.
const (
	AttachDocument = "document"
	AttachPhoto    = "photo"
	AttachVoice    = "voice"
	AttachAudio    = "audio"
)

// OutgoingFile is a file to send.
type OutgoingFile struct {
	ChatID   int64
	ThreadID int64
	ReplyTo  int64
	// Path is the file on disk, opened (perhaps more than once) while
	// SendFile runs; Name is the file name the chat shows.
	Path string
	Name string
	// Photo sends it as a picture instead of a document.
	Photo bool
	// Caption is plain text shown under the file; "" for none.
	Caption string
}

// ErrTooBig marks a file over a size limit of the chat service or the
// bridge; the error's text names the limit.
var ErrTooBig = errors.New("file too big")

// Files is implemented by a Chat that moves files: with it users send
// files to their projects and get files back.
type Files interface {
	// Download writes the file with the transport's fileID to w. A file
	// larger than max bytes (by the size the service reports, or by the
	// bytes that come) is refused with an error wrapping ErrTooBig.
	Download(ctx context.Context, fileID string, max int64, w io.Writer) (int64, error)
	// SendFile uploads f and returns its message id once it is sent, in
	// order with the chat's other sends. Errors wrap ErrRefused (or
	// ErrTooBig) when trying again cannot help.
	SendFile(ctx context.Context, f OutgoingFile) (messageID int64, err error)
}

// Transcriber turns speech into text. Safe for concurrent use.
type Transcriber interface {
	// Transcribe returns what is said in audio, a file named name (its
	// extension tells the format, e.g. "voice.ogg").
	Transcribe(ctx context.Context, audio io.Reader, name string) (string, error)
}

// Button is an inline button under a message; Data comes back in
// Message.CallbackData when it is pressed (at most 64 bytes).
type Button struct {
	Text string
	Data string
}

// Command is an entry of the bot's command menu.
type Command struct {
	Name        string // without the slash
	Description string
}

// Outgoing is a message to send.
type Outgoing struct {
	ChatID   int64
	ThreadID int64
	// ReplyTo is the message answered; 0 for none.
	ReplyTo int64
	Text    Text
	// Buttons is one row of inline buttons; nil for none.
	Buttons []Button
}

// ErrRefused marks a write the chat service refused for good (a bad
// request, a chat the bot may not write to): trying it again as it is
// cannot succeed. Other errors (outages, timeouts) may pass.
var ErrRefused = errors.New("refused by the chat service")

// Chat is the transport the orchestrator writes to. Implementations pace
// and retry on their own. Safe for concurrent use.
type Chat interface {
	// Send delivers a message and returns its id once it is sent; an error
	// means it could not be delivered, and wraps ErrRefused when trying
	// again cannot help. Sends to one chat arrive in the order Send was
	// called.
	Send(ctx context.Context, m Outgoing) (messageID int64, err error)
	// Edit replaces a message's text and buttons (nil buttons removes
	// them). It may return before the edit is made: a later Edit of the
	// same message replaces a pending one, a Delete drops it, and errors of
	// a deferred edit are the transport's to log. An edit to the same text
	// succeeds.
	Edit(ctx context.Context, chatID, messageID int64, t Text, buttons []Button) error
	// Delete deletes a message and returns once it is deleted (or could
	// not be).
	Delete(ctx context.Context, chatID, messageID int64) error
	// AnswerCallback acknowledges a button press at once, ahead of any
	// queued write; text, if not empty, is shown to the presser. It must
	// not block the caller on the network (Handle runs in the poll loop):
	// a transport may answer from its own goroutine and log failures
	// there, returning an error only when it cannot take the answer.
	AnswerCallback(ctx context.Context, callbackID, text string) error
}

// Draft is an answer being written, shown in a private chat while its run
// goes on; the final answer is sent as a message all the same.
type Draft struct {
	ChatID, ThreadID int64
	// ID names the draft in its chat, non-zero: the drafts of one ID are
	// the same message being written.
	ID   int64
	Text Text
}

// ErrNoDrafts is returned by Drafter.Draft when drafts cannot be shown: off
// in the config, or refused by the chat service. The caller stops drafting.
var ErrNoDrafts = errors.New("drafts are off")

// Drafter is implemented by a Chat that can show an answer while it is
// written, in private chats only. The user may stop a draft: a Message with
// StoppedDraft then comes.
type Drafter interface {
	// Draft shows d in place of the draft of the same ID. It returns at
	// once: the transport paces drafts within the chat's limits, and a
	// newer draft replaces a pending one (newest wins). Errors of a
	// deferred draft are the transport's to log. It fails with ErrNoDrafts
	// when drafts cannot be shown.
	Draft(ctx context.Context, d Draft) error
}

// Sandbox runs one session. See sandbox/podman.Runner.Run for the contract:
// onLine gets stdout lines in order from one goroutine; a failed engine is a
// Result, an error means the run could not be carried out.
type Sandbox interface {
	Run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error)
}

// SessionStore keeps the resume token of each conversation across restarts.
// Safe for concurrent use.
type SessionStore interface {
	Get(key string) (engine, resume string, ok bool)
	Put(key, engine, resume string) error
	// Delete forgets key; deleting an absent key succeeds.
	Delete(key string) error
}

// ChatStore keeps per-chat settings (the engine chosen with /agent, the
// models chosen with /model) across restarts. Safe for concurrent use.
type ChatStore interface {
	Engine(key string) (engine string, ok bool)
	SetEngine(key, engine string) error
	Model(key, engine string) (model string, ok bool)
	// SetModel records a model for engine; "" forgets the choice.
	SetModel(key, engine, model string) error
	// Setting returns a chat's setting (SettingApprovals, SettingPlanMode).
	Setting(key, name string) (value string, ok bool)
	// SetSetting records a chat's setting; "" forgets it.
	SetSetting(key, name, value string) error
}

// Chat settings kept by a ChatStore.
const (
	SettingApprovals = "approvals" // "on" or "off"
	SettingPlanMode  = "plan_mode" // PlanOff, PlanOn or PlanAuto
	SettingListen    = "listen"    // ListenAll or ListenMentions (groups)
)

// ContainerLister reports the instance's containers with their memory and
// CPU use, for /status. Safe for concurrent use.
type ContainerLister interface {
	Containers(ctx context.Context, instance string) ([]sandbox.Container, error)
}

// UsageReader reports what a run's container uses while its run lasts
// (see sandbox/podman.Runner.Usage), for a stalled run's notice; ok is
// false when it cannot tell. Safe for concurrent use.
type UsageReader interface {
	Usage(container string) (u sandbox.Usage, ok bool)
}

// Warmer makes a container ahead for runs like spec (warm start, see
// sandbox/podman.Runner.Warm): spec has only the parts no session decides.
// It returns at once. Safe for concurrent use.
type Warmer interface {
	Warm(ctx context.Context, spec sandbox.Spec) error
}

// Project is a directory routed from a chat.
type Project struct {
	Name   string
	Path   string
	ChatID int64
	// TopicID, when set, routes only that forum topic of ChatID here.
	TopicID       int64
	DefaultEngine string
	Limits        sandbox.Limits
	Network       string
	// Images maps an engine name to its container image.
	Images map[string]string
	// Approvals runs the engines that can ask (engines.Interactive) in
	// their interactive protocol: they ask before they act. A chat's
	// /approvals overrides it.
	Approvals bool
	// PlanMode is PlanOff, PlanOn or PlanAuto; a chat's /planmode
	// overrides it.
	PlanMode string
	// WorktreesDir is where @branch runs get their worktrees, relative to
	// Path ("" means ".worktrees"); WorktreeBase is what a new branch
	// starts from ("" lets Workspaces choose).
	WorktreesDir string
	WorktreeBase string
	// Hosts are the sandbox hosts its runs may go to (sandbox.Placement);
	// nil means any. Remote is set when one of them does not share the
	// bridge's files: Path is then not where its runs work, and the
	// features that touch project files from the bridge (uploads, /file,
	// the outbox, @branch worktrees) are refused.
	Hosts  []string
	Remote bool
}

// Timers keeps the runs users schedule with /at, across restarts; when one
// is due, its keeper starts it with Orchestrator.Trigger. Safe for
// concurrent use.
type Timers interface {
	// Add schedules t and returns it with its ID, small and unique in its
	// chat or topic.
	Add(t Timer) (Timer, error)
	// List returns the pending timers of a chat or topic, soonest first.
	List(chatID, threadID int64) []Timer
	// Cancel cancels timer id of a chat or topic; false when there is none.
	Cancel(chatID, threadID int64, id int) bool
	// CancelReply cancels the timer of a chat that answers message
	// messageID (its ReplyTo) and returns its ID; false when there is none.
	CancelReply(chatID, messageID int64) (id int, ok bool)
}

// Timer is a run scheduled with /at.
type Timer struct {
	ID       int
	ChatID   int64
	ThreadID int64
	UserID   int64
	// ReplyTo is the /at message, which the run answers.
	ReplyTo int64
	Project string
	Engine  string
	Branch  string
	Prompt  string
	Due     time.Time
	Created time.Time
}

// Trigger is a run that no chat message started: a timer, a cron job or a
// webhook call. Its run answers a message the bridge posts in ChatID
// first ("⏰ …", "⚡ webhook …"), or ReplyTo when set.
type Trigger struct {
	// Kind and ID name it for users and logs: "at", "cron", "webhook".
	Kind string
	ID   string
	// Project is required; Engine and Branch are optional.
	Project string
	Engine  string
	Branch  string
	Prompt  string
	// ChatID and ThreadID default to the project's chat and topic.
	ChatID   int64
	ThreadID int64
	// UserID is who scheduled it, 0 for none (cron, webhook).
	UserID  int64
	ReplyTo int64
}

// Workspaces gives runs a git worktree per branch, so that sessions on
// different branches of one repository cannot touch each other's files.
// Safe for concurrent use.
type Workspaces interface {
	// Worktree returns the worktree of branch in project p, creating it
	// when missing. Its error is a sentence for the user.
	Worktree(ctx context.Context, p Project, branch string) (Workspace, error)
}

// Workspace is a run's folder: Path is mounted at /workspace, and Mounts
// are what else the container needs (a worktree's git directory, at the
// path its .git file names).
type Workspace struct {
	Path   string
	Mounts []sandbox.Mount
}

// What a group's plain messages start (/listen).
const (
	ListenAll      = "all"
	ListenMentions = "mentions" // only a mention, a reply to the bot, or a directive
)

// Plan modes.
const (
	PlanOff  = "off"
	PlanOn   = "on"   // the agent proposes a plan and waits for Approve
	PlanAuto = "auto" // the plan is shown and the agent goes on
)

// Session modes.
const (
	SessionChat      = "chat"
	SessionStateless = "stateless"
)

// Options configure an Orchestrator.
type Options struct {
	Instance       string
	Projects       []Project
	DefaultEngine  string
	DefaultProject string
	AllowedUsers   []int64
	SessionMode    string
	ShowResumeLine bool
	// Models maps an engine name to a model override.
	Models map[string]string
	// ExtraArgs maps an engine name to the user's extra flags, already
	// checked with the engine's CheckExtraArgs.
	ExtraArgs map[string][]string
	// EngineEnv maps an engine name to environment (credentials, base
	// URLs) given to that engine's containers only. Never logged.
	EngineEnv map[string]map[string]string
	StopGrace time.Duration
	// Render turns an agent's Markdown answer into message bodies of at
	// most maxUnits UTF-16 units each (see orchestrator/render). Nil sends
	// answers as plain text.
	Render func(markdown string, maxUnits int) []Text
	// ProgressInterval is the least time between two edits of a progress
	// message; 0 means 2 s.
	ProgressInterval time.Duration
	// MaxConcurrentRuns is how many runs may be in their containers at
	// once, across all sessions; runs past it wait for a free slot in the
	// order they reached it. 0 means no cap.
	MaxConcurrentRuns int
	// MissedAfter is the age past which a message (one that waited while
	// the bridge was down) is answered "missed while offline" instead of
	// being run; 0 runs every message.
	MissedAfter time.Duration
	// ApprovalTimeout is how long a request of an agent waits for its
	// answer before it is denied; 0 means 10 minutes.
	ApprovalTimeout time.Duration
	// Files configures files in and out; the zero value takes the
	// defaults. They work when Chat also implements Files.
	Files FileOptions
	// Workspaces is optional: without it @branch is refused.
	Workspaces Workspaces
	// Timers is optional: without it /at is refused.
	Timers Timers
	// Transcriber is optional: without it a voice note is answered with
	// how to turn transcription on.
	Transcriber Transcriber
	// TranscriptPrefix starts the message that shows a voice note's
	// transcript; "" means "🎙 ". HideTranscript sends none (the
	// transcript still runs).
	TranscriptPrefix string
	HideTranscript   bool
	// Version is shown by /help.
	Version string
	// BotUsername is this bot's username: a message whose first word is
	// a command addressed to another bot ("/cancel@other_bot") is not for
	// this one. Empty accepts every address.
	BotUsername string

	Engines  map[string]engines.Engine
	Chat     Chat
	Sandbox  Sandbox
	Sessions SessionStore
	// Chats is optional: without it /agent and /model cannot change a
	// chat's settings.
	Chats ChatStore
	// Containers is optional: without it /status shows no memory or CPU.
	Containers ContainerLister
	// Usage is optional: without it a stalled run's notice shows no CPU
	// or memory.
	Usage UsageReader
	// Warmer is optional: with it, Warm has a container made ahead for
	// each project's default engine.
	Warmer Warmer
	// StallAfter is how long a run's engine may be silent before its
	// progress message says so (three times as long while a command or
	// tool runs); 0 means 5 minutes, negative never.
	StallAfter time.Duration
	// HideUsage leaves the resource footer (peak memory, CPU time, wall
	// time of the run's container) out of final answers.
	HideUsage bool
	// Runs is optional: it keeps the records of the runs in flight, so a
	// restart loses no accepted message (see Restore).
	Runs RunStore
	// Reattacher is optional: with Runs and Drain = DrainDetach, runs
	// outlive a restart and the next bridge reattaches to them.
	Reattacher Reattacher
	// Drain is the policy of Drain: DrainDetach (default), DrainWait or
	// DrainKill. Detach without a Reattacher acts as DrainKill.
	Drain  string
	Logger *slog.Logger

	// Ledger is optional: it keeps every finished run's cost (see
	// CostLedger); without it the day budgets, /usage and /stats are off.
	Ledger CostLedger
	// Budgets are what runs may cost; the zero value has no budget.
	Budgets Budgets
}

// FileOptions configure files in and out of projects.
type FileOptions struct {
	// Disabled refuses uploads, /file and the outbox.
	Disabled bool
	// UploadsDir is where files sent without a path are saved, relative
	// to the project; "" means "incoming".
	UploadsDir string
	// DenyGlobs are project paths neither /file get nor put may touch
	// (doublestar globs, matched against slash-separated paths relative
	// to the project); nil means DefaultDenyGlobs.
	DenyGlobs []string
	// MaxDownload is the largest file taken from the chat, MaxUpload the
	// largest sent to it; 0 means the Bot API's 20 MiB and 50 MiB.
	MaxDownload int64
	MaxUpload   int64
	// Owner, when set, owns the files and folders the bridge writes into
	// projects, so the container's user can change them (rootful Podman
	// runs the agent as the image's user). Nil leaves them the bridge's.
	Owner *FileOwner
}

// FileOwner is a numeric owner of files.
type FileOwner struct{ UID, GID int }

// DefaultDenyGlobs are the paths /file refuses by default.
var DefaultDenyGlobs = []string{".git/**", ".env*", "**/.env*", "**/*.pem", "**/id_*"}

// Bot API limits on files.
const (
	BotAPIMaxDownload = 20 << 20
	BotAPIMaxUpload   = 50 << 20
	// LocalBotAPIMax is the most a local Bot API server takes either way.
	LocalBotAPIMax = 2000 << 20
)
