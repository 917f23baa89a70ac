package telegramtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pngImage encodes a blank w×h PNG.
func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// postFile posts fields and one file part (field, name, data) to method as
// multipart/form-data.
func postFile(t *testing.T, s *Server, method string, fields map[string]any, field, name string, data []byte) apiResp {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		text, ok := v.(string)
		if !ok {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			text = string(b)
		}
		if err := mw.WriteField(k, text); err != nil {
			t.Fatal(err)
		}
	}
	if field != "" {
		fw, err := mw.CreateFormFile(field, name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/bot"+s.Token()+"/"+method, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r apiResp
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	r.Status = res.StatusCode
	r.Result = append(r.Result[:0:0], r.Result...)
	if !r.OK {
		r.Result = raw // the raw body, for checks of its exact text
	}
	return r
}

// download fetches a file_path with token.
func download(t *testing.T, s *Server, token, filePath string) (int, []byte) {
	t.Helper()
	res, err := http.Get(s.URL() + "/file/bot" + token + "/" + filePath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

type testFile struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	Duration     int    `json:"duration"`
	FileName     string `json:"file_name"`
	MIMEType     string `json:"mime_type"`
	FileSize     int64  `json:"file_size"`
	FilePath     string `json:"file_path"`
}

type fileMessage struct {
	MessageID       int64            `json:"message_id"`
	MediaGroupID    string           `json:"media_group_id"`
	Caption         string           `json:"caption"`
	CaptionEntities []map[string]any `json:"caption_entities"`
	Document        *testFile        `json:"document"`
	Photo           []testFile       `json:"photo"`
	Voice           *testFile        `json:"voice"`
	Audio           *testFile        `json:"audio"`
	ReplyToMessage  *fileMessage     `json:"reply_to_message"`
}

// fileUpdates returns the messages of the waiting updates.
func fileUpdates(t *testing.T, s *Server) []fileMessage {
	t.Helper()
	var ups []struct {
		Message fileMessage `json:"message"`
	}
	mustOK(t, call(t, s, "getUpdates", map[string]any{"timeout": 0}), &ups)
	out := make([]fileMessage, len(ups))
	for i, u := range ups {
		out[i] = u.Message
	}
	return out
}

// fetch resolves a file_id with getFile and downloads it.
func fetch(t *testing.T, s *Server, fileID string) (testFile, []byte) {
	t.Helper()
	var f testFile
	mustOK(t, call(t, s, "getFile", map[string]any{"file_id": fileID}), &f)
	code, b := download(t, s, s.Token(), f.FilePath)
	if code != http.StatusOK {
		t.Fatalf("download %s: HTTP %d %s", f.FilePath, code, b)
	}
	return f, b
}

func TestUserSendsFile(t *testing.T) {
	s := newTestServer(t, noLimits)
	photo := pngImage(t, 1000, 500)
	doc := s.UserSendsFile(privateChat, alice, File{Kind: KindDocument, Name: "report.pdf", Data: []byte("%PDF-1.4 report"), Caption: "/summarize this"})
	pic := s.UserSendsFile(privateChat, alice, File{Kind: KindPhoto, Data: photo}, ReplyTo(doc.MessageID))
	voice := s.UserSendsFile(privateChat, alice, File{Kind: KindVoice, Data: bytes.Repeat([]byte("o"), 9000)})
	song := s.UserSendsFile(privateChat, alice, File{Kind: KindAudio, Name: "song.mp3", Data: []byte("ID3 song"), Duration: 200})
	msgs := fileUpdates(t, s)
	if len(msgs) != 4 {
		t.Fatalf("%d updates, want 4", len(msgs))
	}

	d := msgs[0].Document
	switch {
	case d == nil || d.FileID != doc.FileID || d.FileUniqueID == "" || d.FileName != "report.pdf" ||
		d.MIMEType != "application/pdf" || d.FileSize != 15:
		t.Errorf("document = %+v", d)
	case msgs[0].Caption != "/summarize this" || len(msgs[0].CaptionEntities) != 1:
		t.Errorf("caption = %q %v, want a bot_command entity", msgs[0].Caption, msgs[0].CaptionEntities)
	}
	if f, b := fetch(t, s, doc.FileID); string(b) != "%PDF-1.4 report" || !strings.HasPrefix(f.FilePath, "documents/") {
		t.Errorf("getFile = %+v, bytes %q", f, b)
	}

	sizes := msgs[1].Photo
	if len(sizes) < 2 || msgs[1].ReplyToMessage == nil || msgs[1].ReplyToMessage.Document == nil {
		t.Fatalf("photo message = %+v", msgs[1])
	}
	for i, p := range sizes {
		if p.FileID == "" || p.FileUniqueID == "" || p.FileSize <= 0 {
			t.Errorf("size %d = %+v", i, p)
		}
		if i > 0 && (p.Width <= sizes[i-1].Width || p.FileSize <= sizes[i-1].FileSize) {
			t.Errorf("sizes not ascending: %+v", sizes)
		}
	}
	last := sizes[len(sizes)-1]
	if last.FileID != pic.FileID || last.Width != 1000 || last.Height != 500 {
		t.Errorf("largest size = %+v, want the photo itself, 1000×500", last)
	}
	if _, b := fetch(t, s, last.FileID); !bytes.Equal(b, photo) {
		t.Error("the largest size is not the photo's bytes")
	}
	if _, b := fetch(t, s, sizes[0].FileID); len(b) >= len(photo) {
		t.Errorf("thumbnail has %d bytes, the photo %d", len(b), len(photo))
	}

	if v := msgs[2].Voice; v == nil || v.FileID != voice.FileID || v.MIMEType != "audio/ogg" || v.Duration <= 0 || v.FileSize != 9000 {
		t.Errorf("voice = %+v", v)
	}
	if a := msgs[3].Audio; a == nil || a.FileID != song.FileID || a.FileName != "song.mp3" || a.Duration != 200 || a.MIMEType != "audio/mpeg" {
		t.Errorf("audio = %+v", a)
	}
	if m := s.Messages(privateChat); len(m) != 4 || m[0].Kind != KindDocument || m[0].Caption != "/summarize this" {
		t.Errorf("Messages = %+v", m)
	}
}

func TestUserSendsAlbum(t *testing.T) {
	s := newTestServer(t, noLimits)
	files := []File{{Kind: KindPhoto, Data: pngImage(t, 10, 10)}, {Kind: KindPhoto, Data: pngImage(t, 20, 10)},
		{Kind: KindPhoto, Data: pngImage(t, 10, 20)}}
	sent := s.UserSendsAlbum(groupChat, alice, files, "three pictures")
	msgs := fileUpdates(t, s)
	if len(sent) != 3 || len(msgs) != 3 {
		t.Fatalf("sent %d, got %d updates", len(sent), len(msgs))
	}
	for i, m := range msgs {
		if m.MediaGroupID == "" || m.MediaGroupID != msgs[0].MediaGroupID || m.MessageID != sent[i].MessageID {
			t.Errorf("message %d = %+v", i, m)
		}
		if want := map[bool]string{true: "three pictures"}[i == 0]; m.Caption != want {
			t.Errorf("message %d caption %q, want %q", i, m.Caption, want)
		}
	}
	again := s.UserSendsAlbum(groupChat, alice, files[:2], "")
	if next := fileUpdates(t, s); len(again) != 2 || next[len(next)-1].MediaGroupID == msgs[0].MediaGroupID {
		t.Error("two albums share a media_group_id")
	}
	for name, bad := range map[string][]File{
		"one file":   files[:1],
		"voice":      {{Kind: KindVoice, Data: []byte("a")}, {Kind: KindVoice, Data: []byte("b")}},
		"mixed kind": {files[0], {Kind: KindDocument, Name: "a.txt", Data: []byte("a")}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			s.UserSendsAlbum(groupChat, alice, bad, "")
		})
	}
}

func TestGetFileAndDownload(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), 21<<20)
	tests := []struct {
		name     string
		local    bool
		file     File
		wantDesc string
	}{
		{"small", false, File{Kind: KindDocument, Name: "a.txt", Data: []byte("abc")}, ""},
		{"over 20 MB", false, File{Kind: KindDocument, Name: "big.bin", Data: big}, "Bad Request: file is too big"},
		{"over 20 MB on a local server", true, File{Kind: KindDocument, Name: "big.bin", Data: big}, ""},
		{"announced small, sends more", false, File{Kind: KindDocument, Name: "liar.bin", Data: []byte("0123456789"), Size: 4}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, Options{Limits: Limits{Disabled: true}, Local: tc.local})
			sent := s.UserSendsFile(privateChat, alice, tc.file)
			r := call(t, s, "getFile", map[string]any{"file_id": sent.FileID})
			if tc.wantDesc != "" {
				wantError(t, r, http.StatusBadRequest, tc.wantDesc)
				return
			}
			var f testFile
			mustOK(t, r, &f)
			wantSize := int64(len(tc.file.Data))
			if tc.file.Size > 0 {
				wantSize = tc.file.Size
			}
			if f.FileID != sent.FileID || f.FileSize != wantSize || f.FilePath == "" {
				t.Errorf("getFile = %+v", f)
			}
			if code, b := download(t, s, s.Token(), f.FilePath); code != http.StatusOK || !bytes.Equal(b, tc.file.Data) {
				t.Errorf("download: HTTP %d, %d bytes", code, len(b))
			}
		})
	}
}

