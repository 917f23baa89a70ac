package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/untether-go/untether/internal/projectfs"
	"github.com/untether-go/untether/internal/units"
	"github.com/untether-go/untether/sandbox"
)

// desk moves files between chats and projects: it saves the files users
// send (and tells the agent about them), sends project files back with
// /file get and from the outbox after a run, and turns voice notes into
// prompts. Downloads, transcriptions and uploads run in goroutines the
// lifetime owns, so Handle never waits for them. Safe for concurrent use.
type desk struct {
	opts    *Options // read-only
	log     *slog.Logger
	lt      *lifetime
	router  *router
	replies replier
	// submit routes and queues a message as Handle does, for the prompt
	// a file or a voice note turns into.
	submit func(ctx context.Context, m Message)

	mu      sync.Mutex
	albums  map[string]*album
	pending map[string][]string // uploads the next prompt is told about, by pendingKey
}

// album gathers the messages of one media group, which Telegram delivers
// one by one.
type album struct {
	parts []Message
	last  time.Time
}

// albumWait is how long after an album's last part the album is taken as
// whole.
const albumWait = 1500 * time.Millisecond

// OutboxDir is the folder of a workspace whose files are sent to the chat
// after each run, then removed.
const OutboxDir = ".untether-outbox"

// maxOutbox is how many outbox files one run sends.
const maxOutbox = 10

// transcribeMax is the largest voice note sent to transcription (the
// OpenAI API's limit).
const transcribeMax = 25 << 20

func newDesk(opts *Options, log *slog.Logger, lt *lifetime, rt *router, replies replier) *desk {
	return &desk{opts: opts, log: log, lt: lt, router: rt, replies: replies, albums: map[string]*album{}, pending: map[string][]string{}}
}

// normalizeFiles fills in the defaults of opts.
func normalizeFiles(f *FileOptions) {
	if f.UploadsDir == "" {
		f.UploadsDir = "incoming"
	}
	if f.DenyGlobs == nil {
		f.DenyGlobs = DefaultDenyGlobs
	}
	if f.MaxDownload <= 0 {
		f.MaxDownload = BotAPIMaxDownload
	}
	if f.MaxUpload <= 0 {
		f.MaxUpload = BotAPIMaxUpload
	}
}

// transport is the Chat's file side; nil when it moves no files.
func (d *desk) transport() Files {
	f, _ := d.opts.Chat.(Files)
	return f
}

// refusal is why files cannot move at all here, "" when they can.
func (d *desk) refusal() string {
	switch {
	case d.opts.Files.Disabled:
		return "Files are turned off for this bridge ([files] enabled = false in its config)."
	case d.transport() == nil:
		return "This bridge's chat transport cannot move files."
	}
	return ""
}

// take handles a message that carries files.
func (d *desk) take(m Message) {
	if m.MediaGroup != "" {
		d.addToAlbum(m)
		return
	}
	if !d.lt.goOwned(func() { d.handle([]Message{m}) }) {
		d.replies.to(m, restarting)
	}
}

// addToAlbum keeps m until its album is whole: albumWait after its last
// part.
func (d *desk) addToAlbum(m Message) {
	key := fmt.Sprintf("%d:%s", m.ChatID, m.MediaGroup)
	d.mu.Lock()
	defer d.mu.Unlock()
	if a := d.albums[key]; a != nil {
		a.parts, a.last = append(a.parts, m), time.Now()
		return
	}
	a := &album{parts: []Message{m}, last: time.Now()}
	d.albums[key] = a
	ok := d.lt.goOwned(func() {
		for {
			d.mu.Lock()
			wait := albumWait - time.Since(a.last)
			if wait <= 0 {
				delete(d.albums, key)
				parts := a.parts
				d.mu.Unlock()
				d.handle(parts)
				return
			}
			d.mu.Unlock()
			select {
			case <-time.After(wait):
			case <-d.lt.ctx.Done():
				d.mu.Lock()
				delete(d.albums, key)
				d.mu.Unlock()
				return
			}
		}
	})
	if !ok {
		delete(d.albums, key)
		d.replies.to(m, restarting)
	}
}

