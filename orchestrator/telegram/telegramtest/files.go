package telegramtest

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // photos the server can measure
	_ "image/jpeg"
	_ "image/png"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Bot API's documented file limits.
const (
	// maxDownload is the largest file getFile serves (20 MB).
	maxDownload = 20 << 20
	// maxUploadBytes is the most a request may upload (50 MB).
	maxUploadBytes = 50 << 20
	// maxPhotoBytes is the largest photo sendPhoto takes (10 MB).
	maxPhotoBytes = 10 << 20
	// localMax is a local Bot API server's limit on uploads (2000 MB).
	localMax = 2000 << 20
	// maxCaptionLen is the limit of a caption, in UTF-16 code units.
	maxCaptionLen = 1024
)

// Kinds of File.
const (
	KindDocument = "document"
	KindPhoto    = "photo"
	KindVoice    = "voice"
	KindAudio    = "audio"
)

// File is a file a user sends (UserSendsFile, UserSendsAlbum).
type File struct {
	// Kind is KindDocument, KindPhoto, KindVoice or KindAudio.
	Kind string
	// Name is the file name of a document or an audio file; photos and
	// voice notes have none.
	Name string
	// MIME is the MIME type; empty takes the one of Name's extension
	// (documents, audio), audio/ogg for voice notes. Photos have none.
	MIME string
	// Data is the content; for a photo, its largest size. Not empty.
	Data []byte
	// Caption is the text under the file.
	Caption string
	// Duration of a voice note or audio file in seconds; 0 derives one
	// from the size.
	Duration int
	// Size, when positive, is the file_size the server reports instead of
	// len(Data): a server that announces less than it sends.
	Size int64
}

// SentFile is a message that carries a file, as the server holds it.
type SentFile struct {
	ChatID, MessageID, ThreadID, ReplyTo int64
	// Kind is KindDocument, KindPhoto, KindVoice or KindAudio.
	Kind string
	// FileID is the file's file_id; for a photo, its largest size's.
	FileID string
	Name   string
	MIME   string
	// Data is the content (a photo's largest size).
	Data []byte
	// Width and Height of a photo's largest size.
	Width, Height int
	Caption       string
	MediaGroupID  string
	SentAt        time.Time
}

// storedFile is one file the server can serve: a document, a voice note,
// an audio file or one size of a photo.
type storedFile struct {
	id, uniqueID  string
	path          string // file_path
	data          []byte
	size          int64 // reported file_size
	width, height int   // photo sizes
}

// media is the file of a message.
type media struct {
	kind     string
	files    []*storedFile // a photo's sizes, smallest first; else one
	name     string
	mime     string
	duration int
	caption  string
	entities []wireEntity // caption_entities
	group    string       // media_group_id
}

func (md *media) largest() *storedFile { return md.files[len(md.files)-1] }

// render adds the media to a message as Telegram sends it.
func (md *media) render(w *wireMessage) {
	w.Caption, w.CaptionEntities, w.MediaGroupID = md.caption, md.entities, md.group
	f := md.largest()
	wf := &wireFile{FileID: f.id, FileUniqueID: f.uniqueID, FileSize: f.size, MIMEType: md.mime}
	switch md.kind {
	case KindPhoto:
		for _, s := range md.files {
			w.Photo = append(w.Photo, wireFile{FileID: s.id, FileUniqueID: s.uniqueID,
				Width: s.width, Height: s.height, FileSize: s.size})
		}
	case KindDocument:
		wf.FileName = md.name
		w.Document = wf
	case KindVoice:
		wf.Duration = md.duration
		w.Voice = wf
	case KindAudio:
		wf.FileName, wf.Duration = md.name, md.duration
		w.Audio = wf
	}
}

// fileIDPrefix starts the file_ids of a kind, as Telegram's do.
var fileIDPrefix = map[string]string{KindDocument: "BQAC", KindPhoto: "AgAC", KindVoice: "AwAC", KindAudio: "CQAC"}

// fileDirs are the folders and default extensions of file_paths.
var fileDirs = map[string]struct{ dir, ext string }{
	KindDocument: {"documents", ""}, KindPhoto: {"photos", ".jpg"},
	KindVoice: {"voice", ".oga"}, KindAudio: {"music", ".mp3"},
}

