package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/untether-go/untether/images"
	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/sandbox"
	"github.com/untether-go/untether/sandbox/podman"
)

type imagesOptions struct {
	configPath string
	base       string
	versions   []string
}

func (o *imagesOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.configPath, "config", "", "config file (default $"+config.EnvConfigPath+", else ~/.untether/untether.toml)")
}

func newImagesCommand() *cobra.Command {
	var opts imagesOptions
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Build and list the engines' container images",
	}
	opts.AddFlags(cmd.PersistentFlags())

	build := &cobra.Command{
		Use:   "build [engine...]",
		Short: "Build the configured image of each engine (all engines when none is named)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImagesBuild(cmd.Context(), opts, args, cmd.OutOrStdout())
		},
	}
	build.Flags().StringVar(&opts.base, "base", "", "base image (default: the Containerfile's, a public Debian image; "+images.BaseImage+" after 'untether images base')")
	build.Flags().StringSliceVar(&opts.versions, "version", nil, "pin an engine's CLI version, e.g. --version claude=2.1.332 (repeatable)")

	list := &cobra.Command{
		Use:   "list",
		Short: "Show which configured engine images are present",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImagesList(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	base := &cobra.Command{
		Use:   "base",
		Short: "Make the base image " + images.BaseImage + " locally with debootstrap (no registry needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImagesBase(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.AddCommand(build, list, base)
	return cmd
}

// imagesConfig loads what the image commands need: the Podman URL and the
// image reference of each engine.
func imagesConfig(path string, stdout io.Writer) (*config.Config, *podman.Runner, error) {
	cfg, err := loadConfig(path, stdout)
	if err != nil {
		return nil, nil, err
	}
	return cfg, podman.New(podman.Options{URL: cfg.Sandbox.PodmanURL}), nil
}

func runImagesBuild(ctx context.Context, opts imagesOptions, names []string, out io.Writer) error {
	if len(names) == 0 {
		names = images.Engines()
	}
	for _, n := range names {
		if !slices.Contains(images.Engines(), n) {
			return &exitError{exitConfig, fmt.Errorf("untether: no image for engine %q: engines are %s", n, strings.Join(images.Engines(), ", "))}
		}
	}
	versions := map[string]string{}
	for _, v := range opts.versions {
		name, ver, ok := strings.Cut(v, "=")
		if !ok || !slices.Contains(names, name) || ver == "" {
			return &exitError{exitConfig, fmt.Errorf("untether: --version %q: want <engine>=<version> for an engine being built", v)}
		}
		versions[name] = ver
	}
	cfg, runner, err := imagesConfig(opts.configPath, out)
	if err != nil {
		return err
	}
	for _, name := range names {
		file, err := images.Containerfile(name)
		if err != nil {
			return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
		}
		version := versions[name]
		if version == "" {
			version = images.DefaultVersion(name)
		}
		args := map[string]string{"VERSION": version}
		if opts.base != "" {
			args["BASE"] = opts.base
		}
		tag := cfg.Sandbox.Images[name]
		fmt.Fprintf(out, "building %s (%s %s) …\n", tag, name, version)
		err = runner.BuildImage(ctx, sandbox.ImageBuild{
			Tag: tag, Containerfile: file, Args: args,
			Labels:  map[string]string{sandbox.LabelEngine: name, "untether.engine.version": version},
			Secrets: buildSecrets(),
		}, out)
		if err != nil {
			return &exitError{exitFailure, fmt.Errorf("untether: %w\nhint: is Podman running at %s? Without a registry, make the base first: untether images base, then --base %s", err, cfg.Sandbox.PodmanURL, images.BaseImage)}
		}
		fmt.Fprintf(out, "built %s\n", tag)
	}
	return nil
}

func runImagesList(ctx context.Context, opts imagesOptions, out io.Writer) error {
	cfg, runner, err := imagesConfig(opts.configPath, out)
	if err != nil {
		return err
	}
	present, err := runner.Images(ctx, "")
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	byRef := map[string]sandbox.Image{}
	for _, im := range present {
		byRef[im.Ref] = im
	}
	names := make([]string, 0, len(cfg.Sandbox.Images))
	for n := range cfg.Sandbox.Images {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENGINE\tIMAGE\tSTATUS\tVERSION\tSIZE\tCREATED")
	missing := 0
	for _, n := range names {
		ref := cfg.Sandbox.Images[n]
		im, ok := byRef[ref]
		if !ok {
			missing++
			fmt.Fprintf(tw, "%s\t%s\tmissing\t\t\t\n", n, ref)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\tpresent\t%s\t%s\t%s\n", n, ref, im.Labels["untether.engine.version"],
			fmt.Sprintf("%.0f MB", float64(im.Size)/1e6), im.Created.Format("2006-01-02 15:04"))
	}
	tw.Flush()
	if missing > 0 {
		fmt.Fprintf(out, "\n%d missing: build them with 'untether images build <engine>'.\n", missing)
	}
	return nil
}

// runImagesBase runs the embedded mkbase.sh: debootstrap a Debian minbase
// and import it into Podman.
func runImagesBase(ctx context.Context, stdout, stderr io.Writer) error {
	f, err := os.CreateTemp("", "untether-mkbase-*.sh")
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(images.BaseScript()); err != nil {
		f.Close()
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	f.Close()
	cmd := exec.CommandContext(ctx, "bash", f.Name())
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: making the base image failed: %w", err)}
	}
	return nil
}

// hostCABundle is Debian's CA bundle. Given to the build as the secret "ca",
// npm trusts what the host trusts, e.g. a TLS-intercepting proxy's CA; the
// images mount it for their install steps only.
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

func buildSecrets() map[string]string {
	if _, err := os.Stat(hostCABundle); err != nil {
		return nil
	}
	return map[string]string{"ca": hostCABundle}
}
