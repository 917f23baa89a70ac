package podman

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	buildahDefine "github.com/containers/buildah/define"
	"github.com/containers/podman/v5/pkg/bindings/images"
	entities "github.com/containers/podman/v5/pkg/domain/entities/types"

	"github.com/untether-go/untether/sandbox"
)

// BuildImage builds b with the Podman service, streaming the build's output
// to out. The Containerfile is sent in an otherwise empty context: images
// fetch what they install. Base images are pulled only when missing.
func (r *Runner) BuildImage(ctx context.Context, b sandbox.ImageBuild, out io.Writer) error {
	c, stop, err := r.bind(ctx)
	if err != nil {
		return err
	}
	defer stop()
	dir, err := os.MkdirTemp("", "untether-build-")
	if err != nil {
		return fmt.Errorf("build image %s: %w", b.Tag, err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "Containerfile")
	if err := os.WriteFile(file, b.Containerfile, 0o644); err != nil {
		return fmt.Errorf("build image %s: %w", b.Tag, err)
	}
	var opts entities.BuildOptions
	opts.ContextDirectory = dir
	opts.Output = b.Tag
	opts.Args = b.Args
	opts.Labels = labelList(b.Labels)
	opts.PullPolicy = buildahDefine.PullIfMissing
	opts.Out = out
	opts.Err = out
	opts.ReportWriter = out
	opts.CommonBuildOpts = &buildahDefine.CommonBuildOptions{}
	for id, src := range b.Secrets {
		opts.CommonBuildOpts.Secrets = append(opts.CommonBuildOpts.Secrets, "id="+id+",src="+src)
	}
	sort.Strings(opts.CommonBuildOpts.Secrets)
	opts.Layers = true
	// Without an explicit format the service's layer cache never matches
	// (every build redid every step).
	opts.OutputFormat = buildahDefine.OCIv1ImageManifest
	if _, err := images.Build(c, []string{file}, opts); err != nil {
		return r.unavailable(fmt.Errorf("build image %s: %w", b.Tag, err))
	}
	return nil
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
	c, stop, err := r.bind(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	list, err := images.List(c, nil)
	if err != nil {
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
