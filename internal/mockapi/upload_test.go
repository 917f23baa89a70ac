package mockapi

import (
	"encoding/base64"
	"fmt"
	"testing"
)

func TestUploadedPictureIsRead(t *testing.T) {
	tools := []string{"Bash", "Read"}
	first := `[{"role":"user","content":"what is this?\n\n[uploaded file: incoming/photo_5.jpg]"}]`
	a, ok := decideUpload(turn(t, tools, first))
	if !ok || a.tool != "Read" || fmt.Sprint(a.args) != fmt.Sprint(obj("file_path", "/workspace/incoming/photo_5.jpg")) {
		t.Fatalf("first turn = %+v %v", a, ok)
	}
	img := base64.StdEncoding.EncodeToString([]byte("JPEGDATA"))
	second := `[{"role":"user","content":"what is this?\n\n[uploaded file: incoming/photo_5.jpg]"},
		{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Read","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"` + img + `"}}]}]}]`
	if a, ok := decideUpload(turn(t, tools, second)); !ok || a.text != FinalImage("image/jpeg", 8) {
		t.Fatalf("second turn = %+v %v", a, ok)
	}
	if _, ok := decideUpload(turn(t, tools, `[{"role":"user","content":"[uploaded file: incoming/build.log] why?"}]`)); ok {
		t.Fatal("a log file was taken for a picture")
	}
}
