package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mymmrac/telego"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

func TestDecodeFiles(t *testing.T) {
	const head = `"message_id": 5, "date": 1700000000, "chat": {"id": 42, "type": "private"},
		"from": {"id": 42, "is_bot": false, "first_name": "A"}`
	tests := []struct {
		name string
		raw  string
		want orchestrator.Message
	}{
		{"document with caption", `"document": {"file_id": "D1", "file_unique_id": "u", "file_name": "a.pdf",
			"mime_type": "application/pdf", "file_size": 300}, "caption": "read this"`,
			orchestrator.Message{Text: "read this", Files: []orchestrator.Attachment{{Kind: orchestrator.AttachDocument,
				FileID: "D1", Name: "a.pdf", MIME: "application/pdf", Size: 300}}}},
		{"photo takes the largest size", `"photo": [{"file_id": "P2", "file_unique_id": "b", "width": 800, "height": 600, "file_size": 50},
			{"file_id": "P1", "file_unique_id": "a", "width": 90, "height": 67, "file_size": 5},
			{"file_id": "P3", "file_unique_id": "c", "width": 320, "height": 240, "file_size": 20}], "media_group_id": "77"`,
			orchestrator.Message{MediaGroup: "77", Files: []orchestrator.Attachment{{Kind: orchestrator.AttachPhoto,
				FileID: "P2", MIME: "image/jpeg", Size: 50}}}},
		{"voice note without caption", `"voice": {"file_id": "V1", "file_unique_id": "v", "duration": 3, "mime_type": "audio/ogg", "file_size": 9000}`,
			orchestrator.Message{Files: []orchestrator.Attachment{{Kind: orchestrator.AttachVoice, FileID: "V1", MIME: "audio/ogg", Size: 9000}}}},
		{"audio", `"audio": {"file_id": "A1", "file_unique_id": "a", "duration": 200, "file_name": "s.mp3", "mime_type": "audio/mpeg"}`,
			orchestrator.Message{Files: []orchestrator.Attachment{{Kind: orchestrator.AttachAudio, FileID: "A1", Name: "s.mp3", MIME: "audio/mpeg"}}}},
		{"sticker is no file", `"sticker": {"file_id": "S", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
			"is_animated": false, "is_video": false}`, orchestrator.Message{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var u telego.Update
			if err := json.Unmarshal([]byte(`{"update_id": 9, "message": {`+head+`, `+tc.raw+`}}`), &u); err != nil {
				t.Fatal(err)
			}
			m, ok := decode(update{Update: u})
			if !ok {
				t.Fatal("message dropped")
			}
			got, _ := json.Marshal(struct {
				T string
				F []orchestrator.Attachment
				G string
			}{m.Text, m.Files, m.MediaGroup})
			want, _ := json.Marshal(struct {
				T string
				F []orchestrator.Attachment
				G string
			}{tc.want.Text, tc.want.Files, tc.want.MediaGroup})
			if !bytes.Equal(got, want) {
				t.Errorf("decoded %s, want %s", got, want)
			}
		})
	}
}

func TestPollDecodesFilesAndAlbums(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	doc := srv.UserSendsFile(private, telegramtest.User{ID: private}, telegramtest.File{
		Kind: telegramtest.KindDocument, Name: "notes.txt", Data: []byte("hello")})
	album := srv.UserSendsAlbum(group, telegramtest.User{ID: 5}, []telegramtest.File{
		{Kind: telegramtest.KindPhoto, Data: pngFile(t, 200, 100)}, {Kind: telegramtest.KindPhoto, Data: pngFile(t, 100, 200)},
	}, "two", telegramtest.ReplyTo(doc.MessageID))
	rec := &recorder{}
	poll(t, c, rec, &memOffset{})
	waitFor(t, srv, func(s *telegramtest.Snapshot) bool { return s.Acked(album[1].UpdateID) })
	msgs := rec.all()
	if len(msgs) != 3 {
		t.Fatalf("handled %d messages, want 3", len(msgs))
	}
	if f := msgs[0].Files; len(f) != 1 || f[0].FileID != doc.FileID || f[0].Name != "notes.txt" || f[0].Size != 5 || msgs[0].Text != "" {
		t.Errorf("document message %+v", msgs[0])
	}
	for i, m := range msgs[1:] {
		if len(m.Files) != 1 || m.Files[0].FileID != album[i].FileID || m.MediaGroup == "" || m.MediaGroup != msgs[1].MediaGroup {
			t.Errorf("album message %d: %+v", i, m)
		}
	}
	if msgs[1].Text != "two" || msgs[2].Text != "" {
		t.Errorf("captions %q, %q; want the album's on the first", msgs[1].Text, msgs[2].Text)
	}
}

