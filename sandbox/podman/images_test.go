package podman

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/sandbox"
)

func TestBuildOutput(t *testing.T) {
	const id = "5e8874c726813571410c2b7345537e87c7f3891830f2f0788d66a95cbb2c7318\n"
	for _, tc := range []struct {
		name string
		in   string
		out  string
		err  string // substring; empty: success
	}{
		{name: "success", in: `{"stream":"STEP 1/2: FROM x\n"}{"stream":"COMMIT t\n"}` + "\n" + `{"stream":"` + strings.TrimSpace(id) + `\n"}`,
			out: "STEP 1/2: FROM x\nCOMMIT t\n" + id},
		{name: "error line", in: `{"stream":"STEP 1/1: FROM missing\n"}{"error":"no such image","errorDetail":{"message":"no such image\n"}}`,
			out: "STEP 1/1: FROM missing\n", err: "no such image"},
		{name: "error without detail", in: `{"error":"boom"}`, err: "boom"},
		{name: "ends without an image", in: `{"stream":"STEP 1/2: FROM x\n"}`, out: "STEP 1/2: FROM x\n", err: "unexpected EOF"},
		{name: "cut inside a message", in: `{"stream":"STEP 1/2`, err: "unexpected EOF"},
		{name: "other messages are skipped", in: `{"aux":{"ID":"sha256:5e88"}}{"stream":"` + strings.TrimSpace(id) + `\n"}`, out: id},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := buildOutput(strings.NewReader(tc.in), &out)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
			if out.String() != tc.out {
				t.Errorf("out = %q, want %q", out.String(), tc.out)
			}
		})
	}
}

func TestBuildContextCarriesTheSecrets(t *testing.T) {
	dir := t.TempDir()
	ca, token := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "token")
	os.WriteFile(ca, []byte("CA"), 0o600)
	os.WriteFile(token, []byte("TOKEN"), 0o600)
	body, secrets, err := buildContext(sandbox.ImageBuild{
		Containerfile: []byte("FROM x\n"),
		Secrets:       map[string]string{"token": token, "ca": ca},
	})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(body)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[hdr.Name] = string(data)
	}
	if files["Containerfile"] != "FROM x\n" {
		t.Errorf("Containerfile = %q", files["Containerfile"])
	}
	want := []string{"id=ca,src=.untether-build-secret-0", "id=token,src=.untether-build-secret-1"}
	if !slices.Equal(secrets, want) {
		t.Fatalf("secrets = %q, want %q", secrets, want)
	}
	if files[".untether-build-secret-0"] != "CA" || files[".untether-build-secret-1"] != "TOKEN" {
		t.Errorf("context files = %q", files)
	}
	if _, _, err := buildContext(sandbox.ImageBuild{Secrets: map[string]string{"x": filepath.Join(dir, "missing")}}); err == nil {
		t.Errorf("a missing secret file is no error")
	}
}