// handle takes the files of one message or album: a voice note becomes a
// prompt; other files are saved in the project, and run with the caption
// as the prompt, or wait for the next prompt without one.
func (d *desk) handle(parts []Message) {
	slices.SortFunc(parts, func(a, b Message) int { return int(a.MessageID - b.MessageID) })
	m := parts[0]
	for _, p := range parts {
		if strings.TrimSpace(p.Text) != "" {
			m.Text = p.Text
			break
		}
	}
	var files []Attachment
	for _, p := range parts {
		files = append(files, p.Files...)
	}
	ctx := d.lt.ctx
	word, rest := cutWord(strings.TrimSpace(m.Text))
	word, _, _ = strings.Cut(word, "@")
	voice := files[0].Kind == AttachVoice || (files[0].Kind == AttachAudio && word == "/voice")
	if voice && len(files) == 1 {
		if word == "/voice" {
			m.Text = strings.TrimSpace(rest)
		}
		d.voice(ctx, m, files[0])
		return
	}
	if why := d.refusal(); why != "" {
		d.replies.to(m, why)
		return
	}
	dirs := d.router.parseDirectives(m.Text)
	p, ok := d.router.contextProject(m, dirs)
	if !ok {
		d.replies.to(m, "This chat is not linked to a project, so there is nowhere to save files. Add its chat_id to a [projects.<name>] table in the config.")
		return
	}
	fsys, ok := d.openFor(m, p)
	if !ok {
		return
	}
	defer fsys.Close()
	if word == "/file" {
		d.put(ctx, m, fsys, files, rest)
		return
	}
	var saved, failed []string
	for i, f := range files {
		rel, err := d.saveNew(ctx, fsys, f, parts[min(i, len(parts)-1)].MessageID)
		if err != nil {
			failed = append(failed, fileFailure(f, err))
			continue
		}
		saved = append(saved, rel)
	}
	if len(failed) > 0 {
		d.replies.to(m, strings.Join(failed, "\n"))
	}
	if len(saved) == 0 {
		return
	}
	if strings.TrimSpace(dirs.prompt) == "" {
		d.mu.Lock()
		k := pendingKey(m, p.Name)
		d.pending[k] = append(d.pending[k], saved...)
		d.mu.Unlock()
		d.replies.to(m, savedText(saved))
		return
	}
	m.Files, m.MediaGroup = nil, ""
	m.Text = strings.TrimRight(m.Text, " \n") + "\n\n" + uploadNotes(saved)
	d.submit(ctx, m)
}

// open opens project p's folder under the file rules.
func (d *desk) open(p Project) (*projectfs.FS, error) {
	var owner *projectfs.Owner
	if o := d.opts.Files.Owner; o != nil {
		owner = &projectfs.Owner{UID: o.UID, GID: o.GID}
	}
	return projectfs.Open(p.Path, d.opts.Files.DenyGlobs, owner)
}

// openFor opens project p's folder for m's request; when it cannot, m is
// told and the log says why.
func (d *desk) openFor(m Message, p Project) (*projectfs.FS, bool) {
	if p.Remote {
		d.replies.to(m, "❌ "+remoteFilesText(p))
		return nil, false
	}
	fsys, err := d.open(p)
	if err != nil {
		d.log.Error("open project folder", "project", p.Name, "err", err)
		d.replies.to(m, fmt.Sprintf("❌ The folder of project %s cannot be opened.", p.Name))
		return nil, false
	}
	return fsys, true
}

// saveNew saves f in the uploads folder under its own name (photos and
// voice notes get one from message id).
func (d *desk) saveNew(ctx context.Context, fsys *projectfs.FS, f Attachment, id int64) (string, error) {
	if err := d.checkSize(f); err != nil {
		return "", err
	}
	var rel string
	err := d.download(ctx, f, d.opts.Files.MaxDownload, func(r io.Reader) error {
		var err error
		rel, _, err = fsys.SaveNew(d.opts.Files.UploadsDir, uploadName(f, id), r, d.opts.Files.MaxDownload)
		return err
	})
	return rel, err
}

// put carries out "/file put [--force] <path>", the caption of a file.
func (d *desk) put(ctx context.Context, m Message, fsys *projectfs.FS, files []Attachment, arg string) {
	sub, rest := cutWord(strings.TrimSpace(arg))
	if sub != "put" {
		d.replies.to(m, "To save a file at a path, send it with the caption /file put <path>. /file get <path> sends a project file.")
		return
	}
	rest = strings.TrimSpace(rest)
	force := false
	if after, ok := strings.CutPrefix(rest, "--force"); ok && (after == "" || after[0] == ' ') {
		force, rest = true, strings.TrimSpace(after)
	}
	if rest == "" {
		d.replies.to(m, "Write where to save it: /file put <path>, e.g. /file put docs/spec.pdf.")
		return
	}
	if len(files) > 1 {
		d.replies.to(m, "/file put saves one file; send the files of an album one by one.")
		return
	}
	f := files[0]
	if strings.HasSuffix(rest, "/") {
		rest += uploadName(f, m.MessageID)
	}
	if _, err := fsys.Clean(rest); err != nil {
		d.replies.to(m, fileFailure(f, err))
		return
	}
	if err := d.checkSize(f); err != nil {
		d.replies.to(m, fileFailure(f, err))
		return
	}
	var rel string
	var n int64
	err := d.download(ctx, f, d.opts.Files.MaxDownload, func(r io.Reader) error {
		var err error
		rel, n, err = fsys.Save(rest, r, d.opts.Files.MaxDownload, force)
		return err
	})
	if err != nil {
		d.replies.to(m, fileFailure(f, err))
		return
	}
	d.replies.to(m, fmt.Sprintf("📎 Saved %s (%s).", rel, units.Bytes(n)))
}

