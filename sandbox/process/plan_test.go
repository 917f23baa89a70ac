package process

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/untether-go/untether/sandbox"
)

// orchestratorSpec is shaped like the Specs the orchestrator builds.
func orchestratorSpec() sandbox.Spec {
	return sandbox.Spec{
		Name:    "untether-test-run1",
		Image:   "untether-claude",
		Argv:    []string{"claude", "-p"},
		Env:     map[string]string{"HOME": sandbox.HomeDir, "IS_SANDBOX": "1"},
		Workdir: sandbox.WorkspaceDir,
		Mounts:  []sandbox.Mount{{Source: "/src/app", Target: sandbox.WorkspaceDir}},
		Volumes: []sandbox.Volume{{Name: "untether-test-app-claude-home", Target: sandbox.HomeDir}},
		Network: sandbox.NetworkDefault,
		Limits:  sandbox.Limits{MemoryBytes: 1 << 30, Pids: 256, CPUs: 2},
	}
}

func TestMakePlan(t *testing.T) {
	const root, hostPath = "/var/lib/untether/homes", "/usr/local/bin:/usr/bin"
	const home = root + "/untether-test-app-claude-home"
	tests := []struct {
		name    string
		edit    func(*sandbox.Spec)
		dir     string
		env     []string
		path    string
		volumes []string
		err     error // errors.Is target; nil: any error when wantErr
		wantErr bool
	}{
		{
			name:    "orchestrator spec",
			edit:    func(*sandbox.Spec) {},
			dir:     "/src/app",
			env:     []string{"HOME=" + home, "IS_SANDBOX=1", "PATH=" + hostPath},
			path:    hostPath,
			volumes: []string{home},
		},
		{
			name: "container paths in env are rewritten, lookalikes are not",
			edit: func(s *sandbox.Spec) {
				s.Env["XDG_CONFIG_HOME"] = sandbox.HomeDir + "/.config"
				s.Env["PROJECT"] = sandbox.WorkspaceDir
				s.Env["OTHER"] = sandbox.HomeDir + "x"
				s.Env["ESCAPE"] = sandbox.HomeDir + "/../../etc"
				s.Env["WORD"] = "workspace"
			},
			dir: "/src/app",
			env: []string{"ESCAPE=/home/agent/../../etc", "HOME=" + home, "IS_SANDBOX=1", "OTHER=/home/agentx",
				"PATH=" + hostPath, "PROJECT=/src/app", "WORD=workspace", "XDG_CONFIG_HOME=" + home + "/.config"},
			path:    hostPath,
			volumes: []string{home},
		},
		{
			name:    "HOME is the home volume even when the spec sets another",
			edit:    func(s *sandbox.Spec) { s.Env["HOME"] = "/root" },
			dir:     "/src/app",
			env:     []string{"HOME=" + home, "IS_SANDBOX=1", "PATH=" + hostPath},
			path:    hostPath,
			volumes: []string{home},
		},
		{
			name:    "the spec's PATH wins over the host's",
			edit:    func(s *sandbox.Spec) { s.Env["PATH"] = "/opt/engine/bin" },
			dir:     "/src/app",
			env:     []string{"HOME=" + home, "IS_SANDBOX=1", "PATH=/opt/engine/bin"},
			path:    "/opt/engine/bin",
			volumes: []string{home},
		},
		{
			name: "no volumes: no home root needed, HOME left alone",
			edit: func(s *sandbox.Spec) { s.Volumes = nil; delete(s.Env, "HOME") },
			dir:  "/src/app",
			env:  []string{"IS_SANDBOX=1", "PATH=" + hostPath},
			path: hostPath,
		},
		{
			name:    "workdir below the mount",
			edit:    func(s *sandbox.Spec) { s.Workdir = sandbox.WorkspaceDir + "/sub/dir/" },
			dir:     "/src/app/sub/dir",
			env:     []string{"HOME=" + home, "IS_SANDBOX=1", "PATH=" + hostPath},
			path:    hostPath,
			volumes: []string{home},
		},
		{
			name:    "workdir in the home volume",
			edit:    func(s *sandbox.Spec) { s.Workdir = sandbox.HomeDir },
			dir:     home,
			env:     []string{"HOME=" + home, "IS_SANDBOX=1", "PATH=" + hostPath},
			path:    hostPath,
			volumes: []string{home},
		},
		{
			name: "the innermost mount wins",
			edit: func(s *sandbox.Spec) {
				s.Mounts = append(s.Mounts, sandbox.Mount{Source: "/data", Target: sandbox.WorkspaceDir + "/data"})
				s.Workdir = sandbox.WorkspaceDir + "/data/x"
			},
			dir:     "/data/x",
			env:     []string{"HOME=" + home, "IS_SANDBOX=1", "PATH=" + hostPath},
			path:    hostPath,
			volumes: []string{home},
		},
		{name: "workdir outside every mount", edit: func(s *sandbox.Spec) { s.Workdir = "/etc" }, wantErr: true},
		{name: "empty workdir", edit: func(s *sandbox.Spec) { s.Workdir = "" }, wantErr: true},
		{name: "relative workdir", edit: func(s *sandbox.Spec) { s.Workdir = "workspace" }, wantErr: true},
		{name: "empty argv", edit: func(s *sandbox.Spec) { s.Argv = nil }, wantErr: true},
		{name: "empty program", edit: func(s *sandbox.Spec) { s.Argv = []string{""} }, wantErr: true},
		{name: "no network is refused", edit: func(s *sandbox.Spec) { s.Network = sandbox.NetworkNone }, wantErr: true, err: errors.ErrUnsupported},
		{name: "unknown network", edit: func(s *sandbox.Spec) { s.Network = "bridge0" }, wantErr: true},
		{
			name:    "read-only mount is refused",
			edit:    func(s *sandbox.Spec) { s.Mounts[0].ReadOnly = true },
			wantErr: true, err: errors.ErrUnsupported,
		},
		{name: "relative mount source", edit: func(s *sandbox.Spec) { s.Mounts[0].Source = "src/app" }, wantErr: true},
		{name: "volume name with a slash", edit: func(s *sandbox.Spec) { s.Volumes[0].Name = "../etc" }, wantErr: true},
		{name: "volume name dot-dot", edit: func(s *sandbox.Spec) { s.Volumes[0].Name = ".." }, wantErr: true},
		{name: "empty volume name", edit: func(s *sandbox.Spec) { s.Volumes[0].Name = "" }, wantErr: true},
		{name: "relative volume target", edit: func(s *sandbox.Spec) { s.Volumes[0].Target = "home" }, wantErr: true},
		{name: "bad env name", edit: func(s *sandbox.Spec) { s.Env["A=B"] = "x" }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := orchestratorSpec()
			tt.edit(&spec)
			p, err := makePlan(spec, root, hostPath)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("makePlan = %+v, want an error", p)
				}
				if tt.err != nil && !errors.Is(err, tt.err) {
					t.Fatalf("makePlan error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.dir != tt.dir {
				t.Errorf("dir = %q, want %q", p.dir, tt.dir)
			}
			if !slices.Equal(p.env, tt.env) {
				t.Errorf("env = %q\nwant  %q", p.env, tt.env)
			}
			if p.path != tt.path {
				t.Errorf("path = %q, want %q", p.path, tt.path)
			}
			if !slices.Equal(p.volumes, tt.volumes) {
				t.Errorf("volumes = %q, want %q", p.volumes, tt.volumes)
			}
		})
	}
}