// pngFile encodes a blank w×h PNG.
func pngFile(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// downloads counts the downloads the server served or refused.
func downloads(srv *telegramtest.Server) int {
	n := 0
	for _, c := range srv.Calls() {
		if c.Method == "file" {
			n++
		}
	}
	return n
}

func TestDownload(t *testing.T) {
	big := bytes.Repeat([]byte("b"), 25<<20)
	tests := []struct {
		name      string
		local     bool
		file      telegramtest.File
		max       int64
		wantErr   string // "" for success
		tooBig    bool
		downloads int // the downloads made
	}{
		{"small file", false, telegramtest.File{Kind: telegramtest.KindDocument, Name: "a.txt", Data: []byte("abc")},
			20 << 20, "", false, 1},
		{"voice note", false, telegramtest.File{Kind: telegramtest.KindVoice, Data: []byte("OggS voice")},
			20 << 20, "", false, 1},
		{"25 MiB refused by Telegram", false, telegramtest.File{Kind: telegramtest.KindDocument, Name: "big.bin", Data: big},
			20 << 20, "over Telegram's download limit of 20 MiB", true, 0},
		{"25 MiB over the limit, refused before download", true, telegramtest.File{Kind: telegramtest.KindDocument, Name: "big.bin", Data: big},
			20 << 20, "the file is 25 MiB; the limit is 20 MiB", true, 0},
		{"25 MiB from a local server", true, telegramtest.File{Kind: telegramtest.KindDocument, Name: "big.bin", Data: big},
			orchestrator.LocalBotAPIMax, "", false, 1},
		{"more bytes than announced", false, telegramtest.File{Kind: telegramtest.KindDocument, Name: "liar.bin",
			Data: make([]byte, 3000), Size: 10}, 1000, "the limit is 1000 bytes", true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := telegramtest.NewServer(telegramtest.Options{Local: tc.local})
			t.Cleanup(srv.Close)
			c := newTestClient(t, srv, defaultPacing(), nil)
			sent := srv.UserSendsFile(private, telegramtest.User{ID: private}, tc.file)
			var buf bytes.Buffer
			n, err := c.Download(t.Context(), sent.FileID, tc.max, &buf)
			if got := downloads(srv); got != tc.downloads {
				t.Errorf("%d downloads, want %d", got, tc.downloads)
			}
			if tc.wantErr == "" {
				if err != nil || n != int64(len(tc.file.Data)) || !bytes.Equal(buf.Bytes(), tc.file.Data) {
					t.Fatalf("Download = %d, %v; got %d bytes", n, err, buf.Len())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, orchestrator.ErrTooBig) != tc.tooBig {
				t.Fatalf("Download error %v, want %q (too big: %v)", err, tc.wantErr, tc.tooBig)
			}
			if int64(buf.Len()) > tc.max {
				t.Errorf("wrote %d bytes past the limit of %d", buf.Len(), tc.max)
			}
		})
	}
}

// A server that announces no length and sends more than max is cut off
// once max bytes came.
func TestDownloadStopsPastTheLimit(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 64 {
			_, _ = w.Write(make([]byte, 1024))
			w.(http.Flusher).Flush() // chunked: no Content-Length
		}
	}))
	t.Cleanup(api.Close)
	c, err := newClient(Options{Token: telegramtest.DefaultToken, APIURL: api.URL}, defaultPacing())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := c.fetch(t.Context(), "documents/file_1.bin", 10_000, &buf)
	if !errors.Is(err, orchestrator.ErrTooBig) || n != 10_000 || buf.Len() != 10_000 {
		t.Fatalf("fetch = %d, %v; wrote %d bytes", n, err, buf.Len())
	}
	n, err = c.fetch(t.Context(), "documents/file_1.bin", 64*1024, &buf)
	if err != nil || n != 64*1024 {
		t.Fatalf("fetch of exactly the limit = %d, %v", n, err)
	}
}