// storeLocked keeps data as a new file of kind, named name (for its
// file_path's extension).
func (s *Server) storeLocked(kind, name string, data []byte, size int64) *storedFile {
	s.nextFile++
	n := s.nextFile
	d := fileDirs[kind]
	ext := d.ext
	if e := path.Ext(name); e != "" && (kind == KindDocument || kind == KindAudio) {
		ext = e
	}
	if size <= 0 {
		size = int64(len(data))
	}
	f := &storedFile{
		id:       fmt.Sprintf("%sAgADAQADkLAxG%d%08dAAEC", fileIDPrefix[kind], s.botID%1000, n),
		uniqueID: fmt.Sprintf("AQAD%08d", n),
		path:     fmt.Sprintf("%s/file_%d%s", d.dir, n, ext),
		data:     data,
		size:     size,
	}
	s.files[f.id] = f
	s.filePaths[f.path] = f
	return f
}

// photoSides are the longest sides of the thumbnails Telegram makes.
var photoSides = []int{90, 320, 800}

// storePhotoLocked keeps a photo as its sizes: thumbnails with their own
// smaller bytes, then data at width×height.
func (s *Server) storePhotoLocked(data []byte, width, height int, size int64) []*storedFile {
	var out []*storedFile
	long := max(width, height)
	for _, side := range photoSides {
		if side >= long {
			break
		}
		n := max(1, len(data)*side*side/(long*long))
		f := s.storeLocked(KindPhoto, "", slices.Clone(data[:n]), 0)
		f.width, f.height = max(1, width*side/long), max(1, height*side/long)
		out = append(out, f)
	}
	f := s.storeLocked(KindPhoto, "", data, size)
	f.width, f.height = width, height
	return append(out, f)
}

// photoSize measures a JPEG, PNG or GIF photo.
func photoSize(data []byte) (width, height int, ok bool) {
	c, _, err := image.DecodeConfig(bytes.NewReader(data))
	return c.Width, c.Height, err == nil
}

// mimeOf guesses a MIME type from a file name, without parameters.
func mimeOf(name, fallback string) string {
	t, _, _ := mime.ParseMediaType(mime.TypeByExtension(path.Ext(name)))
	if t == "" {
		return fallback
	}
	return t
}

// mediaOf turns a File a user sends into the media of a message.
func (s *Server) mediaOf(f File) *media {
	if len(f.Data) == 0 {
		panic("telegramtest: a File needs Data")
	}
	data := slices.Clone(f.Data)
	md := &media{kind: f.Kind, name: f.Name, mime: f.MIME, caption: f.Caption,
		entities: commandEntities(f.Caption), duration: f.Duration}
	if md.duration <= 0 {
		md.duration = max(1, len(data)/2000) // about 16 kbit/s, as Opus voice
	}
	switch f.Kind {
	case KindPhoto:
		w, h, ok := photoSize(data)
		if !ok {
			w, h = 1280, 960
		}
		md.name, md.mime, md.duration = "", "", 0
		md.files = s.storePhotoLocked(data, w, h, f.Size)
		return md
	case KindVoice:
		md.name = ""
		if md.mime == "" {
			md.mime = "audio/ogg"
		}
	case KindAudio:
		if md.mime == "" {
			md.mime = mimeOf(f.Name, "audio/mpeg")
		}
	case KindDocument:
		md.duration = 0
		if md.mime == "" {
			md.mime = mimeOf(f.Name, "application/octet-stream")
		}
	default:
		panic(fmt.Sprintf("telegramtest: unknown File kind %q", f.Kind))
	}
	md.files = []*storedFile{s.storeLocked(f.Kind, f.Name, data, f.Size)}
	return md
}

// UserSendsFile has a user send a file to a chat and queues the update.
// Sent.FileID is the file's id (a photo's largest size).
func (s *Server) UserSendsFile(chatID int64, from User, f File, opts ...MsgOption) Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userSendsLocked(chatID, from, f, "", opts)
}

