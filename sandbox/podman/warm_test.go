package podman

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/sandbox"
)

func warmTestSpec() sandbox.Spec {
	return sandbox.Spec{
		Name: "untether-i-run1", Image: "img", Argv: []string{"claude", "-p", "secret plans"},
		Env:     map[string]string{"ANTHROPIC_API_KEY": "sk-secret", "HOME": sandbox.HomeDir},
		Workdir: sandbox.WorkspaceDir,
		Mounts:  []sandbox.Mount{{Source: "/src/app", Target: sandbox.WorkspaceDir}},
		Volumes: []sandbox.Volume{{Name: "untether-i-app-claude-home", Target: sandbox.HomeDir}},
		Limits:  sandbox.Limits{MemoryBytes: 256 << 20, Pids: 128, CPUs: 1, Timeout: time.Hour},
		Labels: map[string]string{
			sandbox.LabelInstance: "i", sandbox.LabelProject: "app", sandbox.LabelEngine: "claude",
			sandbox.LabelRun: "run1", sandbox.LabelChat: "-100", sandbox.LabelTopic: "7",
		},
		Stdin: strings.NewReader("prompt"),
		Keep:  true,
	}
}

// A warm container's spec has nothing of a session, and the same key for
// every session of the same kind of run.
func TestWarmSpecLeavesTheSessionOut(t *testing.T) {
	spec := warmTestSpec()
	g, key, group := warmSpec(spec, false)
	if g.Name != "" || len(g.Env) != 0 || strings.Join(g.Command, " ") != "untether-stdin launch" || g.Stdin == nil || !*g.Stdin {
		t.Errorf("warm spec: name %q, env %v, command %v, stdin %v", g.Name, g.Env, g.Command, g.Stdin)
	}
	for _, k := range []string{sandbox.LabelRun, sandbox.LabelChat, sandbox.LabelTopic} {
		if _, ok := g.Labels[k]; ok {
			t.Errorf("warm spec has the session's label %s", k)
		}
	}
	if g.Labels[labelPool] != key || g.Labels[sandbox.LabelProject] != "app" || g.Labels[labelKeep] != "true" {
		t.Errorf("warm spec labels = %v", g.Labels)
	}
	cold := containerSpecFor(spec, false)
	if *g.ResourceLimits.Memory.Limit != *cold.ResourceLimits.Memory.Limit || g.ResourceLimits.Pids.Limit != cold.ResourceLimits.Pids.Limit ||
		*g.ResourceLimits.CPU.Quota != *cold.ResourceLimits.CPU.Quota || len(g.Mounts) != len(cold.Mounts) || len(g.Volumes) != 1 {
		t.Errorf("warm limits or mounts differ from a cold run's: %+v vs %+v", g, cold)
	}

	other := warmTestSpec()
	other.Name, other.Argv, other.Env = "untether-i-run2", []string{"claude", "--resume", "x"}, map[string]string{"OTHER": "1"}
	other.Labels[sandbox.LabelRun], other.Labels[sandbox.LabelChat] = "run2", "-200"
	delete(other.Labels, sandbox.LabelTopic)
	if _, key2, group2 := warmSpec(other, false); key2 != key || group2 != group {
		t.Errorf("another session of the same kind has key %s, group %q; want %s, %q", key2, group2, key, group)
	}
	for name, change := range map[string]func(*sandbox.Spec){
		"memory":   func(s *sandbox.Spec) { s.Limits.MemoryBytes *= 2 },
		"image":    func(s *sandbox.Spec) { s.Image = "img2" },
		"mount":    func(s *sandbox.Spec) { s.Mounts[0].Source = "/src/other" },
		"network":  func(s *sandbox.Spec) { s.Network = sandbox.NetworkNone },
		"project":  func(s *sandbox.Spec) { s.Labels[sandbox.LabelProject] = "web" },
		"live":     func(s *sandbox.Spec) { s.LiveStdin = true },
		"rootless": nil,
	} {
		s := warmTestSpec()
		rootless := false
		if change == nil {
			rootless = true
		} else {
			change(&s)
		}
		if _, k, _ := warmSpec(s, rootless); k == key {
			t.Errorf("a different %s has the same key", name)
		}
	}
}

func TestLaunchHeader(t *testing.T) {
	h, err := launchHeader([]string{"claude", "", "-p"}, map[string]string{"B": "2", "A": "x=y"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "+A=x=y\x00+B=2\x00\x00+claude\x00+\x00+-p\x00\x00"; string(h) != want {
		t.Errorf("header = %q, want %q", h, want)
	}
	for _, bad := range []struct {
		argv []string
		env  map[string]string
	}{
		{nil, nil},
		{[]string{"a\x00b"}, nil},
		{[]string{"a"}, map[string]string{"K=": "v"}},
		{[]string{"a"}, map[string]string{"K": "v\x00"}},
	} {
		if _, err := launchHeader(bad.argv, bad.env); err == nil {
			t.Errorf("launchHeader(%q, %q) succeeded", bad.argv, bad.env)
		}
	}
	if !bytes.HasSuffix(h, []byte{0, 0}) {
		t.Errorf("header does not end with an empty field")
	}
}
