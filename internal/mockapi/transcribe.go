package mockapi

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
)

// DefaultTranscript is what POST …/v1/audio/transcriptions answers unless
// Options.Transcript or SetTranscript says otherwise.
const DefaultTranscript = "create hello.txt containing hello"

// Transcription is what the mock read of a call of
// POST …/v1/audio/transcriptions.
type Transcription struct {
	Model          string
	Language       string // "" when the call sent none
	ResponseFormat string // "" when the call sent none
	// FileName and ContentType are those of the multipart "file" part.
	FileName    string
	ContentType string
	Bytes       int
	// OggOpus tells whether the file is a valid Ogg Opus stream; Ogg then
	// describes it, and OggError says why not otherwise.
	OggOpus  bool
	Ogg      OggInfo
	OggError string `json:",omitempty"`
}

//go:embed testdata/hello.ogg
var voiceNote []byte

// VoiceNote returns a real voice note: "hello" spoken by espeak-ng and
// encoded by opusenc as Ogg Opus, 0.716 s long, as Telegram sends voice
// notes. A new copy each call.
func VoiceNote() []byte { return bytes.Clone(voiceNote) }

// maxAudio is the most the mock takes, as OpenAI does.
const maxAudio = 25 << 20

// transcribe answers an OpenAI-shaped speech-to-text call: a multipart form
// with "file" and "model" (and optionally "language", "response_format"),
// whose file must be Ogg Opus.
func (s *Server) transcribe(w http.ResponseWriter, r *http.Request, raw []byte, req Request) {
	req.Body = nil // audio, not worth logging as text; see req.Transcription
	if s.failed(w, openaiAPI, req) {
		return
	}
	if key := s.opts.TranscriptionKey; key != "" && r.Header.Get("Authorization") != "Bearer "+key {
		s.refuse(w, req, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"mock: Incorrect API key provided.")
		return
	}
	tr, err := readTranscription(r.Header.Get("Content-Type"), raw)
	req.Transcription = tr
	switch {
	case err != nil:
		s.refuse(w, req, http.StatusBadRequest, "invalid_request_error", nil, "mock: "+err.Error())
		return
	case tr.Model == "":
		s.refuse(w, req, http.StatusBadRequest, "invalid_request_error", nil, "mock: you must provide a model parameter")
		return
	case !tr.OggOpus:
		s.refuse(w, req, http.StatusBadRequest, "invalid_request_error", nil,
			"mock: Invalid file format: "+tr.OggError+" (the mock takes Ogg Opus)")
		return
	case tr.ResponseFormat != "" && tr.ResponseFormat != "json":
		s.refuse(w, req, http.StatusBadRequest, "invalid_request_error", nil,
			fmt.Sprintf("mock: response_format %q is not served by the mock: use json", tr.ResponseFormat))
		return
	}
	req.Answer = "transcription"
	s.record(req)
	writeJSON(w, http.StatusOK, obj("text", s.transcript()))
}

// refuse answers status in OpenAI's error shape and records it.
func (s *Server) refuse(w http.ResponseWriter, req Request, status int, typ string, code any, msg string) {
	req.Answer = fmt.Sprintf("error %d", status)
	s.record(req)
	writeJSON(w, status, obj("error", obj("message", msg, "type", typ, "param", nil, "code", code)))
}

// readTranscription decodes the form; tr holds what could be read even
// when err says what is wrong with it.
func readTranscription(contentType string, raw []byte) (*Transcription, error) {
	tr := &Transcription{}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return tr, errors.New("the body must be multipart/form-data")
	}
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	var audio []byte
	var sawFile bool
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tr, fmt.Errorf("malformed multipart body: %v", err)
		}
		data, err := io.ReadAll(io.LimitReader(part, maxAudio+1))
		if err != nil {
			return tr, fmt.Errorf("malformed multipart body: %v", err)
		}
		switch name := part.FormName(); name {
		case "file":
			sawFile, audio = true, data
			tr.FileName, tr.ContentType, tr.Bytes = part.FileName(), part.Header.Get("Content-Type"), len(data)
		case "model":
			tr.Model = string(data)
		case "language":
			tr.Language = string(data)
		case "response_format":
			tr.ResponseFormat = string(data)
		}
	}
	switch {
	case !sawFile:
		return tr, errors.New("you must provide a file")
	case len(audio) > maxAudio:
		return tr, errors.New("the file is over 25 MiB")
	}
	info, err := parseOggOpus(audio)
	if err != nil {
		tr.OggError = err.Error()
	} else {
		tr.OggOpus, tr.Ogg = true, info
	}
	return tr, nil
}

// SetTranscript sets what later transcription calls answer; "" restores
// Options.Transcript (or DefaultTranscript). Safe to call while requests are served.
func (s *Server) SetTranscript(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text = text
}

func (s *Server) transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cmp.Or(s.text, s.opts.Transcript, DefaultTranscript)
}

// Transcriptions returns the transcription calls the server answered or
// refused, oldest first: a view of Requests.
func (s *Server) Transcriptions() []Transcription {
	var out []Transcription
	for _, r := range s.Requests() {
		if r.Transcription != nil {
			out = append(out, *r.Transcription)
		}
	}
	return out
}

// isTranscription matches the endpoint by suffix, as the others are.
func isTranscription(path string) bool {
	return strings.HasSuffix(strings.TrimSuffix(path, "/"), "/audio/transcriptions")
}