func TestDownloadErrors(t *testing.T) {
	s := newTestServer(t, noLimits)
	sent := s.UserSendsFile(privateChat, alice, File{Kind: KindDocument, Name: "a.txt", Data: []byte("abc")})
	var f testFile
	mustOK(t, call(t, s, "getFile", map[string]any{"file_id": sent.FileID}), &f)
	wantError(t, call(t, s, "getFile", map[string]any{"file_id": "nonsense"}), 400, "Bad Request: invalid file_id")
	wrongToken := "123456789:" + strings.Repeat("x", 35)
	for name, c := range map[string]struct{ token, path string }{
		"wrong token":  {wrongToken, f.FilePath},
		"unknown path": {s.Token(), "documents/file_999.txt"},
	} {
		t.Run(name, func(t *testing.T) {
			code, b := download(t, s, c.token, c.path)
			if code != http.StatusNotFound || !strings.Contains(string(b), `"description":"Not Found"`) {
				t.Errorf("HTTP %d %s, want 404 Not Found", code, b)
			}
		})
	}
	s.FailNext("file", 1, 500, "Internal Server Error", 0)
	if code, _ := download(t, s, s.Token(), f.FilePath); code != 500 {
		t.Errorf("FailNext(file): HTTP %d", code)
	}
	s.SetDown(true)
	if code, _ := download(t, s, s.Token(), f.FilePath); code != http.StatusBadGateway {
		t.Errorf("down: HTTP %d", code)
	}
	s.SetDown(false)
	n := 0
	for _, c := range s.Calls() {
		if c.Method == "file" && c.Params["file_path"] != "" {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d downloads recorded, want 4", n)
	}
}

func TestSendDocumentAndPhoto(t *testing.T) {
	t.Parallel()
	pic := pngImage(t, 640, 480)
	tests := []struct {
		name     string
		method   string
		params   map[string]any
		field    string // the file part's field; "" for none
		data     []byte
		wantCode int
		wantDesc string
	}{
		{"document", "sendDocument", map[string]any{"caption": "the log"}, "document", []byte("log line"), 200, ""},
		{"photo", "sendPhoto", nil, "photo", pic, 200, ""},
		{"attach", "sendDocument", map[string]any{"document": "attach://blob"}, "blob", []byte("x"), 200, ""},
		{"caption of 1024 units", "sendDocument", map[string]any{"caption": strings.Repeat("😀", 512)}, "document", []byte("x"), 200, ""},
		{"caption too long", "sendDocument", map[string]any{"caption": strings.Repeat("a", 1025)}, "document", []byte("x"),
			400, "Bad Request: message caption is too long"},
		{"caption entity outside", "sendDocument", map[string]any{"caption": "ab",
			"caption_entities": []map[string]any{{"type": "bold", "offset": 1, "length": 5}}}, "document", []byte("x"),
			400, "Bad Request: can't parse entities: entity 0: range [1, 6) is outside the text of 2 UTF-16 code units"},
		{"no file", "sendDocument", nil, "", nil, 400, "Bad Request: there is no document in the request"},
		{"empty file", "sendDocument", nil, "document", []byte{}, 400, "Bad Request: file must be non-empty"},
		{"unknown file_id", "sendDocument", map[string]any{"document": "BQACnope"}, "", nil,
			400, "Bad Request: wrong file identifier/HTTP URL specified"},
		{"unknown chat", "sendDocument", map[string]any{"chat_id": 777}, "document", []byte("x"), 400, "Bad Request: chat not found"},
		{"reply to missing", "sendDocument", map[string]any{"reply_parameters": map[string]any{"message_id": 99}},
			"document", []byte("x"), 400, "Bad Request: message to be replied not found"},
		{"reply to missing allowed", "sendDocument", map[string]any{"reply_parameters": map[string]any{"message_id": 99,
			"allow_sending_without_reply": true}}, "document", []byte("x"), 200, ""},
		{"photo not an image", "sendPhoto", nil, "photo", []byte("not a picture"), 400, "Bad Request: IMAGE_PROCESS_FAILED"},
		{"photo too thin", "sendPhoto", nil, "photo", pngImage(t, 420, 20), 400, "Bad Request: PHOTO_INVALID_DIMENSIONS"},
		{"photo over 10 MB", "sendPhoto", nil, "photo", make([]byte, 10<<20+1), 400,
			"Bad Request: file of size 10485761 bytes is too big for a photo; the maximum size is 10485760 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, noLimits)
			s.AddChat(Chat{ID: privateChat})
			params := map[string]any{"chat_id": privateChat}
			for k, v := range tc.params {
				params[k] = v
			}
			r := postFile(t, s, tc.method, params, tc.field, "f.txt", tc.data)
			if tc.wantCode != 200 {
				wantError(t, r, tc.wantCode, tc.wantDesc)
				if n := len(s.BotFiles(privateChat)); n != 0 {
					t.Errorf("a refused file was stored")
				}
				return
			}
			mustOK(t, r, nil)
			got := s.BotFiles(privateChat)
			if len(got) != 1 || !bytes.Equal(got[0].Data, tc.data) {
				t.Fatalf("BotFiles = %+v", got)
			}
		})
	}
}

