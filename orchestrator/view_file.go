package orchestrator

import (
	"errors"
	"fmt"
	"strings"

	"github.com/untether-go/untether/internal/projectfs"
)

// What users read about files: pure functions, no I/O.

// voiceOffText answers a voice note when no transcription is configured.
const voiceOffText = "🎙 Voice notes are not transcribed here. To turn it on, add to the bridge's config:\n\n" +
	"[voice]\nbase_url = \"https://api.openai.com/v1\"   # any OpenAI-compatible endpoint\nmodel = \"whisper-1\"\napi_key_file = \"…\""

// uploadNotes tells the agent where the files the user sent are.
func uploadNotes(saved []string) string {
	var b strings.Builder
	for i, rel := range saved {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[uploaded file: %s]", rel) // picturesIn reads them
	}
	return b.String()
}

// savedText acknowledges files saved without a prompt.
func savedText(saved []string) string {
	what := saved[0]
	if len(saved) > 1 {
		what = fmt.Sprintf("%d files: %s", len(saved), strings.Join(saved, ", "))
	}
	return fmt.Sprintf("📎 Saved %s. Your next message here will tell the agent about it.", what)
}

// fileFailure says in one line why file f was not taken.
func fileFailure(f Attachment, err error) string {
	name := f.Name
	if name == "" {
		name = "The " + f.Kind
	}
	return fmt.Sprintf("❌ %s: %s", name, userError(err))
}

// userError is the user's sentence of an error moving a file: the reason
// of a refusal or a size limit; other errors are the bridge's to log.
func userError(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, projectfs.ErrRefused), errors.Is(err, projectfs.ErrTooBig):
		for _, s := range []error{projectfs.ErrRefused, projectfs.ErrTooBig} {
			if i := strings.LastIndex(msg, s.Error()+": "); i >= 0 {
				msg = msg[i+len(s.Error())+2:]
			}
		}
	case errors.Is(err, ErrTooBig):
		// The transport's words on its limit, without its method names.
		if i := strings.Index(msg, "the file is"); i >= 0 {
			msg = strings.TrimSuffix(msg[i:], ": "+ErrTooBig.Error())
		} else {
			msg = "the chat service refused it as too big"
		}
	case errors.Is(err, ErrRefused):
		msg = "the chat service refused it"
	default:
		msg = "it could not be moved (the bridge's log says why)"
	}
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// leftOutText is the caption of a zip that lacks some entries.
func leftOutText(left []string) string {
	const show = 5
	s := strings.Join(left[:min(len(left), show)], ", ")
	if len(left) > show {
		s += fmt.Sprintf(" and %d more", len(left)-show)
	}
	return "Left out (denied, or not regular files): " + s
}

// outboxLeftText lists the outbox files a run did not send.
func outboxLeftText(left []string) string {
	return "📎 Not sent from " + OutboxDir + ":\n" + strings.Join(left, "\n")
}
