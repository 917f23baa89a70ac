package mockapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// form is a transcription call's multipart form.
type form struct {
	fields    [][2]string // name, value; in order
	fileName  string
	fileType  string
	file      []byte
	noFile    bool
	authValue string // the Authorization header; "" for none
}

func (f form) post(t *testing.T, url string) (status int, body map[string]any) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, kv := range f.fields {
		mw.WriteField(kv[0], kv[1])
	}
	if !f.noFile {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", multipart.FileContentDisposition("file", f.fileName))
		h.Set("Content-Type", f.fileType)
		part, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		part.Write(f.file)
	}
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, url, &b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if f.authValue != "" {
		req.Header.Set("Authorization", f.authValue)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, raw)
	}
	return resp.StatusCode, body
}

func voiceForm(audio []byte) form {
	return form{
		fields:   [][2]string{{"model", "whisper-1"}, {"language", "en"}, {"response_format", "json"}},
		fileName: "voice.ogg", fileType: "audio/ogg", file: audio,
	}
}

func TestTranscribeVoiceNote(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	url := s.URL() + "/v1/audio/transcriptions"

	status, body := voiceForm(VoiceNote()).post(t, url)
	if status != http.StatusOK || body["text"] != DefaultTranscript {
		t.Fatalf("answer %d %v, want 200 {text: %q}", status, body, DefaultTranscript)
	}
	s.SetTranscript("second")
	if _, body := voiceForm(VoiceNote()).post(t, url); body["text"] != "second" {
		t.Errorf("after SetTranscript: %v", body)
	}

	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Answer != "transcription" || reqs[0].Body != nil {
		t.Fatalf("requests %+v", reqs)
	}
	got := *reqs[0].Transcription
	want := Transcription{
		Model: "whisper-1", Language: "en", ResponseFormat: "json",
		FileName: "voice.ogg", ContentType: "audio/ogg", Bytes: len(VoiceNote()),
		OggOpus: true,
		// opusinfo: pre-skip 312, playback length 0.716 s (34391 samples).
		// Pages: OpusHead, OpusTags, audio.
		Ogg: OggInfo{Pages: 3, Channels: 1, PreSkip: 312, Duration: 34391 * time.Second / 48000},
	}
	if got != want {
		t.Errorf("recorded\n%+v\nwant\n%+v", got, want)
	}
	if ts := s.Transcriptions(); len(ts) != 2 || ts[1] != want {
		t.Errorf("Transcriptions() = %+v", ts)
	}
}

func TestTranscribeTranscriptOption(t *testing.T) {
	s := New(Options{Transcript: "from options"})
	defer s.Close()
	url := s.URL() + "/v1/audio/transcriptions"
	if _, body := voiceForm(VoiceNote()).post(t, url); body["text"] != "from options" {
		t.Errorf("answer %v", body)
	}
	s.SetTranscript("set")
	s.SetTranscript("")
	if _, body := voiceForm(VoiceNote()).post(t, url); body["text"] != "from options" {
		t.Errorf("after SetTranscript(\"\"): %v", body)
	}
}

// page returns an Ogg page with the given fields and a correct CRC.
func page(flags byte, granule int64, serial uint32, packets ...[]byte) []byte {
	var lacing, body []byte
	for _, p := range packets {
		n := len(p)
		for ; n >= 255; n -= 255 {
			lacing = append(lacing, 255)
		}
		lacing = append(lacing, byte(n))
		body = append(body, p...)
	}
	h := make([]byte, oggHeaderLen, oggHeaderLen+len(lacing)+len(body))
	copy(h, "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], uint64(granule))
	binary.LittleEndian.PutUint32(h[14:], serial)
	h[26] = byte(len(lacing))
	p := append(append(h, lacing...), body...)
	binary.LittleEndian.PutUint32(p[22:], oggCRC(p))
	return p
}

func opusHead(preSkip uint16) []byte {
	h := []byte("OpusHead\x01\x01\x00\x00\x80\xbb\x00\x00\x00\x00\x00")
	binary.LittleEndian.PutUint16(h[10:], preSkip)
	return h
}

func TestParseOggOpus(t *testing.T) {
	real := VoiceNote()
	flipped := bytes.Clone(real)
	flipped[len(flipped)-1] ^= 0xff
	notAudio, err := os.ReadFile("testdata/not-audio.txt")
	if err != nil {
		t.Fatal(err)
	}
	tags := []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00")
	vorbis := append(page(oggBOS, 0, 7, []byte("\x01vorbis\x00\x00\x00\x00\x01\x44\xac\x00\x00")), page(0, 0, 7, tags)...)
	tests := []struct {
		name     string
		data     []byte
		wantErr  string // a part of the error; "" for valid
		duration time.Duration
	}{
		{"real voice note", real, "", 34391 * time.Second / 48000},
		{"built stream", slicesConcat(page(oggBOS, 0, 1, opusHead(312)), page(0, 0, 1, tags), page(4, 48312, 1, []byte{0xfc})), "", time.Second},
		{"granule of another stream ignored", slicesConcat(page(oggBOS, 0, 1, opusHead(0)), page(0, 24000, 1, []byte{1}), page(oggBOS, 96000, 2, []byte{1})), "", 500 * time.Millisecond},
		{"text file", notAudio, `no "OggS"`, 0},
		{"empty", nil, "empty", 0},
		{"OggS then garbage", []byte("OggS and then some text that is no page"), "unknown version", 0},
		{"corrupt last page", flipped, "CRC", 0},
		{"truncated", real[:len(real)-10], "truncated", 0},
		{"trailing garbage", append(bytes.Clone(real), "junk"...), "truncated header", 0},
		{"vorbis, not opus", vorbis, "not an Opus stream", 0},
		{"no BOS", page(0, 0, 1, opusHead(0)), "does not begin", 0},
		{"two packets on the first page", page(oggBOS, 0, 1, opusHead(0), tags), "exactly one packet", 0},
		{"OpusHead as a substring only", page(oggBOS, 0, 1, append([]byte("xx"), opusHead(0)...)), "not an OpusHead", 0},
		{"version 1", func() []byte { p := page(oggBOS, 0, 1, opusHead(0)); p[4] = 1; return p }(), "version", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := parseOggOpus(tt.data)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("parseOggOpus: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("parseOggOpus error = %v, want one with %q", err, tt.wantErr)
			case tt.wantErr == "" && info.Duration != tt.duration:
				t.Errorf("duration %s, want %s", info.Duration, tt.duration)
			}
		})
	}
}

