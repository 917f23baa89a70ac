// Package mockapi is a scripted model API for tests: the real Claude Code and
// Codex CLIs (or anything speaking their wire protocols) talk to it over real
// HTTP on 127.0.0.1 with a dummy key, and get the same answers the streams
// in engines/enginetest/captures were captured with. It is the Go port of the
// essentials of the Python mock described in that folder's
// mockapi/README.md:
//
//   - Anthropic Messages: POST …/v1/messages (SSE when "stream" is true, one
//     JSON message otherwise) and POST …/v1/messages/count_tokens.
//   - OpenAI Responses: POST …/v1/responses (SSE when "stream" is true).
//   - OpenAI speech to text: POST …/v1/audio/transcriptions, a multipart
//     form with "file" and "model" (and "language", "response_format"). The
//     file must be Ogg Opus, as Telegram sends voice notes: its Ogg pages
//     are decoded and checked, CRCs included, and the first must hold an
//     OpusHead. The answer is {"text": DefaultTranscript} (see
//     Options.Transcript and SetTranscript); a bad form or file is a 400,
//     a missing or wrong bearer key a 401 when Options.TranscriptionKey is
//     set, both in OpenAI's error shape. VoiceNote returns a real voice
//     note to send it.
//
// Paths match by suffix, so a proxy prefix (/api/provider/anthropic/v1/…) and
// a query (?beta=true) work. The conversation is stateless, derived from each
// request: when the last input is a tool result the model gives the final
// answer (FinalDeclined when the result says the user declined the call); otherwise the latest user text picks a scenario (see Scenario) and
// the model calls a shell or file-writing tool picked from the tools the
// client offers, with arguments filled from that tool's JSON schema. Usage
// numbers are fixed, so tests can assert them.
//
// A Server answers in one Mode for its whole life, as the Python mock did
// (one instance per mode): start one per behaviour a test needs.
//
// Only tests and test tools may import it. It imports the standard library
// only, so it cannot share a client library's misreading of the APIs.
package mockapi
