package voice

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/internal/mockapi"
	"github.com/untether-go/untether/orchestrator"
)

const testKey = "sk-test-0123456789abcdef"

// call is what the fake API received.
type call struct {
	path, auth, contentType string
	contentLength, bodyLen  int64
	fields                  map[string]string
	fileName, fileType      string
	file                    []byte
	order                   []string // form part names, in order
}

// fakeAPI serves answer for every call and keeps the calls.
type fakeAPI struct {
	mu     sync.Mutex
	calls  []call
	status int
	body   string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := call{path: r.URL.Path, auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"),
		contentLength: r.ContentLength, fields: map[string]string{}}
	raw, _ := io.ReadAll(r.Body)
	c.bodyLen = int64(len(raw))
	_, params, _ := mime.ParseMediaType(c.contentType)
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		data, _ := io.ReadAll(p)
		c.order = append(c.order, p.FormName())
		if p.FormName() == "file" {
			c.fileName, c.fileType, c.file = p.FileName(), p.Header.Get("Content-Type"), data
		} else {
			c.fields[p.FormName()] = string(data)
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	status, body := f.status, f.body
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(cmpStatus(status))
	io.WriteString(w, body)
}

func cmpStatus(s int) int {
	if s == 0 {
		return http.StatusOK
	}
	return s
}

func (f *fakeAPI) lastCall(t *testing.T) call {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("the API was not called")
	}
	return f.calls[len(f.calls)-1]
}

func newClient(t *testing.T, url string, opts Options) *Client {
	t.Helper()
	opts.BaseURL = url
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestTranscribeSendsTheForm(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		file      string
		wantModel string
		wantAuth  string
		wantType  string
	}{
		{"voice note with key and language", Options{APIKey: testKey, Language: "de", Model: "whisper-large-v3"}, "voice.oga", "whisper-large-v3", "Bearer " + testKey, "audio/ogg"},
		{"defaults, no key", Options{}, "note.mp3", DefaultModel, "", "audio/mpeg"},
		{"m4a", Options{}, "memo.M4A", DefaultModel, "", "audio/mp4"},
		{"unknown extension", Options{}, "blob.bin", DefaultModel, "", "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{body: `{"text": "  hello world \n"}`}
			srv := httptest.NewServer(api)
			defer srv.Close()
			c := newClient(t, srv.URL+"/v1/", tt.opts)
			audio := []byte("OggS fake audio")
			got, err := c.Transcribe(context.Background(), bytes.NewReader(audio), tt.file)
			if err != nil {
				t.Fatalf("Transcribe: %v", err)
			}
			if got != "hello world" {
				t.Errorf("transcript %q", got)
			}
			call := api.lastCall(t)
			if call.path != "/v1/audio/transcriptions" {
				t.Errorf("path %q", call.path)
			}
			if call.auth != tt.wantAuth {
				t.Errorf("Authorization %q, want %q", call.auth, tt.wantAuth)
			}
			if !strings.HasPrefix(call.contentType, "multipart/form-data; boundary=") {
				t.Errorf("Content-Type %q", call.contentType)
			}
			want := map[string]string{"model": tt.wantModel, "response_format": "json"}
			if tt.opts.Language != "" {
				want["language"] = tt.opts.Language
			}
			if len(call.fields) != len(want) {
				t.Errorf("fields %v, want %v", call.fields, want)
			}
			for k, v := range want {
				if call.fields[k] != v {
					t.Errorf("field %s = %q, want %q", k, call.fields[k], v)
				}
			}
			if call.fileName != tt.file || call.fileType != tt.wantType || !bytes.Equal(call.file, audio) {
				t.Errorf("file %q %q %q", call.fileName, call.fileType, call.file)
			}
			if call.contentLength != call.bodyLen {
				t.Errorf("Content-Length %d, body %d bytes", call.contentLength, call.bodyLen)
			}
			if last := call.order[len(call.order)-1]; last != "file" {
				t.Errorf("parts in order %v: the file should come last", call.order)
			}
		})
	}
}

func TestTranscribeErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    []string // parts of the error
		wantAPI bool     // an *APIError
		is      error
	}{
		{"openai error", 401, `{"error": {"message": "Incorrect API key provided: ` + testKey + `.", "type": "invalid_request_error", "code": "invalid_api_key"}}`,
			[]string{"401 Unauthorized", "Incorrect API key provided: (redacted)."}, true, nil},
		{"error as a string", 400, `{"error": "bad audio"}`, []string{"400 Bad Request: bad audio"}, true, nil},
		{"plain text", 502, "upstream down", []string{"502 Bad Gateway: upstream down"}, true, nil},
		{"html page", 503, "<html><body>nginx</body></html>", []string{"503 Service Unavailable"}, true, nil},
		{"long message clipped", 500, `{"error": {"message": "` + strings.Repeat("é", 400) + `"}}`, []string{"500", "…"}, true, nil},
		{"empty transcript", 200, `{"text": " "}`, []string{"no speech recognized"}, false, ErrNoSpeech},
		{"not json", 200, `hello`, []string{"not a transcription"}, false, nil},
		{"no text field", 200, `{"transcript": "hi"}`, []string{"not a transcription"}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&fakeAPI{status: tt.status, body: tt.body})
			defer srv.Close()
			c := newClient(t, srv.URL, Options{APIKey: testKey})
			_, err := c.Transcribe(context.Background(), strings.NewReader("audio"), "voice.ogg")
			if err == nil {
				t.Fatal("Transcribe succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error holds the key: %v", err)
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) != tt.wantAPI {
				t.Errorf("error %v (%T): *APIError = %v", err, err, !tt.wantAPI)
			}
			if tt.wantAPI && apiErr.Status != tt.status {
				t.Errorf("Status %d", apiErr.Status)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

// endless is audio of unknown size that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

func TestTranscribeRefusesTooBig(t *testing.T) {
	api := &fakeAPI{body: `{"text": "x"}`}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL, Options{})

	// A reader that tells its size is refused before any request.
	_, err := c.Transcribe(context.Background(), bytes.NewReader(make([]byte, MaxAudio+1)), "big.ogg")
	if !errors.Is(err, orchestrator.ErrTooBig) || !strings.Contains(err.Error(), "25 MiB") {
		t.Errorf("sized: %v, want ErrTooBig naming 25 MiB", err)
	}
	api.mu.Lock()
	if len(api.calls) != 0 {
		t.Errorf("sized: the API was called")
	}
	api.mu.Unlock()
	// One that does not is cut off once it passes the limit (lowered
	// here to keep the test quick).
	c.maxAudio = 64 << 10
	_, err = c.Transcribe(context.Background(), endless{}, "big.ogg")
	if !errors.Is(err, orchestrator.ErrTooBig) {
		t.Errorf("streamed: %v, want ErrTooBig", err)
	}
	// Exactly the limit passes.
	if _, err := c.Transcribe(context.Background(), io.LimitReader(endless{}, c.maxAudio), "max.ogg"); err != nil {
		t.Errorf("at the limit: %v", err)
	}
}

func TestTranscribeStreamsTheUpload(t *testing.T) {
	firstBytes := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				http.Error(w, "no file", 400)
				return
			}
			if p.FormName() != "file" {
				continue
			}
			buf := make([]byte, 5)
			io.ReadFull(p, buf)
			close(firstBytes) // the client has not finished the file yet
			io.Copy(io.Discard, p)
			io.WriteString(w, `{"text": "streamed"}`)
			return
		}
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, Options{})
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("first"))
		select {
		case <-firstBytes:
			pw.Write([]byte(" rest"))
			pw.Close()
		case <-time.After(10 * time.Second):
			pw.CloseWithError(errors.New("the server never saw the first bytes: the upload is buffered"))
		}
	}()
	got, err := c.Transcribe(context.Background(), pr, "voice.ogg")
	if err != nil || got != "streamed" {
		t.Fatalf("Transcribe = %q, %v", got, err)
	}
}

func TestTranscribeTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, srv.URL, Options{Timeout: 100 * time.Millisecond})
	_, err := c.Transcribe(context.Background(), strings.NewReader("audio"), "voice.ogg")
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("Transcribe = %v, want a timeout", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Transcribe(ctx, strings.NewReader("audio"), "voice.ogg")
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "no answer within") {
		t.Errorf("canceled: %v", err)
	}
}