func slicesConcat(pages ...[]byte) []byte { return bytes.Join(pages, nil) }

func TestTranscribeRefusals(t *testing.T) {
	notAudio, err := os.ReadFile("testdata/not-audio.txt")
	if err != nil {
		t.Fatal(err)
	}
	const key = "sk-mock-key"
	withKey := func(f form) form { f.authValue = "Bearer " + key; return f }
	tests := []struct {
		name    string
		form    form
		status  int
		message string
		ogg     bool // recorded as valid Ogg Opus
	}{
		{"not audio", withKey(voiceForm(notAudio)), 400, "Invalid file format", false},
		{"no file", withKey(form{fields: [][2]string{{"model", "whisper-1"}}, noFile: true}), 400, "provide a file", false},
		{"no model", withKey(form{fileName: "v.ogg", fileType: "audio/ogg", file: VoiceNote()}), 400, "model", true},
		{"text response format", withKey(form{fields: [][2]string{{"model", "m"}, {"response_format", "text"}}, fileName: "v.ogg", file: VoiceNote()}), 400, "response_format", true},
		{"no key", voiceForm(VoiceNote()), 401, "API key", false},
		{"wrong key", func() form { f := voiceForm(VoiceNote()); f.authValue = "Bearer sk-other"; return f }(), 401, "API key", false},
		{"key without Bearer", func() form { f := voiceForm(VoiceNote()); f.authValue = key; return f }(), 401, "API key", false},
	}
	s := New(Options{TranscriptionKey: key})
	defer s.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.Requests())
			status, body := tt.form.post(t, s.URL()+"/v1/audio/transcriptions")
			e, _ := body["error"].(map[string]any)
			if status != tt.status || e == nil || !strings.Contains(e["message"].(string), tt.message) {
				t.Fatalf("answer %d %v, want %d with %q", status, body, tt.status, tt.message)
			}
			if _, ok := e["type"].(string); !ok {
				t.Errorf("error has no type: %v", e)
			}
			reqs := s.Requests()[before:]
			if len(reqs) != 1 || reqs[0].Answer != "error "+strconv.Itoa(tt.status) {
				t.Fatalf("recorded %+v", reqs)
			}
			if tr := reqs[0].Transcription; tt.status == 400 && (tr == nil || tr.OggOpus != tt.ogg) {
				t.Errorf("recorded transcription %+v, want OggOpus %v", tr, tt.ogg)
			}
			if h := reqs[0].Header.Get("Authorization"); h != "" {
				t.Errorf("recorded the key: %q", h)
			}
		})
	}
	if _, body := withKey(voiceForm(VoiceNote())).post(t, s.URL()+"/v1/audio/transcriptions"); body["text"] != DefaultTranscript {
		t.Errorf("with the key: %v", body)
	}
}

func TestTranscribeErrorModes(t *testing.T) {
	s := New(Options{Mode: ModeErr429})
	defer s.Close()
	status, body := voiceForm(VoiceNote()).post(t, s.URL()+"/v1/audio/transcriptions")
	if status != 429 || body["error"] == nil {
		t.Errorf("answer %d %v", status, body)
	}
}
