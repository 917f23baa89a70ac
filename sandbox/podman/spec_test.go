package podman

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// sentSpec is the container spec as podman reads it: specgen's and the OCI
// runtime-spec's JSON names, written out here apart from the package's own
// so that a misspelt name fails.
type sentSpec struct {
	Name             string            `json:"name"`
	Image            string            `json:"image"`
	Command          []string          `json:"command"`
	Entrypoint       []string          `json:"entrypoint"`
	Env              map[string]string `json:"env"`
	Labels           map[string]string `json:"labels"`
	LogConfiguration *struct {
		Driver string `json:"driver"`
	} `json:"log_configuration"`
	WorkDir  string `json:"work_dir"`
	Terminal *bool  `json:"terminal"`
	Stdin    *bool  `json:"stdin"`
	Mounts   []struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options"`
	} `json:"mounts"`
	Volumes []struct {
		Name string `json:"Name"`
		Dest string `json:"Dest"`
	} `json:"volumes"`
	NetNS          sentNamespace `json:"netns"`
	UserNS         sentNamespace `json:"userns"`
	ResourceLimits *struct {
		Memory *struct {
			Limit *int64 `json:"limit"`
			Swap  *int64 `json:"swap"`
		} `json:"memory"`
		CPU *struct {
			Quota  *int64  `json:"quota"`
			Period *uint64 `json:"period"`
		} `json:"cpu"`
		Pids *struct {
			Limit int64 `json:"limit"`
		} `json:"pids"`
	} `json:"resource_limits"`
	OOMScoreAdj        *int     `json:"oom_score_adj"`
	CapDrop            []string `json:"cap_drop"`
	NoNewPrivileges    *bool    `json:"no_new_privileges"`
	ReadOnlyFilesystem *bool    `json:"read_only_filesystem"`
	ReadWriteTmpfs     *bool    `json:"read_write_tmpfs"`
	StopTimeout        *uint    `json:"stop_timeout"`
	Remove             *bool    `json:"remove"`
}

type sentNamespace struct {
	NSMode string `json:"nsmode"`
	Value  string `json:"value"`
}

// sent returns the JSON the Runner sends to create s's container, as podman
// decodes it; a field podman does not know fails the test.
func sent(t *testing.T, s sandbox.Spec, rootless bool) sentSpec {
	t.Helper()
	data, err := json.Marshal(containerSpecFor(s, rootless))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var g sentSpec
	if err := dec.Decode(&g); err != nil {
		t.Fatalf("spec %s: %v", data, err)
	}
	return g
}

func TestResources(t *testing.T) {
	cases := []struct {
		name                 string
		in                   sandbox.Limits
		mem, swap, pids      int64
		quota                int64
		noMem, noPids, noCPU bool
	}{
		{name: "none", in: sandbox.Limits{}, noMem: true, noPids: true, noCPU: true},
		{name: "memory without swap", in: sandbox.Limits{MemoryBytes: 256 << 20}, mem: 256 << 20, swap: 256 << 20, noPids: true, noCPU: true},
		{name: "swap below memory is memory", in: sandbox.Limits{MemoryBytes: 1 << 30, SwapBytes: 1}, mem: 1 << 30, swap: 1 << 30, noPids: true, noCPU: true},
		{name: "swap above memory", in: sandbox.Limits{MemoryBytes: 1 << 30, SwapBytes: 2 << 30}, mem: 1 << 30, swap: 2 << 30, noPids: true, noCPU: true},
		{name: "pids", in: sandbox.Limits{Pids: 128}, pids: 128, noMem: true, noCPU: true},
		{name: "fractional cpus", in: sandbox.Limits{CPUs: 1.5, Timeout: time.Minute}, quota: 150_000, noMem: true, noPids: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := sent(t, sandbox.Spec{Name: "n", Image: "i", Argv: []string{"x"}, Limits: tc.in}, false).ResourceLimits
			if r == nil {
				t.Fatalf("no resource_limits sent")
			}
			if (r.Memory == nil) != tc.noMem || (r.Pids == nil) != tc.noPids || (r.CPU == nil) != tc.noCPU {
				t.Fatalf("resources(%+v) = %+v", tc.in, r)
			}
			if r.Memory != nil && (*r.Memory.Limit != tc.mem || *r.Memory.Swap != tc.swap) {
				t.Errorf("memory = %d swap = %d, want %d %d", *r.Memory.Limit, *r.Memory.Swap, tc.mem, tc.swap)
			}
			if r.Pids != nil && r.Pids.Limit != tc.pids {
				t.Errorf("pids = %d, want %d", r.Pids.Limit, tc.pids)
			}
			if r.CPU != nil && (*r.CPU.Quota != tc.quota || *r.CPU.Period != cpuPeriod) {
				t.Errorf("cpu = %d/%d, want %d/%d", *r.CPU.Quota, *r.CPU.Period, tc.quota, cpuPeriod)
			}
		})
	}
}

