package process

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/untether-go/untether/sandbox"
)

// plan is how one Spec maps onto a host process. makePlan computes it
// without touching the file system; Run carries it out.
type plan struct {
	// dir is the working directory: the host side of spec.Workdir.
	dir string
	// env is the process's whole environment, sorted.
	env []string
	// path is the PATH argv[0] is looked up in (the one the process gets).
	path string
	// volumes are the host directories standing in for the Spec's volumes,
	// created before the run.
	volumes []string
}

// binding maps a path inside the container onto the host.
type binding struct{ target, host string }

// makePlan maps spec onto the host. Volumes become directories under
// homeRoot; the host's PATH is hostPath. Mount sources and targets must be
// absolute. A Spec that asks for isolation this backend cannot give
// (read-only mounts, no network) is refused with errors.ErrUnsupported
// rather than run without it.
func makePlan(spec sandbox.Spec, homeRoot, hostPath string) (plan, error) {
	name := spec.Name
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return plan{}, fmt.Errorf("spec %s: empty argv", name)
	}
	switch spec.Network {
	case sandbox.NetworkDefault, sandbox.NetworkHost:
	case sandbox.NetworkNone:
		return plan{}, fmt.Errorf("spec %s: network %q: a plain process cannot be cut off the network: %w",
			name, spec.Network, errors.ErrUnsupported)
	default:
		return plan{}, fmt.Errorf("spec %s: unknown network %q", name, spec.Network)
	}

	var binds []binding
	var p plan
	for _, m := range spec.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
			return plan{}, fmt.Errorf("spec %s: mount %q → %q: paths must be absolute", name, m.Source, m.Target)
		}
		if m.ReadOnly {
			return plan{}, fmt.Errorf("spec %s: mount %s: a plain process cannot be kept from writing it: %w",
				name, m.Source, errors.ErrUnsupported)
		}
		binds = append(binds, binding{filepath.Clean(m.Target), filepath.Clean(m.Source)})
	}
	home := ""
	for _, v := range spec.Volumes {
		if v.Name == "" || v.Name == "." || v.Name == ".." || strings.ContainsAny(v.Name, "/\x00") {
			return plan{}, fmt.Errorf("spec %s: volume name %q is not a single path element", name, v.Name)
		}
		if !filepath.IsAbs(v.Target) {
			return plan{}, fmt.Errorf("spec %s: volume %s → %q: target must be absolute", name, v.Name, v.Target)
		}
		if !filepath.IsAbs(homeRoot) {
			return plan{}, fmt.Errorf("spec %s: volume %s: the process backend needs an absolute HomeRoot, not %q", name, v.Name, homeRoot)
		}
		dir := filepath.Join(homeRoot, v.Name)
		p.volumes = append(p.volumes, dir)
		target := filepath.Clean(v.Target)
		binds = append(binds, binding{target, dir})
		if target == sandbox.HomeDir {
			home = dir
		}
	}
	// The longest target wins, as the innermost mount does in a container.
	slices.SortStableFunc(binds, func(a, b binding) int { return cmp.Compare(len(b.target), len(a.target)) })

	var ok bool
	if p.dir, ok = hostSide(binds, spec.Workdir); !ok {
		return plan{}, fmt.Errorf("spec %s: workdir %q is not inside a mount or volume", name, spec.Workdir)
	}

	env := map[string]string{"PATH": hostPath}
	for k, v := range spec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return plan{}, fmt.Errorf("spec %s: bad environment variable name %q", name, k)
		}
		if h, ok := hostSide(binds, v); ok {
			v = h
		}
		env[k] = v
	}
	if home != "" {
		env["HOME"] = home
	}
	p.path = env["PATH"]
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	slices.Sort(p.env)
	return p, nil
}

// hostSide maps a path inside the container onto the host: a bound target,
// or a path under one. Anything else is not a path it knows.
func hostSide(binds []binding, p string) (string, bool) {
	if !strings.HasPrefix(p, "/") {
		return "", false
	}
	clean := filepath.Clean(p)
	for _, b := range binds {
		if clean == b.target {
			return b.host, true
		}
		if rest, ok := strings.CutPrefix(clean, b.target+"/"); ok {
			return filepath.Join(b.host, rest), true
		}
		if b.target == "/" {
			return filepath.Join(b.host, clean), true
		}
	}
	return "", false
}

// lookPath finds the program argv[0] names, in path (the PATH the process
// gets) or, for a name with a slash, relative to dir. Relative entries of
// path are skipped: a project must not be able to plant the engine binary.
// A program that is not there wraps ErrEngineNotFound.
func lookPath(file, path, dir string) (string, error) {
	if strings.Contains(file, "/") {
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		if err := executable(file); err != nil {
			return "", fmt.Errorf("engine %s: %w: %w", file, ErrEngineNotFound, err)
		}
		return file, nil
	}
	for _, d := range filepath.SplitList(path) {
		if !filepath.IsAbs(d) {
			continue
		}
		f := filepath.Join(d, file)
		if executable(f) == nil {
			return f, nil
		}
	}
	return "", fmt.Errorf("find engine %q in PATH: %w", file, ErrEngineNotFound)
}

func executable(file string) error {
	fi, err := os.Stat(file)
	switch {
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s is a directory", file)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not executable", file)
	}
	return nil
}