// checkSize refuses f, before any download, when its reported size is over
// the limit.
func (d *desk) checkSize(f Attachment) error {
	if max := d.opts.Files.MaxDownload; f.Size > max {
		return fmt.Errorf("%w: the file is %s; the bridge takes files up to %s", ErrTooBig, units.Bytes(f.Size), units.Bytes(max))
	}
	return nil
}

// download fetches f into a temporary file (so that a download that fails
// half-way leaves nothing in the project), then lets save read it.
func (d *desk) download(ctx context.Context, f Attachment, max int64, save func(io.Reader) error) error {
	tmp, err := os.CreateTemp("", "untether-download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if _, err := d.transport().Download(ctx, f.FileID, max, tmp); err != nil {
		return err
	}
	if _, err := tmp.Seek(0, 0); err != nil {
		return err
	}
	return save(tmp)
}

// uploadName is the name f is saved under.
func uploadName(f Attachment, id int64) string {
	if f.Name != "" {
		return f.Name
	}
	switch f.Kind {
	case AttachPhoto:
		return fmt.Sprintf("photo_%d.jpg", id)
	case AttachVoice:
		return fmt.Sprintf("voice_%d.ogg", id)
	}
	return fmt.Sprintf("%s_%d", f.Kind, id)
}

// pendingKey names where uploads without a prompt wait: a conversation
// in a project.
func pendingKey(m Message, project string) string { return conversationKey(m) + ":" + project }

// takePending returns the notes of the uploads r's conversation waits to
// tell the agent about, and forgets them.
func (d *desk) takePending(r *run) string {
	k := pendingKey(r.msg, r.project.Name)
	d.mu.Lock()
	saved := d.pending[k]
	delete(d.pending, k)
	d.mu.Unlock()
	if len(saved) == 0 {
		return ""
	}
	return uploadNotes(saved)
}

// voice transcribes a voice note (or an audio file sent with /voice), shows
// the transcript and runs it as the prompt.
func (d *desk) voice(ctx context.Context, m Message, f Attachment) {
	if d.opts.Transcriber == nil {
		d.replies.to(m, voiceOffText)
		return
	}
	if d.transport() == nil {
		d.replies.to(m, "This bridge's chat transport cannot fetch voice notes.")
		return
	}
	max := min(d.opts.Files.MaxDownload, transcribeMax)
	if f.Size > max {
		d.replies.to(m, fmt.Sprintf("🎙 This recording is %s; transcription takes up to %s.", units.Bytes(f.Size), units.Bytes(max)))
		return
	}
	name := f.Name
	if name == "" {
		name = "voice.ogg"
	}
	var text string
	var err error
	if derr := d.download(ctx, f, max, func(audio io.Reader) error {
		text, err = d.opts.Transcriber.Transcribe(ctx, audio, name)
		return nil
	}); derr != nil {
		d.log.Warn("download voice note", "chat", m.ChatID, "err", derr)
		d.replies.to(m, "🎙 "+fileFailure(f, derr))
		return
	}
	if err != nil {
		d.log.Warn("transcribe voice note", "chat", m.ChatID, "err", err)
		d.replies.to(m, "🎙 This voice note could not be transcribed: "+err.Error())
		return
	}
	text = strings.TrimSpace(text)
	if !d.opts.HideTranscript {
		d.replies.to(m, cmpOr(d.opts.TranscriptPrefix, "🎙 ")+text)
	}
	m.Files, m.MediaGroup = nil, ""
	if m.Text != "" {
		m.Text += "\n\n" + text
	} else {
		m.Text = text
	}
	d.submit(ctx, m)
}

