package projectfs

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var deny = []string{".git/**", ".env*", "**/.env*", "**/*.pem", "**/id_*"}

func project(t *testing.T) (*FS, string) {
	t.Helper()
	dir := t.TempDir()
	p, err := Open(dir, deny, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, dir
}

func TestRefusedPaths(t *testing.T) {
	p, dir := project(t)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "out"))
	os.Symlink("/etc/passwd", filepath.Join(dir, "passwd"))
	os.Mkdir(filepath.Join(dir, ".git"), 0o755)
	os.WriteFile(filepath.Join(dir, ".git", "config"), []byte("x"), 0o644)
	os.Symlink(".git/config", filepath.Join(dir, "gitconfig"))
	for rel, want := range map[string]string{
		"../../etc/passwd": "leads out of the project",
		"a/../../x":        "leads out of the project",
		"/etc/passwd":      "is absolute",
		"out/secret":       "symlink that leads out",
		"passwd":           "symlink that leads out",
		".env":             `denied by the rule ".env*"`,
		"sub/.env.local":   `denied by the rule "**/.env*"`,
		".git/config":      `denied by the rule ".git/**"`,
		"keys/id_ed25519":  `denied by the rule "**/id_*"`,
		"gitconfig":        `leads to .git/config, denied`,
		"":                 "no path given",
	} {
		_, err := p.Export(rel, t.TempDir(), 1<<20)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Errorf("get %q: %v, want %q", rel, err, want)
		}
		if rel == "" {
			continue
		}
		_, _, err = p.Save(rel, strings.NewReader("x"), 10, true)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Errorf("put %q: %v, want %q", rel, err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "s" {
		t.Fatal("a write went out of the project")
	}
}

func TestSaveRoundTrip(t *testing.T) {
	p, dir := project(t)
	data := make([]byte, 300<<10)
	rand.Read(data)
	got, n, err := p.Save("a/b/blob.bin", bytes.NewReader(data), 1<<20, false)
	if err != nil || got != "a/b/blob.bin" || n != int64(len(data)) {
		t.Fatalf("save = %q %d %v", got, n, err)
	}
	if _, _, err := p.Save("a/b/blob.bin", strings.NewReader("new"), 10, false); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("save over = %v", err)
	}
	e, err := p.Export("a/b/blob.bin", t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if b, _ := os.ReadFile(e.Path); !bytes.Equal(b, data) || e.Name != "blob.bin" || e.Zip {
		t.Fatalf("export = %+v", e)
	}
	if _, _, err := p.Save("a/b/blob.bin", strings.NewReader("new"), 10, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a/b/blob.bin")); string(b) != "new" {
		t.Fatalf("forced = %q", b)
	}
	assertNoTemp(t, dir)
}

func TestSaveTooBigLeavesNothing(t *testing.T) {
	p, dir := project(t)
	_, _, err := p.Save("big.bin", bytes.NewReader(make([]byte, 2<<20)), 1<<20, false)
	if !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "big.bin")); !os.IsNotExist(err) {
		t.Fatal("big.bin exists")
	}
	assertNoTemp(t, dir)
}

func TestSaveNewNumbersCollisions(t *testing.T) {
	p, dir := project(t)
	var got []string
	for range 3 {
		rel, _, err := p.SaveNew("incoming", "shot.png", strings.NewReader("png"), 10)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rel)
	}
	if strings.Join(got, " ") != "incoming/shot.png incoming/shot_1.png incoming/shot_2.png" {
		t.Fatalf("names = %q", got)
	}
	for name, want := range map[string]string{"../../x.txt": "x.txt", ".bashrc": "bashrc", "": "file", `C:\a\b.txt`: "b.txt"} {
		if got := SafeName(name); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", name, got, want)
		}
	}
	if _, _, err := p.SaveNew("incoming", ".env", strings.NewReader("x"), 10); err != nil {
		t.Fatalf("a hidden name is made visible, not refused: %v", err)
	}
	if _, _, err := p.SaveNew("incoming", "key.pem", strings.NewReader("x"), 10); !errors.Is(err, ErrRefused) {
		t.Fatalf("key.pem saved: %v", err)
	}
	assertNoTemp(t, dir)
}

func TestSaveGivesOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	p, err := Open(dir, deny, &Owner{UID: 1000, GID: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.SaveNew("incoming/new", "f.txt", strings.NewReader("x"), 10); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"incoming", "incoming/new", "incoming/new/f.txt"} {
		fi, err := os.Stat(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if uid, gid := owner(fi); uid != 1000 || gid != 1000 {
			t.Errorf("%s owned by %d:%d", rel, uid, gid)
		}
	}
}

func TestExportFolderAsZip(t *testing.T) {
	p, dir := project(t)
	os.MkdirAll(filepath.Join(dir, "out/sub"), 0o755)
	big := make([]byte, 3<<20)
	rand.Read(big)
	os.WriteFile(filepath.Join(dir, "out/big.bin"), big, 0o644)
	os.WriteFile(filepath.Join(dir, "out/sub/a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "out/.env"), []byte("SECRET"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "out/passwd"))
	e, err := p.Export("out", t.TempDir(), 50<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Name != "out.zip" || !e.Zip || strings.Join(e.Left, " ") != ".env passwd" {
		t.Fatalf("export = %+v", e)
	}
	zr, err := zip.OpenReader(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	if len(files) != 2 || !bytes.Equal(files["big.bin"], big) || string(files["sub/a.txt"]) != "a" {
		t.Fatalf("zip holds %d files", len(files))
	}
	if _, err := p.Export("out", t.TempDir(), 1<<20); !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "1 MiB limit") {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestOutbox(t *testing.T) {
	p, dir := project(t)
	if files, _, err := p.Outbox(".untether-outbox"); err != nil || files != nil {
		t.Fatalf("missing outbox = %q %v", files, err)
	}
	os.MkdirAll(filepath.Join(dir, ".untether-outbox/sub"), 0o755)
	os.WriteFile(filepath.Join(dir, ".untether-outbox/b.png"), []byte("b"), 0o644)
	os.WriteFile(filepath.Join(dir, ".untether-outbox/a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, ".untether-outbox/"+tempPrefix+"x"), []byte("a"), 0o644)
	files, other, err := p.Outbox(".untether-outbox")
	if err != nil || strings.Join(files, " ") != ".untether-outbox/a.txt .untether-outbox/b.png" || strings.Join(other, " ") != ".untether-outbox/sub" {
		t.Fatalf("outbox = %q %q %v", files, other, err)
	}
	if err := p.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), tempPrefix) {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}
