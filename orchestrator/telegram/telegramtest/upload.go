package telegramtest

import (
	"fmt"
	"strings"
)

// sendDocument sends a general file: an upload (multipart/form-data, up to
// 50 MB, 2000 MB on a local server), attach://<name> or a file_id.
func (s *Server) sendDocument(r *request) (any, *apiError) {
	return s.sendFileLocked(r, KindDocument)
}

// sendPhoto sends a photo: a JPEG, PNG or GIF of at most 10 MB whose width
// and height add up to at most 10000 and whose sides' ratio is at most 20,
// or a photo's file_id.
func (s *Server) sendPhoto(r *request) (any, *apiError) {
	return s.sendFileLocked(r, KindPhoto)
}

// sendFileLocked validates as sendMessage does, with caption rules for the
// text, then stores the file and the message.
func (s *Server) sendFileLocked(r *request, kind string) (any, *apiError) {
	cs, aerr := s.chatLocked(r.p)
	if aerr != nil {
		return nil, aerr
	}
	caption, _ := r.p.str("caption")
	if utf16Len(caption) > maxCaptionLen {
		return nil, badRequest("message caption is too long")
	}
	sp, aerr := readSend(cs, r.p, "caption_entities", caption)
	if aerr != nil {
		return nil, aerr
	}
	up, reuse, aerr := s.inputFileLocked(r, kind)
	if aerr != nil {
		return nil, aerr
	}
	if up != nil {
		if aerr := checkUpload(kind, up.data); aerr != nil {
			return nil, aerr
		}
	}
	if aerr := s.admitLocked(r, cs, true); aerr != nil {
		return nil, aerr
	}
	md := &media{kind: kind, caption: caption, entities: sp.entities}
	switch {
	case reuse != nil:
		md.files, md.name, md.mime = reuse.files, reuse.name, reuse.mime
	case kind == KindPhoto:
		w, h, _ := photoSize(up.data)
		md.files = s.storePhotoLocked(up.data, w, h, 0)
	default:
		md.name, md.mime = up.name, mimeOf(up.name, "application/octet-stream")
		md.files = []*storedFile{s.storeLocked(kind, up.name, up.data, 0)}
	}
	m := &message{threadID: sp.thread, replyTo: sp.replyTo, from: s.botUser(), media: md,
		markup: sp.markup, sentAt: r.now}
	cs.add(m)
	return cs.wireMessage(m, true), nil
}

// inputFileLocked finds the file a send names in the field named kind: a
// file part, attach://<part>, or the file_id of a file of the same kind
// (reuse, as the media of an earlier message).
func (s *Server) inputFileLocked(r *request, kind string) (*upload, *media, *apiError) {
	if up, ok := r.files[kind]; ok {
		return &up, nil, nil
	}
	ref, _ := r.p.str(kind)
	switch {
	case ref == "":
		return nil, nil, badRequest("there is no " + kind + " in the request")
	case strings.HasPrefix(ref, "attach://"):
		up, ok := r.files[strings.TrimPrefix(ref, "attach://")]
		if !ok {
			return nil, nil, badRequest("wrong file identifier/HTTP URL specified")
		}
		return &up, nil, nil
	case strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://"):
		return nil, nil, badRequest("failed to get HTTP URL content")
	}
	md := s.mediaOfFileLocked(ref)
	switch {
	case md == nil:
		return nil, nil, badRequest("wrong file identifier/HTTP URL specified")
	case md.kind != kind:
		return nil, nil, badRequest("type of file mismatch")
	}
	return nil, md, nil
}

// mediaOfFileLocked finds the media a file_id belongs to; nil if none.
func (s *Server) mediaOfFileLocked(fileID string) *media {
	if s.files[fileID] == nil {
		return nil
	}
	for _, cs := range s.chats {
		for _, m := range cs.msgs {
			if m.media == nil {
				continue
			}
			for _, f := range m.media.files {
				if f.id == fileID {
					return m.media
				}
			}
		}
	}
	return nil
}

// checkUpload applies the rules of an uploaded file.
func checkUpload(kind string, data []byte) *apiError {
	if len(data) == 0 {
		return badRequest("file must be non-empty")
	}
	if kind != KindPhoto {
		return nil
	}
	if len(data) > maxPhotoBytes {
		return badRequest(fmt.Sprintf("file of size %d bytes is too big for a photo; the maximum size is %d bytes",
			len(data), maxPhotoBytes))
	}
	w, h, ok := photoSize(data)
	switch {
	case !ok:
		return badRequest("IMAGE_PROCESS_FAILED")
	case w+h > 10000 || max(w, h) > 20*min(w, h):
		return badRequest("PHOTO_INVALID_DIMENSIONS")
	}
	return nil
}
