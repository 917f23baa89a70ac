package mockapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// An uploaded picture (Anthropic API only): when the user's words name a
// file the bridge saved, "[uploaded file: incoming/x.png]", the model reads
// it with the Read tool at /workspace/<path>; Claude Code answers with the
// picture as an image block, and the model says what it got:
// FinalImage's text, with the block's media type and decoded size, or
// FinalNoImage when the result held no image.
const (
	FinalImagePrefix = "I see the picture: "
	FinalNoImage     = "The file came back without a picture."
)

// FinalImage is the answer to a picture of mediaType and size bytes.
func FinalImage(mediaType string, size int) string {
	return fmt.Sprintf("%s%s, %d bytes.", FinalImagePrefix, mediaType, size)
}

var uploadedFile = regexp.MustCompile(`\[uploaded file: ([^\]\n]+)\]`)

// decideUpload answers a conversation about an uploaded picture; ok is
// false for every other one.
func decideUpload(t anthropicTurn) (answer, bool) {
	m := uploadedFile.FindStringSubmatch(t.lastText)
	if m == nil || !isPictureName(m[1]) {
		return answer{}, false
	}
	if r := t.lastResult; r != nil {
		if r.tool != "Read" {
			return answer{}, false
		}
		if mt, n, ok := imageBlock(r.raw); ok {
			return answer{text: FinalImage(mt, n), summary: "image"}, true
		}
		return answer{text: FinalNoImage, summary: "no image"}, true
	}
	if _, ok := t.tools["Read"]; !ok {
		return answer{}, false
	}
	return answer{tool: "Read", args: obj("file_path", path.Join("/workspace", m[1])), summary: "tool:Read"}, true
}

func isPictureName(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".gif", ".webp":
		return true
	}
	return false
}

// imageBlock finds a base64 image block in a tool result's content.
func imageBlock(raw json.RawMessage) (mediaType string, size int, ok bool) {
	var blocks []struct {
		Type   string `json:"type"`
		Source struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
		} `json:"source"`
	}
	if json.Unmarshal(raw, &blocks) != nil {
		return "", 0, false
	}
	for _, b := range blocks {
		if b.Type != "image" || b.Source.Type != "base64" {
			continue
		}
		data, err := base64.StdEncoding.DecodeString(b.Source.Data)
		if err != nil {
			return "", 0, false
		}
		return b.Source.MediaType, len(data), true
	}
	return "", 0, false
}