func TestTranscribeUnreadableAudio(t *testing.T) {
	srv := httptest.NewServer(&fakeAPI{body: `{"text": "x"}`})
	defer srv.Close()
	c := newClient(t, srv.URL, Options{})
	broken := io.MultiReader(strings.NewReader("OggS"), iotestErr{})
	_, err := c.Transcribe(context.Background(), broken, "voice.ogg")
	if err == nil || !strings.Contains(err.Error(), "read audio: disk on fire") {
		t.Errorf("Transcribe = %v", err)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestNew(t *testing.T) {
	tests := []struct {
		url     string
		wantErr bool
	}{
		{"https://api.openai.com/v1", false},
		{"http://127.0.0.1:8000/v1/", false},
		{"", true},
		{"api.openai.com/v1", true},
		{"ftp://host/v1", true},
		{"https://host/v1?x=1", true},
		{"https://", true},
	}
	for _, tt := range tests {
		_, err := New(Options{BaseURL: tt.url})
		if (err != nil) != tt.wantErr {
			t.Errorf("New(%q) error = %v, want error %v", tt.url, err, tt.wantErr)
		}
	}
}

// A file's remaining bytes are its length; a pipe's is unknown (chunked).
func TestTranscribeContentLength(t *testing.T) {
	api := &fakeAPI{body: `{"text": "x"}`}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL, Options{Language: "en"})
	f, err := os.CreateTemp(t.TempDir(), "voice")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("skipped|the audio")
	f.Seek(int64(len("skipped|")), io.SeekStart)
	if _, err := c.Transcribe(context.Background(), f, "voice.ogg"); err != nil {
		t.Fatal(err)
	}
	if call := api.lastCall(t); call.contentLength != call.bodyLen || string(call.file) != "the audio" {
		t.Errorf("file: Content-Length %d, body %d bytes, file %q", call.contentLength, call.bodyLen, call.file)
	}
	pr, pw := io.Pipe()
	go func() { pw.Write([]byte("piped")); pw.Close() }()
	if _, err := c.Transcribe(context.Background(), pr, "voice.ogg"); err != nil {
		t.Fatal(err)
	}
	if call := api.lastCall(t); call.contentLength != -1 || string(call.file) != "piped" {
		t.Errorf("pipe: Content-Length %d, file %q", call.contentLength, call.file)
	}
}

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"voice.ogg": "audio/ogg", "file_7.oga": "audio/ogg", "a.OGG": "audio/ogg",
		"a.mp3": "audio/mpeg", "a.m4a": "audio/mp4", "a.wav": "audio/wav",
		"a.txt": "application/octet-stream", "noext": "application/octet-stream",
	} {
		if got := ContentType(name); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", name, got, want)
		}
	}
}

// The client and the project's mock of the API agree: a real voice note
// goes through, with the key.
func TestTranscribeWithMockAPI(t *testing.T) {
	s := mockapi.New(mockapi.Options{TranscriptionKey: testKey, Transcript: "hello from the mock"})
	defer s.Close()
	c := newClient(t, s.URL()+"/v1", Options{APIKey: testKey, Language: "en"})
	got, err := c.Transcribe(context.Background(), bytes.NewReader(mockapi.VoiceNote()), "voice.oga")
	if err != nil || got != "hello from the mock" {
		t.Fatalf("Transcribe = %q, %v", got, err)
	}
	ts := s.Transcriptions()
	if len(ts) != 1 || !ts[0].OggOpus || ts[0].Model != DefaultModel || ts[0].Language != "en" ||
		ts[0].FileName != "voice.oga" || ts[0].ContentType != "audio/ogg" || ts[0].Bytes != len(mockapi.VoiceNote()) {
		t.Errorf("the mock saw %+v", ts)
	}

	bad := newClient(t, s.URL()+"/v1", Options{APIKey: "sk-wrong"})
	_, err = bad.Transcribe(context.Background(), bytes.NewReader(mockapi.VoiceNote()), "voice.oga")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || strings.Contains(err.Error(), "sk-wrong") {
		t.Errorf("wrong key: %v", err)
	}
	_, err = c.Transcribe(context.Background(), strings.NewReader("not audio at all"), "voice.ogg")
	if !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Errorf("not audio: %v", err)
	}
}