func TestMakePlanNeedsAbsoluteHomeRoot(t *testing.T) {
	for _, root := range []string{"", "homes"} {
		if _, err := makePlan(orchestratorSpec(), root, "/usr/bin"); err == nil {
			t.Errorf("HomeRoot %q: no error", root)
		}
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bin := write("bin/engine", 0o755)
	write("bin/data", 0o644)
	write("other/engine", 0o755)
	if err := os.Mkdir(filepath.Join(dir, "bin", "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	binDir := filepath.Join(dir, "bin")

	tests := []struct {
		name, file, path, dir string
		want                  string // "": ErrEngineNotFound
	}{
		{name: "in PATH", file: "engine", path: "/nonexistent:" + binDir, want: bin},
		{name: "first PATH entry wins", file: "engine", path: binDir + ":" + filepath.Join(dir, "other"), want: bin},
		{name: "not in PATH", file: "engine", path: "/nonexistent"},
		{name: "empty PATH", file: "engine", path: ""},
		{name: "not executable", file: "data", path: binDir},
		{name: "a directory", file: "adir", path: binDir},
		{name: "relative PATH entries are skipped", file: "engine", path: "bin:.", dir: dir},
		{name: "absolute name", file: bin, path: "", want: bin},
		{name: "absolute name missing", file: filepath.Join(dir, "nope"), path: binDir},
		{name: "name with a slash is relative to the workdir", file: "bin/engine", path: "", dir: dir, want: bin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "relative PATH entries are skipped" {
				t.Chdir(binDir) // so that "." would find it
			}
			got, err := lookPath(tt.file, tt.path, tt.dir)
			if tt.want == "" {
				if !errors.Is(err, ErrEngineNotFound) {
					t.Fatalf("lookPath = %q, %v; want ErrEngineNotFound", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("lookPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