// get carries out /file get <path>: a file is sent as a document, a folder
// as a zip.
func (d *desk) get(m Message, arg string) string {
	if why := d.refusal(); why != "" {
		return why
	}
	sub, rel := cutWord(strings.TrimSpace(arg))
	rel = strings.TrimSpace(rel)
	switch {
	case sub == "put":
		return "Send the file itself with the caption /file put <path>."
	case sub != "get":
		return "/file get <path> sends a project file (a folder as a zip). To save a file, send it with the caption /file put <path>."
	case rel == "":
		return "Write which file: /file get <path>, e.g. /file get README.md."
	}
	p, ok := d.router.contextProject(m, directives{})
	if !ok {
		return "This chat is not linked to a project, so there are no files to get."
	}
	if !d.lt.goOwned(func() { d.sendExport(m, p, rel) }) {
		return restarting
	}
	return ""
}

func (d *desk) sendExport(m Message, p Project, rel string) {
	fsys, ok := d.openFor(m, p)
	if !ok {
		return
	}
	defer fsys.Close()
	e, err := fsys.Export(rel, "", d.opts.Files.MaxUpload)
	if err != nil {
		d.replies.to(m, "❌ "+userError(err))
		return
	}
	defer e.Close()
	caption := ""
	if len(e.Left) > 0 {
		caption = leftOutText(e.Left)
	}
	out := OutgoingFile{ChatID: m.ChatID, ThreadID: m.ThreadID, ReplyTo: m.MessageID, Path: e.Path, Name: e.Name, Caption: caption}
	if _, err := d.send(out); err != nil {
		d.replies.to(m, "❌ "+e.Name+" could not be sent: "+userError(err))
	}
}

func (d *desk) send(f OutgoingFile) (int64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.lt.ctx), 10*time.Minute)
	defer cancel()
	return d.transport().SendFile(ctx, f)
}

// sendOutbox sends the files the agent of r left in its workspace's
// outbox, at most maxOutbox, removing each one sent; what is left is
// said.
func (d *desk) sendOutbox(r *run, log *slog.Logger) {
	if d.refusal() != "" || r.project.Remote {
		return
	}
	p := r.project
	r.mu.Lock()
	p.Path = cmpOr(r.workdir, p.Path) // a worktree's outbox is its own
	r.mu.Unlock()
	fsys, err := d.open(p)
	if err != nil {
		log.Warn("open project folder for the outbox", "err", err)
		return
	}
	defer fsys.Close()
	files, other, err := fsys.Outbox(OutboxDir)
	if err != nil {
		log.Warn("read the outbox", "err", err)
		return
	}
	var left []string
	for i, rel := range files {
		if i >= maxOutbox {
			left = append(left, path.Base(rel)+" (at most 10 files per run)")
			continue
		}
		if why := d.sendOutboxFile(r, fsys, rel); why != "" {
			left = append(left, path.Base(rel)+" ("+why+")")
		}
	}
	for _, rel := range other {
		left = append(left, path.Base(rel)+" (not a file)")
	}
	if len(left) > 0 {
		d.replies.later(Outgoing{ChatID: r.msg.ChatID, ThreadID: r.msg.ThreadID, ReplyTo: r.msg.MessageID,
			Text: plainText(outboxLeftText(left))})
	}
}

// sendOutboxFile sends one outbox file and removes it; it returns why it
// was not sent, "" when it was.
func (d *desk) sendOutboxFile(r *run, fsys *projectfs.FS, rel string) string {
	e, err := fsys.Export(rel, "", d.opts.Files.MaxUpload)
	if err != nil {
		return userError(err)
	}
	defer e.Close()
	out := OutgoingFile{ChatID: r.msg.ChatID, ThreadID: r.msg.ThreadID, ReplyTo: r.msg.MessageID, Path: e.Path, Name: e.Name,
		Photo: isPicture(e.Name) && e.Size <= maxPhoto}
	_, err = d.send(out)
	if err != nil && out.Photo && errors.Is(err, ErrRefused) {
		out.Photo = false // a picture Telegram will not show still goes as a file
		_, err = d.send(out)
	}
	if err != nil {
		return "not sent: " + userError(err)
	}
	if err := fsys.Remove(rel); err != nil {
		d.log.Warn("remove sent outbox file", "file", rel, "err", err)
	}
	return ""
}

// uploadNote finds the notes uploadNotes writes.
var uploadNote = regexp.MustCompile(`\[uploaded file: ([^\]\n]+)\]`)

// picturesIn returns the pictures a prompt's upload notes name, as paths
// in the container, for engines that take images with the prompt.
func picturesIn(prompt string) []string {
	var out []string
	for _, m := range uploadNote.FindAllStringSubmatch(prompt, -1) {
		if isPicture(m[1]) {
			out = append(out, path.Join(sandbox.WorkspaceDir, m[1]))
		}
	}
	return out
}

// maxPhoto is the largest picture the Bot API takes as a photo.
const maxPhoto = 10 << 20

func isPicture(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".webp":
		return true
	}
	return false
}
