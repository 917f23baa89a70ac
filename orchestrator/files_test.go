package orchestrator

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// fileChat is a fakeChat that also moves files.
type fileChat struct {
	*fakeChat
	fmu   sync.Mutex
	store map[string][]byte // by file id
	sent  []sentFile
}

type sentFile struct {
	OutgoingFile
	data []byte
}

func newFileChat() *fileChat {
	return &fileChat{fakeChat: newFakeChat(), store: map[string][]byte{}}
}

func (c *fileChat) Download(_ context.Context, id string, max int64, w io.Writer) (int64, error) {
	c.fmu.Lock()
	data, ok := c.store[id]
	c.fmu.Unlock()
	if !ok {
		return 0, fmt.Errorf("no file %s: %w", id, ErrRefused)
	}
	if int64(len(data)) > max {
		return 0, fmt.Errorf("download: %w: the file is over the %d-byte limit", ErrTooBig, max)
	}
	n, err := w.Write(data)
	return int64(n), err
}

func (c *fileChat) SendFile(_ context.Context, f OutgoingFile) (int64, error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return 0, err
	}
	c.fmu.Lock()
	c.sent = append(c.sent, sentFile{f, data})
	c.fmu.Unlock()
	c.fakeChat.change <- struct{}{}
	return 999, nil
}

func (c *fileChat) file(id string, data []byte) Attachment {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	c.store[id] = data
	return Attachment{Kind: AttachDocument, FileID: id, Size: int64(len(data))}
}

func (c *fileChat) waitFiles(t *testing.T, n int) []sentFile {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.fmu.Lock()
		if len(c.sent) >= n {
			defer c.fmu.Unlock()
			return append([]sentFile(nil), c.sent...)
		}
		c.fmu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("waited for %d files sent", n)
	return nil
}

// waitReply waits for a plain reply to message id containing substr.
func (c *fakeChat) waitReply(t *testing.T, id int64, substr string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, m := range c.sent {
			if m.ReplyTo == id && strings.Contains(m.Text.S, substr) {
				c.mu.Unlock()
				return m.Text.S
			}
		}
		c.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no reply to %d says %q", id, substr)
	return ""
}

// outboxBox writes files into the workspace's outbox, then replays.
type outboxBox struct {
	*fakeSandbox
	files map[string]string
}

func (b *outboxBox) Run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error) {
	dir := filepath.Join(spec.Mounts[0].Source, OutboxDir)
	os.MkdirAll(dir, 0o755)
	for name, data := range b.files {
		os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644)
	}
	return b.fakeSandbox.Run(ctx, spec, onLine)
}

type fakeTranscriber struct {
	mu   sync.Mutex
	got  []string
	text string
}

func (f *fakeTranscriber) Transcribe(_ context.Context, audio io.Reader, name string) (string, error) {
	b, _ := io.ReadAll(audio)
	f.mu.Lock()
	f.got = append(f.got, fmt.Sprintf("%s:%s", name, b))
	f.mu.Unlock()
	return f.text, nil
}

func newFileOrchestrator(t *testing.T, box Sandbox, chat *fileChat, edit ...func(*Options)) (*Orchestrator, string) {
	t.Helper()
	dir := t.TempDir()
	fb, _ := box.(*fakeSandbox)
	if fb == nil {
		fb = box.(*outboxBox).fakeSandbox
	}
	o := newTestOrchestrator(t, fb, chat.fakeChat, append([]func(*Options){func(o *Options) {
		o.Projects[0].Path = dir
		o.Chat = chat
		o.Sandbox = box
	}}, edit...)...)
	return o, dir
}

func (b *fakeSandbox) prompts() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, s := range b.specs {
		out = append(out, s.Argv[len(s.Argv)-1])
	}
	return out
}

func TestPhotoWithCaptionRunsWithTheFile(t *testing.T) {
	chat := newFileChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o, dir := newFileOrchestrator(t, box, chat)
	photo := chat.file("ph1", []byte("JPEG"))
	photo.Kind = AttachPhoto
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 5, UserID: 7, Text: "what is wrong here?", Files: []Attachment{photo}})
	chat.waitFinals(t, 1)
	if b, err := os.ReadFile(filepath.Join(dir, "incoming/photo_5.jpg")); err != nil || string(b) != "JPEG" {
		t.Fatalf("saved photo = %q, %v", b, err)
	}
	if p := box.prompts(); len(p) != 1 || !strings.HasSuffix(p[0], "what is wrong here?\n\n[uploaded file: incoming/photo_5.jpg]") {
		t.Fatalf("prompts = %q", p)
	}
}

