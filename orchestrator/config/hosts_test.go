package config

import (
	"reflect"
	"slices"
	"testing"
)

func TestHosts(t *testing.T) {
	data := tg + `
[projects.a]
path = "/src/a"
remote_path = "/srv/a"

[projects.b]
path = "/src/b"
hosts = ["big"]
remote_path = { big = "/data/b" }

[projects.c]
path = "/src/c"
hosts = ["here"]

[sandbox.hosts.here]
url = "unix:///run/podman/podman.sock"
max_runs = 3

[sandbox.hosts.big]
url = "ssh://agent@big.lan:2222/run/user/1000/podman/podman.sock"
identity = "~/.ssh/untether"
known_hosts = "/etc/untether/known_hosts"
max_runs = 8
memory = "32GiB"
`
	c := mustParse(t, data, testPath, env())
	want := []Host{
		{Name: "big", URL: "ssh://agent@big.lan:2222/run/user/1000/podman/podman.sock", Identity: "/home/u/.ssh/untether",
			KnownHosts: "/etc/untether/known_hosts", MaxRuns: 8, Memory: 32 << 30},
		{Name: "here", URL: "unix:///run/podman/podman.sock", MaxRuns: 3},
	}
	if !reflect.DeepEqual(c.Sandbox.Hosts, want) {
		t.Fatalf("hosts = %+v\nwant %+v", c.Sandbox.Hosts, want)
	}
	a, _ := c.Project("a")
	b, _ := c.Project("b")
	cc, _ := c.Project("c")
	if got := c.HostsOf(a); !slices.Equal(got, []string{"big", "here"}) {
		t.Errorf("hosts of a = %v, want all", got)
	}
	if got := c.HostsOf(b); !slices.Equal(got, []string{"big"}) {
		t.Errorf("hosts of b = %v", got)
	}
	if a.RemotePath("big") != "/srv/a" || b.RemotePath("big") != "/data/b" || cc.RemotePath("big") != "/src/c" {
		t.Errorf("remote paths: a %s, b %s, c %s", a.RemotePath("big"), b.RemotePath("big"), cc.RemotePath("big"))
	}
	if !want[0].Remote() || want[1].Remote() {
		t.Errorf("Remote: big %v, here %v", want[0].Remote(), want[1].Remote())
	}

	none := mustParse(t, tg+"[projects.a]\npath = \"/a\"\n", testPath, env())
	if none.Sandbox.Hosts != nil || !slices.Equal(none.HostsOf(none.Projects[0]), []string{LocalHost}) {
		t.Errorf("without hosts: %+v, hosts of a %v", none.Sandbox.Hosts, none.HostsOf(none.Projects[0]))
	}
}

func TestHostProblems(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string
	}{
		{"no url", "[sandbox.hosts.a]\nmax_runs = 1\n", []string{"sandbox.hosts.a.url"}},
		{"tcp off the loopback", "[sandbox.hosts.a]\nurl = \"tcp://10.0.0.5:8080\"\n", []string{"sandbox.hosts.a.url"}},
		{"tcp on the loopback", "[sandbox.hosts.a]\nurl = \"tcp://127.0.0.1:8080\"\n", nil},
		{"ssh without identity", "[sandbox.hosts.a]\nurl = \"ssh://u@h/run/podman.sock\"\n", []string{"sandbox.hosts.a.identity"}},
		{"ssh without user", "[sandbox.hosts.a]\nurl = \"ssh://h/run/podman.sock\"\nidentity = \"/k\"\n", []string{"sandbox.hosts.a.url"}},
		{"ssh with password", "[sandbox.hosts.a]\nurl = \"ssh://u:pw@h/run/podman.sock\"\nidentity = \"/k\"\n", []string{"sandbox.hosts.a.url"}},
		{"ssh without socket", "[sandbox.hosts.a]\nurl = \"ssh://u@h\"\nidentity = \"/k\"\n", []string{"sandbox.hosts.a.url"}},
		{"bad name", "[sandbox.hosts.A]\nurl = \"unix:///s\"\n", []string{"sandbox.hosts.A"}},
		{"bad max_runs", "[sandbox.hosts.a]\nurl = \"unix:///s\"\nmax_runs = -1\n", []string{"sandbox.hosts.a.max_runs"}},
		{"unknown key", "[sandbox.hosts.a]\nurl = \"unix:///s\"\nport = 1\n", []string{"sandbox.hosts.a.port"}},
		{"unknown host of a project", "[sandbox.hosts.a]\nurl = \"unix:///s\"\n[projects.p]\npath = \"/p\"\nhosts = [\"b\"]\n", []string{"projects.p.hosts"}},
		{"empty hosts", "[sandbox.hosts.a]\nurl = \"unix:///s\"\n[projects.p]\npath = \"/p\"\nhosts = []\n", []string{"projects.p.hosts"}},
		{"relative remote_path", "[projects.p]\npath = \"/p\"\nremote_path = \"p\"\n", []string{"projects.p.remote_path"}},
		{"remote_path of an unknown host", "[sandbox.hosts.a]\nurl = \"unix:///s\"\n[projects.p]\npath = \"/p\"\nremote_path = { b = \"/x\" }\n", []string{"projects.p.remote_path.b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tg+tt.data), testPath, env())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if got := problemKeys(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problems at %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
}