func TestDownloadErrorsHideTheToken(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, defaultPacing(), nil)
	sent := srv.UserSendsFile(private, telegramtest.User{ID: private}, telegramtest.File{
		Kind: telegramtest.KindDocument, Name: "a.txt", Data: []byte("abc")})
	srv.FailNext("file", 1, 404, "Not Found", 0)
	_, notFound := c.Download(t.Context(), sent.FileID, 1<<20, &bytes.Buffer{})
	_, badID := c.Download(t.Context(), "nonsense", 1<<20, &bytes.Buffer{})

	// Nothing listens there: the error is a *url.Error about the file URL.
	closed, err := newClient(Options{Token: srv.Token(), APIURL: "http://127.0.0.1:1"}, defaultPacing())
	if err != nil {
		t.Fatal(err)
	}
	_, refused := closed.fetch(t.Context(), "documents/file_1.txt", 1<<20, &bytes.Buffer{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, cancelled := c.fetch(ctx, "documents/file_1.txt", 1<<20, &bytes.Buffer{})

	for name, err := range map[string]error{"not found": notFound, "bad file id": badID, "connection refused": refused, "cancelled": cancelled} {
		t.Run(name, func(t *testing.T) {
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), srv.Token()) {
				t.Errorf("error shows the token: %v", err)
			}
			if ue := (*url.Error)(nil); errors.As(err, &ue) && strings.Contains(ue.URL, srv.Token()) {
				t.Errorf("url.Error holds the token: %v", ue.URL)
			}
		})
	}
	if !errors.Is(cancelled, context.Canceled) {
		t.Errorf("a cancelled download: %v", cancelled)
	}
}

// writeFile writes data to a file of the test's temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSendFileIsOrderedAfterEarlierSends(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, scaledPacing(), nil)
	srv.FailNext("sendMessage", 1, 429, "Too Many Requests: retry after 1", 1)
	type result struct {
		id  int64
		err error
	}
	first := make(chan result, 1)
	go func() {
		id, err := c.Send(context.Background(), orchestrator.Outgoing{ChatID: private, Text: text("here it comes")})
		first <- result{id, err}
	}()
	waitFor(t, srv, called("sendMessage", 429))
	id, err := c.SendFile(t.Context(), orchestrator.OutgoingFile{ChatID: private,
		Path: writeFile(t, "x", []byte("data")), Name: "report.txt", Caption: "the report"})
	if err != nil {
		t.Fatal(err)
	}
	r := <-first
	if r.err != nil || r.id >= id {
		t.Fatalf("text %d (%v), file %d: the file overtook the text", r.id, r.err, id)
	}
	files := srv.BotFiles(private)
	if len(files) != 1 || files[0].MessageID != id || files[0].Name != "report.txt" || files[0].Caption != "the report" ||
		string(files[0].Data) != "data" || files[0].Kind != telegramtest.KindDocument {
		t.Errorf("files = %+v", files)
	}
}

func TestSendFileWaitsOutFloodControl(t *testing.T) {
	srv := newServer(t, telegramtest.Limits{})
	c := newTestClient(t, srv, scaledPacing(), nil)
	srv.FailNext("sendDocument", 1, 429, "Too Many Requests: retry after 1", 1)
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	start := time.Now()
	id, err := c.SendFile(t.Context(), orchestrator.OutgoingFile{ChatID: group, Path: writeFile(t, "log", data), Name: "run.log"})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("sent after %v, before retry_after", took)
	}
	if cs := calls(srv, "sendDocument"); len(cs) != 2 || cs[0].ErrorCode != 429 || cs[1].ErrorCode != 0 {
		t.Errorf("calls = %+v", cs)
	}
	// The second attempt read the file from its start again.
	if f := srv.BotFiles(group); len(f) != 1 || f[0].MessageID != id || !bytes.Equal(f[0].Data, data) {
		t.Errorf("files = %+v", f)
	}
}