func TestUploadWithoutCaptionIsToldToTheNextPrompt(t *testing.T) {
	chat := newFileChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o, dir := newFileOrchestrator(t, box, chat)
	doc := chat.file("d1", []byte("log line"))
	doc.Name = "build.log"
	os.MkdirAll(filepath.Join(dir, "incoming"), 0o755)
	os.WriteFile(filepath.Join(dir, "incoming/build.log"), []byte("old"), 0o644)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 5, UserID: 7, Files: []Attachment{doc}})
	chat.waitReply(t, 5, "📎 Saved incoming/build_1.log. Your next message here will tell the agent about it.")
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 6, UserID: 7, Text: "why did it fail?"})
	chat.waitFinals(t, 1)
	if p := box.prompts(); len(p) != 1 || !strings.HasSuffix(p[0], "why did it fail?\n\n[uploaded file: incoming/build_1.log]") {
		t.Fatalf("prompts = %q", p)
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 7, UserID: 7, Text: "thanks"})
	chat.waitFinals(t, 2)
	if p := box.prompts(); strings.Contains(p[1], "uploaded") {
		t.Fatalf("the note came twice: %q", p[1])
	}
}

func TestAlbumIsOneUpload(t *testing.T) {
	chat := newFileChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	o, _ := newFileOrchestrator(t, box, chat)
	a, b := chat.file("a", []byte("A")), chat.file("b", []byte("B"))
	a.Name, b.Name = "a.png", "b.png"
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 10, UserID: 7, Text: "compare these", Files: []Attachment{a}, MediaGroup: "g1"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 11, UserID: 7, Files: []Attachment{b}, MediaGroup: "g1"})
	chat.waitFinals(t, 1)
	time.Sleep(2 * albumWait)
	if p := box.prompts(); len(p) != 1 || !strings.HasSuffix(p[0], "compare these\n\n[uploaded file: incoming/a.png]\n[uploaded file: incoming/b.png]") {
		t.Fatalf("prompts = %q", p)
	}
}

func TestFilePutAndRefusals(t *testing.T) {
	chat := newFileChat()
	o, dir := newFileOrchestrator(t, &fakeSandbox{}, chat, func(o *Options) { o.Files.MaxDownload = 1 << 10 })
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("old"), 0o644)
	doc := chat.file("n", []byte("new notes"))
	doc.Name = "x.txt"
	put := func(id int64, caption string, f Attachment) {
		o.Handle(context.Background(), Message{ChatID: group, MessageID: id, UserID: 7, Text: caption, Files: []Attachment{f}})
	}
	put(1, "/file put notes.txt", doc)
	chat.waitReply(t, 1, "notes.txt exists; send it again with /file put --force notes.txt")
	put(2, "/file put --force notes.txt", doc)
	chat.waitReply(t, 2, "📎 Saved notes.txt (9 B).")
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "new notes" {
		t.Fatalf("notes.txt = %q", b)
	}
	put(3, "/file put docs/", doc)
	chat.waitReply(t, 3, "📎 Saved docs/x.txt")
	put(4, "/file put ../../etc/passwd", doc)
	chat.waitReply(t, 4, "❌ x.txt: ../../etc/passwd leads out of the project.")
	put(5, "/file put .env", doc)
	chat.waitReply(t, 5, `❌ x.txt: .env is denied by the rule ".env*".`)
	big := chat.file("big", make([]byte, 4<<10))
	big.Name = "big.bin"
	put(6, "/file put big.bin", big)
	chat.waitReply(t, 6, "❌ big.bin: the file is 4 KiB; the bridge takes files up to 1 KiB.")
	big.Size = 0 // unknown: the download itself is cut
	put(7, "/file put big.bin", big)
	chat.waitReply(t, 7, "❌ big.bin: the file is over the 1024-byte limit.")
	if _, err := os.Stat(filepath.Join(dir, "big.bin")); !os.IsNotExist(err) {
		t.Fatal("big.bin was written")
	}
}

func TestFileGetSendsFilesAndZips(t *testing.T) {
	chat := newFileChat()
	o, dir := newFileOrchestrator(t, &fakeSandbox{}, chat)
	os.MkdirAll(filepath.Join(dir, "out/sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "out/a.txt"), []byte("A"), 0o644)
	os.WriteFile(filepath.Join(dir, "out/sub/b.txt"), []byte("B"), 0o644)
	os.WriteFile(filepath.Join(dir, "out/.env"), []byte("SECRET"), 0o644)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "/file get out/a.txt"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "/file get out"})
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "/file get .env"})
	chat.waitReply(t, 3, `❌ .env is denied by the rule ".env*".`)
	sent := chat.waitFiles(t, 2)
	byName := map[string]sentFile{}
	for _, f := range sent {
		byName[f.Name] = f
	}
	if f := byName["a.txt"]; string(f.data) != "A" || f.ReplyTo != 1 {
		t.Fatalf("a.txt = %+v", f)
	}
	z := byName["out.zip"]
	zr, err := zip.NewReader(bytes.NewReader(z.data), int64(len(z.data)))
	if err != nil || len(zr.File) != 2 || z.Caption != "Left out (denied, or not regular files): .env" {
		t.Fatalf("zip = %v, %d files, caption %q", err, len(zr.File), z.Caption)
	}
	if _, err := os.Stat(z.Path); !os.IsNotExist(err) {
		t.Fatal("the zip was left on disk")
	}
}