func TestSentFilesReadBack(t *testing.T) {
	s := newTestServer(t, noLimits)
	s.AddChat(Chat{ID: groupChat, IsForum: true})
	asked := s.UserSays(groupChat, alice, "send me the log", InThread(7))
	var m fileMessage
	mustOK(t, postFile(t, s, "sendDocument", map[string]any{"chat_id": groupChat, "message_thread_id": 7,
		"caption": "here", "reply_parameters": map[string]any{"message_id": asked.MessageID}},
		"document", "run.txt", []byte("line 1\n")), &m)
	if m.Document == nil || m.Document.FileName != "run.txt" || m.Document.MIMEType != "text/plain" || m.Caption != "here" {
		t.Errorf("sent %+v", m)
	}
	pic := pngImage(t, 300, 200)
	var p fileMessage
	mustOK(t, postFile(t, s, "sendPhoto", map[string]any{"chat_id": groupChat}, "photo", "chart.png", pic), &p)
	if len(p.Photo) == 0 || p.Photo[len(p.Photo)-1].Width != 300 {
		t.Errorf("sent photo %+v", p)
	}
	// A file sent once can be sent again by its file_id, as its own kind.
	mustOK(t, call(t, s, "sendDocument", map[string]any{"chat_id": groupChat, "document": m.Document.FileID}), nil)
	wantError(t, call(t, s, "sendPhoto", map[string]any{"chat_id": groupChat, "photo": m.Document.FileID}),
		400, "Bad Request: type of file mismatch")
	wantError(t, call(t, s, "editMessageText", map[string]any{"chat_id": groupChat, "message_id": m.MessageID, "text": "x"}),
		400, "Bad Request: there is no text in the message to edit")

	got := s.BotFiles(groupChat)
	want := []SentFile{
		{Kind: KindDocument, Name: "run.txt", Caption: "here", ThreadID: 7, ReplyTo: asked.MessageID, Data: []byte("line 1\n")},
		{Kind: KindPhoto, Width: 300, Height: 200, Data: pic},
		{Kind: KindDocument, Name: "run.txt", Data: []byte("line 1\n")},
	}
	if len(got) != len(want) {
		t.Fatalf("BotFiles = %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.Kind || g.Name != w.Name || g.Caption != w.Caption || g.ThreadID != w.ThreadID ||
			g.ReplyTo != w.ReplyTo || g.Width != w.Width || g.Height != w.Height || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("file %d = %+v, want %+v", i, g, w)
		}
	}
	if _, b := fetch(t, s, got[1].FileID); !bytes.Equal(b, pic) {
		t.Error("a sent photo cannot be downloaded")
	}
}