func TestSpecSecurityDefaults(t *testing.T) {
	g := sent(t, sandbox.Spec{
		Name: "n", Image: "i", Argv: []string{"claude", "-p"},
		Mounts:  []sandbox.Mount{{Source: "/src", Target: sandbox.WorkspaceDir}},
		Volumes: []sandbox.Volume{{Name: "v", Target: sandbox.HomeDir}},
		Network: sandbox.NetworkNone,
	}, false)
	if len(g.CapDrop) != 1 || g.CapDrop[0] != "ALL" || !*g.NoNewPrivileges || !*g.ReadOnlyFilesystem {
		t.Errorf("security defaults missing: capdrop=%v nnp=%v ro=%v", g.CapDrop, *g.NoNewPrivileges, *g.ReadOnlyFilesystem)
	}
	if len(g.Mounts) != 2 || g.Mounts[0].Source != "/src" || g.Mounts[0].Options[1] != "rw" ||
		g.Mounts[1].Type != "tmpfs" || g.Mounts[1].Destination != "/tmp" {
		t.Errorf("mounts = %+v", g.Mounts)
	}
	if len(g.Volumes) != 1 || g.Volumes[0].Name != "v" || g.Volumes[0].Dest != sandbox.HomeDir {
		t.Errorf("volumes = %+v", g.Volumes)
	}
	if g.OOMScoreAdj == nil || *g.OOMScoreAdj != agentOOMScoreAdj || g.ReadWriteTmpfs == nil || !*g.ReadWriteTmpfs ||
		g.Terminal == nil || *g.Terminal || g.Stdin == nil || *g.Stdin {
		t.Errorf("oom_score_adj = %v, read_write_tmpfs = %v, terminal = %v, stdin = %v", g.OOMScoreAdj, g.ReadWriteTmpfs, g.Terminal, g.Stdin)
	}
	if g.NetNS.NSMode != "none" {
		t.Errorf("network = %+v, want none", g.NetNS)
	}
	if g.UserNS.NSMode != "" {
		t.Errorf("rootful spec has user namespace %+v", g.UserNS)
	}
	if r := sent(t, sandbox.Spec{Name: "n", Image: "i", Argv: []string{"x"}}, true); r.UserNS.NSMode != "keep-id" {
		t.Errorf("rootless spec has user namespace %+v, want keep-id", r.UserNS)
	}
	if len(g.Command) != 2 || g.Entrypoint == nil || len(g.Entrypoint) != 0 {
		t.Errorf("command = %v entrypoint = %v", g.Command, g.Entrypoint)
	}
}