func TestSendPhoto(t *testing.T) {
	const forum = int64(-1002)
	srv := newServer(t, telegramtest.Limits{})
	srv.AddChat(telegramtest.Chat{ID: forum, Type: "supergroup", IsForum: true})
	c := newTestClient(t, srv, defaultPacing(), nil)
	asked := srv.UserSays(forum, telegramtest.User{ID: 5}, "show me", telegramtest.InThread(3))
	pic := pngFile(t, 400, 300)
	id, err := c.SendFile(t.Context(), orchestrator.OutgoingFile{ChatID: forum, ThreadID: 3, ReplyTo: asked.MessageID,
		Path: writeFile(t, "chart.png", pic), Name: "chart.png", Photo: true, Caption: "the chart"})
	if err != nil {
		t.Fatal(err)
	}
	f := srv.BotFiles(forum)
	if len(f) != 1 || f[0].MessageID != id || f[0].Kind != telegramtest.KindPhoto || f[0].Width != 400 ||
		f[0].ThreadID != 3 || f[0].ReplyTo != asked.MessageID || f[0].Caption != "the chart" || !bytes.Equal(f[0].Data, pic) {
		t.Errorf("files = %+v", f)
	}
	if n := len(calls(srv, "sendDocument")); n != 0 {
		t.Errorf("%d sendDocument calls for a photo", n)
	}
}

func TestSendFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    orchestrator.OutgoingFile
		data    []byte // nil: no file at Path
		fail    func(srv *telegramtest.Server)
		refused bool
		tooBig  bool
	}{
		{"unknown chat", orchestrator.OutgoingFile{ChatID: 777}, []byte("x"), nil, true, false},
		{"413 past the upload limit", orchestrator.OutgoingFile{ChatID: group}, []byte("x"), func(srv *telegramtest.Server) {
			srv.FailNext("sendDocument", 1, 413, "Request Entity Too Large", 0)
		}, true, true},
		{"photo over 10 MiB", orchestrator.OutgoingFile{ChatID: group, Photo: true}, make([]byte, 10<<20+1), nil, true, true},
		{"not a picture", orchestrator.OutgoingFile{ChatID: group, Photo: true}, []byte("text"), nil, true, false},
		{"no such file", orchestrator.OutgoingFile{ChatID: group}, nil, nil, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, telegramtest.Limits{})
			c := newTestClient(t, srv, defaultPacing(), nil)
			if tc.fail != nil {
				tc.fail(srv)
			}
			tc.file.Name = "f.bin"
			tc.file.Path = filepath.Join(t.TempDir(), "missing")
			if tc.data != nil {
				tc.file.Path = writeFile(t, "f.bin", tc.data)
			}
			_, err := c.SendFile(t.Context(), tc.file)
			if err == nil {
				t.Fatal("SendFile succeeded")
			}
			if errors.Is(err, orchestrator.ErrRefused) != tc.refused || errors.Is(err, orchestrator.ErrTooBig) != tc.tooBig {
				t.Errorf("error %v: refused %v, too big %v; want %v, %v", err,
					errors.Is(err, orchestrator.ErrRefused), errors.Is(err, orchestrator.ErrTooBig), tc.refused, tc.tooBig)
			}
			if strings.Contains(err.Error(), srv.Token()) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestSizeText(t *testing.T) {
	tests := []struct {
		n    int64
		up   bool
		want string
	}{
		{31 << 20, true, "31 MiB"},
		{20 << 20, false, "20 MiB"},
		{20<<20 + 1, true, "20.1 MiB"},
		{20<<20 + 1, false, "20 MiB"},
		{1536 << 10, false, "1.5 MiB"},
		{1000, false, "1000 bytes"},
		{10 << 10, true, "10 KiB"},
	}
	for _, tc := range tests {
		if got := sizeText(tc.n, tc.up); got != tc.want {
			t.Errorf("sizeText(%d, %v) = %q, want %q", tc.n, tc.up, got, tc.want)
		}
	}
}