func TestUploadLimits(t *testing.T) {
	t.Parallel()
	over := make([]byte, 50<<20+1)
	s := newTestServer(t, noLimits)
	s.AddChat(Chat{ID: privateChat})
	r := postFile(t, s, "sendDocument", map[string]any{"chat_id": privateChat}, "document", "big.bin", over)
	if r.Status != 413 || string(r.Result) != `{"ok":false,"error_code":413,"description":"Request Entity Too Large"}` {
		t.Errorf("HTTP %d %s, want 413 Request Entity Too Large", r.Status, r.Result)
	}
	local := newTestServer(t, Options{Limits: Limits{Disabled: true}, Local: true})
	local.AddChat(Chat{ID: privateChat})
	mustOK(t, postFile(t, local, "sendDocument", map[string]any{"chat_id": privateChat}, "document", "big.bin", over), nil)
}

func TestFileSendsAreFloodControlled(t *testing.T) {
	s := newTestServer(t, Options{Limits: Limits{RetryAfter: 3}})
	s.AddChat(Chat{ID: privateChat})
	mustOK(t, call(t, s, "sendMessage", map[string]any{"chat_id": privateChat, "text": "hi"}), nil)
	r := postFile(t, s, "sendDocument", map[string]any{"chat_id": privateChat}, "document", "a.txt", []byte("a"))
	if r.Status != 429 || r.Parameters == nil || r.Parameters.RetryAfter != 3 {
		t.Errorf("second write in a second: HTTP %d %s", r.Status, fmt.Sprint(r.Parameters))
	}
}
