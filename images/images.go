// Package images carries the engine images' build recipes inside the daemon's
// binary, so `untether images build` needs no checkout: one Containerfile per
// engine (images/<engine>/Containerfile) and the script that makes their base
// image without a container registry (images/base/mkbase.sh).
//
// Every engine Containerfile builds from an empty context (it copies nothing
// in: the CLI comes from npm at the pinned ARG VERSION), takes ARG BASE (the
// public debian:bookworm-slim by default, or BaseImage) and ARG VERSION, and
// leaves the argv to the daemon (no ENTRYPOINT). images/testengine is not an
// engine image: it wraps the module's own fake CLIs and is built by
// engines/enginetest.
//
// A build is, per engine, with the Containerfile in an otherwise empty
// context directory:
//
//	podman build --build-arg BASE=<BaseImage or a registry image> [--build-arg VERSION=<v>] \
//	    [--secret id=ca,src=<CA bundle>] -t localhost/untether-<engine>:latest -f <Containerfile> <context>
//
// The ca secret is only needed behind a TLS-intercepting proxy: npm then
// trusts the bundle for the install steps, and nothing of it stays in the
// image. The apt, user and untether-stdin steps are the same in every engine
// image, so the first engine built pays for them and the others reuse the
// layers. untether-stdin is the helper sandbox/podman runs interactive
// sessions with (a live stdin that outlives the bridge); an image built
// before it existed lacks it and must be built again.
//
// It imports the standard library only; cmd/untether imports it.
package images

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// BaseImage is the name mkbase.sh gives the base it makes. Build an engine
// image from it with --build-arg BASE=BaseImage.
const BaseImage = "localhost/untether-base:bookworm"

// ErrUnknownEngine is returned for an engine that has no image here.
var ErrUnknownEngine = errors.New("unknown engine")

//go:embed */Containerfile base/mkbase.sh
var files embed.FS

// Engines returns the names of the engines that have an image, sorted: the
// directories whose Containerfile pins a published CLI with ARG VERSION.
func Engines() []string {
	matches, err := fs.Glob(files, "*/Containerfile")
	if err != nil {
		panic(fmt.Sprintf("images: glob embedded files: %v", err)) // the pattern is constant
	}
	var engines []string
	for _, m := range matches {
		data, err := files.ReadFile(m)
		if err != nil {
			panic(fmt.Sprintf("images: read embedded %s: %v", m, err))
		}
		if argDefault(data, "VERSION") != "" {
			engines = append(engines, path.Dir(m))
		}
	}
	slices.Sort(engines)
	return engines
}

// Containerfile returns the engine's Containerfile; the caller may modify the
// slice. The build context can be an empty directory. An engine without an
// image gives an error wrapping ErrUnknownEngine.
func Containerfile(engine string) ([]byte, error) {
	if !slices.Contains(Engines(), engine) {
		return nil, fmt.Errorf("containerfile for %q: %w", engine, ErrUnknownEngine)
	}
	return files.ReadFile(engine + "/Containerfile")
}

// DefaultVersion is the CLI version the engine's image installs unless
// --build-arg VERSION=... says otherwise (the version its fixtures were
// captured with); empty for an unknown engine.
func DefaultVersion(engine string) string {
	data, err := Containerfile(engine)
	if err != nil {
		return ""
	}
	return argDefault(data, "VERSION")
}

// BaseScript returns images/base/mkbase.sh, the bash script that makes
// BaseImage with debootstrap and `podman import` (run it with bash; it takes
// --force, --mirror URL and --image NAME). The caller may modify the slice.
func BaseScript() []byte {
	data, err := files.ReadFile("base/mkbase.sh")
	if err != nil {
		panic(fmt.Sprintf("images: read embedded base/mkbase.sh: %v", err)) // embedded at build time
	}
	return data
}

// argDefault returns the default of `ARG NAME=VALUE` in a Containerfile
// (quotes removed); empty when there is none.
func argDefault(containerfile []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(containerfile))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 || !strings.EqualFold(fields[0], "ARG") {
			continue
		}
		key, value, ok := strings.Cut(fields[1], "=")
		if ok && key == name {
			return strings.Trim(value, `"'`)
		}
	}
	return ""
}
