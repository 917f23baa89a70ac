package podman

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// BuildImage builds b with the Podman service, streaming the build's output
// to out. The Containerfile is sent in an otherwise empty context: images
// fetch what they install. Base images are pulled only when missing.
func (r *Runner) BuildImage(ctx context.Context, b sandbox.ImageBuild, out io.Writer) error {
	body, secrets, err := buildContext(b)
	if err != nil {
		return fmt.Errorf("build image %s: %w", b.Tag, err)
	}
	q := url.Values{
		"dockerfile": {`["` + containerfileName + `"]`},
		"t":          {b.Tag},
		"pullpolicy": {"missing"},
		"layers":     {"1"},
		// Without an explicit format the service's layer cache never
		// matches (every build redid every step).
		"outputformat": {ociManifest},
	}
	if len(b.Args) > 0 {
		q.Set("buildargs", jsonParam(b.Args))
	}
	if len(b.Labels) > 0 {
		q.Set("labels", jsonParam(labelList(b.Labels)))
	}
	if len(secrets) > 0 {
		q.Set("secrets", jsonParam(secrets))
	}
	req, err := r.api.request(ctx, http.MethodPost, "/build", q, body)
	if err != nil {
		return fmt.Errorf("build image %s: %w", b.Tag, err)
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := r.api.do(req)
	if err != nil {
		return r.unavailable(fmt.Errorf("build image %s: %w", b.Tag, err))
	}
	defer resp.Body.Close()
	if err := buildOutput(resp.Body, out); err != nil {
		return r.unavailable(fmt.Errorf("build image %s: %w", b.Tag, err))
	}
	return nil
}

const (
	containerfileName = "Containerfile"
	ociManifest       = "application/vnd.oci.image.manifest.v1+json"
)

// jsonParam encodes a query parameter the service reads as JSON. The maps
// and slices of strings it is given always encode.
func jsonParam(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

// buildContext returns the build's context, a tar of the Containerfile and
// the files of the build's secrets, and the secrets' options: for a remote
// build, the service takes a secret's file from the context (and moves it
// out before the build runs).
func buildContext(b sandbox.ImageBuild) (*bytes.Buffer, []string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Now(), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add(containerfileName, 0o644, b.Containerfile); err != nil {
		return nil, nil, err
	}
	ids := slices.Sorted(maps.Keys(b.Secrets))
	secrets := make([]string, 0, len(ids))
	for i, id := range ids {
		data, err := os.ReadFile(b.Secrets[id])
		if err != nil {
			return nil, nil, fmt.Errorf("secret %s: %w", id, err)
		}
		name := fmt.Sprintf(".untether-build-secret-%d", i)
		if err := add(name, 0o600, data); err != nil {
			return nil, nil, err
		}
		secrets = append(secrets, "id="+id+",src="+name)
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	return &buf, secrets, nil
}

// buildOutput copies the build's JSON messages to out, their "stream" text
// as it comes, and returns the error the build ended with. A build that
// succeeded ends with the image's id; a stream that ends before either
// is an error too.
func buildOutput(body io.Reader, out io.Writer) error {
	dec := json.NewDecoder(body)
	built := false
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) && built {
				return nil
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read build output: %w", err)
		}
		switch {
		case m.ErrorDetail != nil && m.ErrorDetail.Message != "":
			return errors.New(strings.TrimSpace(m.ErrorDetail.Message))
		case m.Error != "":
			return errors.New(strings.TrimSpace(m.Error))
		case m.Stream != "":
			io.WriteString(out, m.Stream)
			built = built || isImageID(m.Stream)
		}
	}
}

// isImageID reports whether a line of build output starts with an image
// id, as the line a successful build ends with does.
func isImageID(line string) bool {
	if len(line) < 12 {
		return false
	}
	for _, c := range line[:12] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func labelList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Images lists the local images whose reference starts with prefix (all
// images for an empty prefix), sorted by reference.
func (r *Runner) Images(ctx context.Context, prefix string) ([]sandbox.Image, error) {
	var list []struct {
		ID       string `json:"Id"`
		RepoTags []string
		Created  int64
		Size     int64
		Labels   map[string]string
	}
	if err := r.api.call(ctx, http.MethodGet, "/images/json", nil, nil, &list); err != nil {
		return nil, r.unavailable(fmt.Errorf("list images: %w", err))
	}
	var out []sandbox.Image
	for _, im := range list {
		for _, ref := range im.RepoTags {
			if !strings.HasPrefix(ref, prefix) {
				continue
			}
			out = append(out, sandbox.Image{
				Ref: ref, ID: im.ID, Size: im.Size, Labels: im.Labels,
				Created: time.Unix(im.Created, 0),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}