func TestOutboxFilesAreSentAndRemoved(t *testing.T) {
	chat := newFileChat()
	box := &outboxBox{fakeSandbox: &fakeSandbox{stream: fixture(t, "basic.jsonl")}, files: map[string]string{"chart.png": "PNG", "report.txt": "R"}}
	o, dir := newFileOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "make a chart"})
	sent := chat.waitFiles(t, 2)
	if !sent[0].Photo || sent[0].Name != "chart.png" || sent[1].Photo || string(sent[1].data) != "R" {
		t.Fatalf("sent = %+v", sent)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, OutboxDir)); len(ents) != 0 {
		t.Fatalf("outbox holds %d entries", len(ents))
	}
}

func TestOutboxSendsAtMostTen(t *testing.T) {
	chat := newFileChat()
	files := map[string]string{}
	for i := range 12 {
		files[fmt.Sprintf("f%02d.txt", i)] = "x"
	}
	box := &outboxBox{fakeSandbox: &fakeSandbox{stream: fixture(t, "basic.jsonl")}, files: files}
	o, dir := newFileOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "make files"})
	chat.waitReply(t, 1, "📎 Not sent from .untether-outbox:\nf10.txt (at most 10 files per run)\nf11.txt (at most 10 files per run)")
	if len(chat.waitFiles(t, 10)) != 10 {
		t.Fatal("not 10 files")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, OutboxDir)); len(ents) != 2 {
		t.Fatalf("outbox holds %d entries", len(ents))
	}
}

func TestVoiceNoteIsTranscribedAndRun(t *testing.T) {
	chat := newFileChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	tr := &fakeTranscriber{text: "list the files"}
	o, _ := newFileOrchestrator(t, box, chat, func(o *Options) { o.Transcriber = tr })
	v := chat.file("v1", []byte("OggS"))
	v.Kind = AttachVoice
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 4, UserID: 7, Files: []Attachment{v}})
	chat.waitReply(t, 4, "🎙 list the files")
	chat.waitFinals(t, 1)
	if p := box.prompts(); len(p) != 1 || !strings.HasSuffix(p[0], "list the files") {
		t.Fatalf("prompts = %q", p)
	}
	if tr.got[0] != "voice.ogg:OggS" {
		t.Fatalf("transcriber got %q", tr.got)
	}
}

func TestVoiceWithoutTranscriberSaysHow(t *testing.T) {
	chat := newFileChat()
	o, _ := newFileOrchestrator(t, &fakeSandbox{}, chat)
	v := chat.file("v1", []byte("OggS"))
	v.Kind = AttachVoice
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 4, UserID: 7, Files: []Attachment{v}})
	chat.waitReply(t, 4, "[voice]\nbase_url")
}

func TestPicturesGoToEnginesThatTakeThem(t *testing.T) {
	got := picturesIn("look\n\n[uploaded file: incoming/a.jpg]\n[uploaded file: incoming/log.txt]\n[uploaded file: b c.PNG]")
	if want := []string{"/workspace/incoming/a.jpg", "/workspace/b c.PNG"}; !slices.Equal(got, want) {
		t.Fatalf("picturesIn = %q, want %q", got, want)
	}
}

func TestAudioFileWithVoiceCaptionIsTranscribed(t *testing.T) {
	chat := newFileChat()
	box := &fakeSandbox{stream: fixture(t, "basic.jsonl")}
	tr := &fakeTranscriber{text: "fix the build"}
	o, dir := newFileOrchestrator(t, box, chat, func(o *Options) { o.Transcriber = tr; o.HideTranscript = true })
	a := chat.file("a1", []byte("ID3"))
	a.Kind, a.Name = AttachAudio, "memo.mp3"
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 4, UserID: 7, Text: "/voice", Files: []Attachment{a}})
	chat.waitFinals(t, 1)
	if p := box.prompts(); len(p) != 1 || !strings.HasSuffix(p[0], "fix the build") || strings.Contains(p[0], "/voice") {
		t.Fatalf("prompts = %q", p)
	}
	if tr.got[0] != "memo.mp3:ID3" {
		t.Fatalf("transcriber got %q", tr.got)
	}
	chat.mu.Lock()
	for _, m := range chat.fakeChat.sent {
		if strings.HasPrefix(m.Text.S, "🎙") {
			t.Errorf("a hidden transcript was shown: %q", m.Text.S)
		}
	}
	chat.mu.Unlock()
	// Without the caption an audio file is an upload like any other.
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 5, UserID: 7, Files: []Attachment{a}})
	chat.waitReply(t, 5, "📎 Saved incoming/memo.mp3.")
	if _, err := os.Stat(filepath.Join(dir, "incoming/memo.mp3")); err != nil {
		t.Fatal(err)
	}
}