// UserSendsAlbum has a user send files as one album: one message and
// update per file, sharing a media_group_id, caption on the first. As in
// Telegram, an album holds 2 to 10 files, all photos, all documents or
// all audio files; a File's own Caption is kept on its message. It panics
// on an album Telegram would not make.
func (s *Server) UserSendsAlbum(chatID int64, from User, files []File, caption string, opts ...MsgOption) []Sent {
	if len(files) < 2 || len(files) > 10 {
		panic(fmt.Sprintf("telegramtest: an album holds 2 to 10 files, not %d", len(files)))
	}
	for _, f := range files {
		if f.Kind == KindVoice || f.Kind != files[0].Kind {
			panic("telegramtest: an album holds only photos, only documents or only audio files")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextGroup++
	group := strconv.FormatInt(13_000_000_000_000_000+s.nextGroup, 10)
	out := make([]Sent, len(files))
	for i, f := range files {
		if i == 0 && caption != "" {
			f.Caption = caption
		}
		out[i] = s.userSendsLocked(chatID, from, f, group, opts)
	}
	return out
}

func (s *Server) userSendsLocked(chatID int64, from User, f File, group string, opts []MsgOption) Sent {
	var o msgOpts
	for _, opt := range opts {
		opt(&o)
	}
	from = defaultUser(chatID, from)
	cs := s.chatForUserLocked(chatID, from)
	md := s.mediaOf(f)
	md.group = group
	m := &message{
		threadID: o.threadID,
		replyTo:  o.replyTo,
		from:     wireUser{ID: from.ID, FirstName: from.FirstName, Username: from.Username},
		media:    md,
		sentAt:   time.Now(),
	}
	cs.add(m)
	w := cs.wireMessage(m, true)
	id := s.enqueueLocked("message", func(id int64) wireUpdate { return wireUpdate{UpdateID: id, Message: w} })
	s.notifyLocked()
	return Sent{UpdateID: id, MessageID: m.id, FileID: md.largest().id}
}

// getFile answers a file's file_path, for files up to 20 MB (any size
// on a local server).
func (s *Server) getFile(r *request) (any, *apiError) {
	id, _ := r.p.str("file_id")
	f := s.files[id]
	if f == nil {
		return nil, badRequest("invalid file_id")
	}
	if !s.local && f.size > maxDownload {
		return nil, badRequest("file is too big")
	}
	return wireFile{FileID: f.id, FileUniqueID: f.uniqueID, FileSize: f.size, FilePath: f.path}, nil
}

// serveFile answers GET /file/bot<token>/<file_path> with the file's
// bytes; a wrong token or an unknown path gets 404 Not Found.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, rest string, now time.Time) {
	token, filePath, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	idx := len(s.calls)
	s.calls = append(s.calls, Call{Method: "file", Params: params{"file_path": filePath}, At: now})
	var aerr *apiError
	f := s.filePaths[filePath]
	switch {
	case s.down:
		aerr = &apiError{code: http.StatusBadGateway, desc: descBadGateway}
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		aerr = &apiError{code: http.StatusMethodNotAllowed, desc: "Method Not Allowed"}
	case token != s.token || f == nil:
		aerr = &apiError{code: http.StatusNotFound, desc: descNotFound}
	default:
		aerr = s.takeFailureLocked("file")
	}
	c := &s.calls[idx]
	c.Finished = time.Now()
	if aerr != nil {
		c.HTTPStatus, c.ErrorCode, c.Description = aerr.code, aerr.code, aerr.desc
		s.notifyLocked()
		s.mu.Unlock()
		body, status := encodeResponse(nil, aerr)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	c.HTTPStatus = http.StatusOK
	data := f.data // never changed once stored
	s.notifyLocked()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}

// maxUpload is the most one request may upload.
func (s *Server) maxUpload() int64 {
	if s.local {
		return localMax
	}
	return maxUploadBytes
}

// BotFiles returns copies of the messages with a file the bot sent to a
// chat, in send order.
func (s *Server) BotFiles(chatID int64) []SentFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (&Snapshot{s: s}).BotFiles(chatID)
}

// BotFiles returns the bot's messages with a file in a chat, in send order.
func (v *Snapshot) BotFiles(chatID int64) []SentFile {
	cs := v.s.chats[chatID]
	if cs == nil {
		return nil
	}
	var out []SentFile
	for _, m := range cs.msgs {
		if !m.from.IsBot || m.media == nil {
			continue
		}
		md := m.media
		f := md.largest()
		out = append(out, SentFile{
			ChatID: cs.chat.ID, MessageID: m.id, ThreadID: m.threadID, ReplyTo: m.replyTo,
			Kind: md.kind, FileID: f.id, Name: md.name, MIME: md.mime, Data: slices.Clone(f.data),
			Width: f.width, Height: f.height, Caption: md.caption, MediaGroupID: md.group, SentAt: m.sentAt,
		})
	}
	return out
}
