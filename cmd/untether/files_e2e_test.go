package main

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/untether-go/untether/internal/mockapi"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

// botFile waits for the file the bot sends in reply to userMsg named name.
func (w *world) botFile(chat, userMsg int64, name string) telegramtest.SentFile {
	w.t.Helper()
	var got telegramtest.SentFile
	w.waitFor(fmt.Sprintf("the file %s in reply to message %d", name, userMsg), time.Minute, func(s *telegramtest.Snapshot) bool {
		for _, f := range s.BotFiles(chat) {
			if f.ReplyTo == userMsg && f.Name == name {
				got = f
				return true
			}
		}
		return false
	})
	return got
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestFilesE2E: files in and out of a project through the fake Telegram
// server and a real container: /file put and get byte for byte, a folder
// as a zip, refused paths, a captioned upload run by the agent, the
// outbox, and the size limits.
func TestFilesE2E(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.cleanupVolumes()
	w.start()
	doc := func(caption, name string, data []byte) int64 {
		return w.tg.UserSendsFile(groupChat, alice, telegramtest.File{Kind: telegramtest.KindDocument, Name: name, Data: data, Caption: caption}).MessageID
	}

	// /file put, then /file get: byte for byte; the file is the
	// container user's.
	blob := randomBytes(t, 1<<20+123)
	put := doc("/file put data/blob.bin", "upload.bin", blob)
	w.reply(groupChat, put, "📎 Saved data/blob.bin (1 MiB).")
	onDisk, err := os.ReadFile(filepath.Join(w.project, "data/blob.bin"))
	if err != nil || !bytes.Equal(onDisk, blob) {
		t.Fatalf("data/blob.bin on disk: %v, equal %v", err, bytes.Equal(onDisk, blob))
	}
	if fi, err := os.Stat(filepath.Join(w.project, "data/blob.bin")); err == nil {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("data/blob.bin is owned by %d:%d, not the images' agent (1000:1000)", st.Uid, st.Gid)
		}
	}
	get := w.tg.UserSays(groupChat, alice, "/file get data/blob.bin")
	if f := w.botFile(groupChat, get.MessageID, "blob.bin"); !bytes.Equal(f.Data, blob) || f.Kind != telegramtest.KindDocument {
		t.Fatalf("/file get sent %s %q of %d bytes", f.Kind, f.Name, len(f.Data))
	}
	again := doc("/file put data/blob.bin", "upload.bin", []byte("other"))
	w.reply(groupChat, again, "data/blob.bin exists; send it again with /file put --force data/blob.bin")

	// A 3 MB folder comes back as a zip.
	folder := map[string][]byte{"a.bin": randomBytes(t, 1<<20), "sub/b.bin": randomBytes(t, 1<<20), "sub/deeper/c.bin": randomBytes(t, 1<<20)}
	for name, data := range folder {
		p := filepath.Join(w.project, "out", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	getDir := w.tg.UserSays(groupChat, alice, "/file get out")
	z := w.botFile(groupChat, getDir.MessageID, "out.zip")
	zr, err := zip.NewReader(bytes.NewReader(z.Data), int64(len(z.Data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != len(folder) {
		t.Errorf("out.zip holds %d files, want %d", len(zr.File), len(folder))
	}
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(data, folder[f.Name]) {
			t.Errorf("out.zip: %s differs", f.Name)
		}
	}

	// Refused paths, each with its reason.
	if err := os.Symlink("/etc", filepath.Join(w.project, "etc-link")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(w.project, ".env"), []byte("TOKEN=secret"), 0o600)
	for cmd, want := range map[string]string{
		"/file get ../../etc/passwd": "❌ ../../etc/passwd leads out of the project.",
		"/file get etc-link/passwd":  "❌ etc-link is a symlink that leads out of the project.",
		"/file get .env":             `❌ .env is denied by the rule ".env*".`,
	} {
		m := w.tg.UserSays(groupChat, alice, cmd)
		w.reply(groupChat, m.MessageID, want)
	}
	evil := doc("/file put ../../etc/untether-evil", "x", []byte("x"))
	w.reply(groupChat, evil, "❌ x: ../../etc/untether-evil leads out of the project.")
	envPut := doc("/file put .env", "x", []byte("x"))
	w.reply(groupChat, envPut, `❌ x: .env is denied by the rule ".env*".`)
	if _, err := os.Stat("/etc/untether-evil"); err == nil {
		t.Fatal("a put wrote /etc/untether-evil")
	}
	if b, _ := os.ReadFile(filepath.Join(w.project, ".env")); string(b) != "TOKEN=secret" {
		t.Fatalf(".env was changed: %q", b)
	}

	// A captioned upload runs, and the agent is told where the file is.
	shot := w.tg.UserSendsFile(groupChat, alice, telegramtest.File{Kind: telegramtest.KindPhoto, Data: jpegBytes(t, 64, 48), Caption: "what is wrong here?"}).MessageID
	final := w.finalReply(groupChat, shot, time.Minute)
	if !strings.HasPrefix(final.Text, "done · claude") {
		t.Fatalf("final = %q", final.Text)
	}
	photo := fmt.Sprintf("incoming/photo_%d.jpg", shot)
	if _, err := os.Stat(filepath.Join(w.project, photo)); err != nil {
		t.Fatalf("the photo is not in the project: %v", err)
	}
	calls := w.engineCalls()
	if prompt := calls[len(calls)-1].Argv; !strings.Contains(strings.Join(prompt, " "), "what is wrong here?\n\n[uploaded file: "+photo+"]") {
		t.Fatalf("the agent's argv = %q", prompt)
	}

	// The outbox: both files arrive, the outbox is empty.
	mk := w.tg.UserSays(groupChat, alice, "make two files fake:write=.untether-outbox/one.txt fake:write=.untether-outbox/two.txt")
	w.finalReply(groupChat, mk.MessageID, time.Minute)
	for _, name := range []string{"one.txt", "two.txt"} {
		if f := w.botFile(groupChat, mk.MessageID, name); string(f.Data) != "hello\n" {
			t.Errorf("%s = %q", name, f.Data)
		}
	}
	if ents, err := os.ReadDir(filepath.Join(w.project, ".untether-outbox")); err != nil || len(ents) != 0 {
		t.Errorf("outbox after sending: %d entries, %v", len(ents), err)
	}

	// Over the limits: refused with the limit named, nothing left behind.
	big := doc("", "big.bin", make([]byte, 21<<20))
	w.reply(groupChat, big, "❌ big.bin: the file is 21 MiB; the bridge takes files up to 20 MiB.")
	huge, err := os.Create(filepath.Join(w.project, "huge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	huge.Truncate(51 << 20) // sparse: no disk spent
	huge.Close()
	getHuge := w.tg.UserSays(groupChat, alice, "/file get huge.bin")
	w.reply(groupChat, getHuge.MessageID, "❌ huge.bin is 51 MiB; the limit is 50 MiB.")
	ents, _ := os.ReadDir(filepath.Join(w.project, "incoming"))
	for _, e := range ents {
		if e.Name() != filepath.Base(photo) {
			t.Errorf("left in incoming/: %s", e.Name())
		}
	}
}

// jpegBytes is a picture as Telegram stores photos: a JPEG.
func jpegBytes(t *testing.T, wd, ht int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, wd, ht))
	for x := range wd {
		for y := range ht {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// spokenOgg says sentence with espeak-ng and encodes it as Telegram sends
// voice notes: Ogg Opus.
func spokenOgg(t *testing.T, sentence string) []byte {
	t.Helper()
	dir := t.TempDir()
	wav, ogg := filepath.Join(dir, "voice.wav"), filepath.Join(dir, "voice.ogg")
	for _, argv := range [][]string{
		{"espeak-ng", "-w", wav, sentence},
		{"opusenc", "--quiet", "--bitrate", "24", wav, ogg},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s (.ci/setup-host installs espeak-ng and opus-tools)", argv[0], err, out)
		}
	}
	data, err := os.ReadFile(ogg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestVoiceNoteE2E: a real spoken sentence, sent as a voice note, reaches
// the mock transcription endpoint as valid Ogg Opus; its transcript is shown
// and run.
func TestVoiceNoteE2E(t *testing.T) {
	t.Parallel()
	mock := mockapi.New(mockapi.Options{})
	t.Cleanup(mock.Close)
	mock.SetTranscript("say hello to the team")
	w := newWorld(t, worldOptions{extra: fmt.Sprintf("\n[voice]\nbase_url = %q\nmodel = \"whisper-1\"\napi_key = \"sk-voice-dummy\"\nlanguage = \"en\"\n", mock.URL()+"/v1")})
	w.cleanupVolumes()
	w.start()
	audio := spokenOgg(t, "Say hello to the team.")
	v := w.tg.UserSendsFile(groupChat, alice, telegramtest.File{Kind: telegramtest.KindVoice, Data: audio}).MessageID
	w.reply(groupChat, v, "🎙 say hello to the team")
	final := w.finalReply(groupChat, v, time.Minute)
	if !strings.HasPrefix(final.Text, "done · claude") {
		t.Fatalf("final = %q", final.Text)
	}
	calls := w.engineCalls()
	if argv := strings.Join(calls[len(calls)-1].Argv, " "); !strings.HasSuffix(argv, "say hello to the team") {
		t.Fatalf("the agent's argv = %q", argv)
	}
	got := mock.Transcriptions()
	if len(got) != 1 || !got[0].OggOpus || got[0].Bytes != len(audio) || got[0].Model != "whisper-1" || got[0].Language != "en" {
		t.Fatalf("transcription requests = %+v", got)
	}
}

// TestRealClaudeSeesAPhoto: a photo with a caption reaches the real Claude
// Code CLI: the file is in the project, and the request the CLI sends to
// the mock model API holds the picture (Claude's Read tool returns it as an
// image block).
func TestRealClaudeSeesAPhoto(t *testing.T) {
	mock := mockapi.New(mockapi.Options{})
	t.Cleanup(mock.Close)
	w := claudeApprovalWorld(t, mock, "")
	w.start()
	pic := jpegBytes(t, 64, 48)
	shot := w.tg.UserSendsFile(groupChat, alice, telegramtest.File{Kind: telegramtest.KindPhoto, Data: pic, Caption: "what is in this picture?"}).MessageID
	final := w.finalReply(groupChat, shot, 3*time.Minute)
	// The model API got the picture itself, byte for byte.
	if !strings.Contains(final.Text, mockapi.FinalImage("image/jpeg", len(pic))) {
		t.Fatalf("final = %q", final.Text)
	}
	saved := fmt.Sprintf("incoming/photo_%d.jpg", shot)
	if b, err := os.ReadFile(filepath.Join(w.project, saved)); err != nil || !bytes.Equal(b, pic) {
		t.Fatalf("%s: %v", saved, err)
	}
	t.Logf("claude read a %d-byte JPEG; its answer: %q", len(pic), final.Text)
}