func TestValidateSpec(t *testing.T) {
	ok := sandbox.Spec{Name: "n", Image: "i", Argv: []string{"x"}}
	cases := map[string]func(*sandbox.Spec){
		"no name":       func(s *sandbox.Spec) { s.Name = "" },
		"no image":      func(s *sandbox.Spec) { s.Image = "" },
		"no argv":       func(s *sandbox.Spec) { s.Argv = nil },
		"relative bind": func(s *sandbox.Spec) { s.Mounts = []sandbox.Mount{{Source: "src", Target: "/w"}} },
		"bad network":   func(s *sandbox.Spec) { s.Network = "bridge0" },
	}
	if err := validateSpec(ok); err != nil {
		t.Fatalf("valid spec rejected: %v", err)
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := ok
			mutate(&s)
			if err := validateSpec(s); err == nil {
				t.Errorf("accepted %+v", s)
			}
		})
	}
}

func TestSpecRecordsWhatReattachNeeds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   sandbox.Spec
		labels map[string]string
	}{
		{"plain", sandbox.Spec{Labels: map[string]string{sandbox.LabelRun: "r1"}},
			map[string]string{sandbox.LabelRun: "r1"}},
		{"timeout and keep", sandbox.Spec{Limits: sandbox.Limits{Timeout: 90 * time.Minute}, Keep: true},
			map[string]string{labelTimeout: "1h30m0s", labelKeep: "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name, tc.spec.Image, tc.spec.Argv = "n", "i", []string{"x"}
			g := sent(t, tc.spec, false)
			if !maps.Equal(g.Labels, tc.labels) {
				t.Errorf("labels = %v, want %v", g.Labels, tc.labels)
			}
			if g.LogConfiguration == nil || g.LogConfiguration.Driver != "k8s-file" {
				t.Errorf("log configuration = %+v, want the k8s-file driver", g.LogConfiguration)
			}
			if g.Remove != nil && *g.Remove {
				t.Errorf("container removes itself on exit: a detached run's output would be lost")
			}
		})
	}
}

func TestSpecStdin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stdin   io.Reader
		live    bool
		stdinOn bool     // the container's own stdin is attached
		command []string // nil: the argv unchanged
		label   string
	}{
		{"none", nil, false, false, nil, ""},
		{"one-shot", strings.NewReader("prompt"), false, true, nil, ""},
		{"live", strings.NewReader("{}\n"), true, false, []string{stdinHelper, "run", stdinFIFO, "--", "claude", "-p"}, stdinLive},
		{"live without a writer yet", nil, true, false, []string{stdinHelper, "run", stdinFIFO, "--", "claude", "-p"}, stdinLive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := sent(t, sandbox.Spec{Name: "n", Image: "i", Argv: []string{"claude", "-p"}, Stdin: tc.stdin, LiveStdin: tc.live}, false)
			want := tc.command
			if want == nil {
				want = []string{"claude", "-p"}
			}
			if !slices.Equal(g.Command, want) {
				t.Errorf("command = %q, want %q", g.Command, want)
			}
			if g.Stdin == nil || *g.Stdin != tc.stdinOn {
				t.Errorf("stdin = %v, want %v", g.Stdin, tc.stdinOn)
			}
			if g.Labels[labelStdin] != tc.label {
				t.Errorf("label %s = %q, want %q", labelStdin, g.Labels[labelStdin], tc.label)
			}
		})
	}
}

func TestHelperMissingNamesTheImageAndTheFix(t *testing.T) {
	// What podman 4.3 with runc answers when the image lacks the helper.
	oci := errors.New(`runc: runc create failed: unable to start container process: exec: "untether-stdin": executable file not found in $PATH: OCI runtime attempted to invoke a command that was not found`)
	err := helperMissing("localhost/untether-claude:latest", oci)
	for _, want := range []string{"localhost/untether-claude:latest", "untether images build", "untether-stdin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !errors.Is(err, oci) {
		t.Errorf("error %v does not wrap podman's", err)
	}
	other := errors.New("container create: device busy")
	if got := helperMissing("i", other); got != other {
		t.Errorf("another start error became %v", got)
	}
}
