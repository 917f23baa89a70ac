package images

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines/enginetest/captures"
)

// The CLI each image installs and the version its fixtures were captured
// with (engines/enginetest/captures/README.md and mockapi/README.md).
var want = map[string]struct{ pkg, version string }{
	"amp":      {"@sourcegraph/amp", "0.0.1767830505-ga62310"},
	"claude":   {"@anthropic-ai/claude-code", "2.1.332"},
	"codex":    {"@openai/codex", "0.171.0"},
	"gemini":   {"@google/gemini-cli", "0.61.0"},
	"opencode": {"opencode-ai", "1.18.33"},
	"pi":       {"@mariozechner/pi-coding-agent", "0.73.1"},
}

func TestEngines(t *testing.T) {
	got := Engines()
	wantNames := []string{"amp", "claude", "codex", "gemini", "opencode", "pi"}
	if !reflect.DeepEqual(got, wantNames) {
		t.Errorf("Engines() = %v, want %v (testengine and base are not engine images)", got, wantNames)
	}
}

func TestDefaultVersions(t *testing.T) {
	fixtures := fixtureVersions(t)
	for engine, w := range want {
		t.Run(engine, func(t *testing.T) {
			got := DefaultVersion(engine)
			if got != w.version {
				t.Errorf("DefaultVersion = %q, want %q", got, w.version)
			}
			// amp's table entry leaves out the build suffix (-ga62310).
			if f := fixtures[engine]; f == "" || !strings.HasPrefix(got, f) {
				t.Errorf("DefaultVersion = %q, but the fixtures were captured with %q", got, f)
			}
		})
	}
}

// fixtureVersions reads the engine → version table of the captures'
// README.
func fixtureVersions(t *testing.T) map[string]string {
	t.Helper()
	data, err := fs.ReadFile(captures.FS(), "README.md")
	if err != nil {
		t.Fatalf("read the captures' README: %v", err)
	}
	versions := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 4 {
			continue
		}
		name := strings.TrimSpace(cells[1])
		if _, ok := want[name]; ok {
			fields := strings.Fields(strings.Trim(strings.TrimSpace(cells[2]), "*"))
			if len(fields) > 0 {
				versions[name] = fields[0]
			}
		}
	}
	return versions
}

// instruction is one Containerfile instruction, continuation lines joined.
type instruction struct{ cmd, args string }

func parse(t *testing.T, data []byte) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cont := strings.HasSuffix(line, `\`)
		cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
		if cont {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Containerfile ends inside a continued line: %q", cur.String())
	}
	return out
}

func TestContainerfiles(t *testing.T) {
	for _, engine := range Engines() {
		t.Run(engine, func(t *testing.T) {
			data, err := Containerfile(engine)
			if err != nil {
				t.Fatal(err)
			}
			ins := parse(t, data)
			if len(ins) < 2 || ins[0] != (instruction{"ARG", "BASE=docker.io/library/debian:bookworm-slim"}) ||
				ins[1] != (instruction{"FROM", "${BASE}"}) {
				t.Errorf("must start with ARG BASE=docker.io/library/debian:bookworm-slim and FROM ${BASE}: %v", ins[:min(2, len(ins))])
			}
			install := `"` + want[engine].pkg + `@${VERSION}"`
			var installs, user, workdir, home bool
			for _, in := range ins {
				switch in.cmd {
				case "ENTRYPOINT", "COPY", "ADD":
					// The daemon gives the whole argv; the context is empty.
					t.Errorf("has %s %s", in.cmd, in.args)
				case "RUN":
					installs = installs || strings.Contains(in.args, "npm install --global") && strings.Contains(in.args, install)
				case "USER":
					user = in.args == "agent"
				case "WORKDIR":
					workdir = in.args == "/workspace"
				case "ENV":
					home = home || strings.Contains(in.args, "HOME=/home/agent")
					for _, word := range []string{"KEY", "TOKEN", "SECRET", "PASSWORD"} {
						if strings.Contains(strings.ToUpper(in.args), word) {
							t.Errorf("ENV looks secret: %s", in.args)
						}
					}
				}
			}
			if !installs {
				t.Errorf("no RUN npm install --global %s", install)
			}
			if !user || !workdir || !home {
				t.Errorf("want USER agent (%v), WORKDIR /workspace (%v), ENV HOME=/home/agent (%v)", user, workdir, home)
			}
		})
	}
}

// The apt, user and untether-stdin steps are the same text in every image,
// so Podman builds and stores those layers once for all engines.
func TestSharedStepsAreIdentical(t *testing.T) {
	var first []instruction
	for _, engine := range Engines() {
		data, err := Containerfile(engine)
		if err != nil {
			t.Fatal(err)
		}
		ins := parse(t, data)
		if len(ins) < 5 {
			t.Fatalf("%s: only %d instructions", engine, len(ins))
		}
		shared := ins[2:5]
		if !strings.Contains(shared[0].args, "apt-get install") || !strings.Contains(shared[1].args, "useradd --uid 1000") ||
			!strings.Contains(shared[2].args, ">/usr/local/bin/"+stdinHelper) {
			t.Errorf("%s: steps 3-5 are not the apt install, the agent user and %s: %v", engine, stdinHelper, shared)
		}
		if first == nil {
			first = shared
			continue
		}
		if !reflect.DeepEqual(shared, first) {
			t.Errorf("%s: shared steps differ from %s's:\n%v\n%v", engine, Engines()[0], shared, first)
		}
	}
}

// stdinHelper is the helper sandbox/podman wraps interactive runs in.
const stdinHelper = "untether-stdin"

// The helper the images install, run on this host: a process it starts
// reads each writer's lines and no EOF between two writers.
func TestStdinHelperScript(t *testing.T) {
	dir := t.TempDir()
	helper := installStdinHelper(t, dir)
	fifo := filepath.Join(dir, "stdin")
	write := func(line string) {
		t.Helper()
		cmd := exec.Command(helper, "write", fifo)
		cmd.Stdin = strings.NewReader(line + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("write %s: %v\n%s", line, err, out)
		}
	}
	proc := exec.Command(helper, "run", fifo, "--", "bash", "-c", `while IFS= read -r l; do echo "got $l"; done; echo EOF`)
	stdout, err := proc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Process.Kill(); proc.Wait() })
	lines := bufio.NewReader(stdout)
	for _, l := range []string{"one", "two"} {
		write(l) // waits for the FIFO the first time
		got, err := lines.ReadString('\n')
		if err != nil || got != "got "+l+"\n" {
			t.Fatalf("after writing %s: read %q, %v", l, got, err)
		}
	}
	if out, err := exec.Command(helper, "read", fifo).CombinedOutput(); err == nil || !strings.Contains(string(out), "usage:") {
		t.Errorf("unknown command: %v\n%s", err, out)
	}
}

// The helper's launch command (a warm container's, see
// sandbox/podman/launch.go) exports the header's environment, runs its
// argv, and leaves the rest of stdin to it.
func TestStdinHelperLaunch(t *testing.T) {
	helper := installStdinHelper(t, t.TempDir())
	header := "+SECRET=s3 cr=t\x00+EMPTY=\x00\x00+bash\x00+-c\x00+printf '%s|%s|%s|' \"$SECRET\" \"$EMPTY\" \"$#\"; cat\x00+zero\x00+\x00\x00"
	cmd := exec.Command(helper, "launch")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader(header + "the prompt\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("launch: %v\n%s", err, out)
	}
	if got, want := string(out), "s3 cr=t||1|the prompt\n"; got != want {
		t.Errorf("launch printed %q, want %q", got, want)
	}
	cmd = exec.Command(helper, "launch")
	cmd.Stdin = strings.NewReader("\x00\x00")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no command") {
		t.Errorf("empty argv: %v\n%s", err, out)
	}
}

func TestUnknownEngine(t *testing.T) {
	for _, name := range []string{"", "testengine", "base", "nope", "../claude"} {
		if _, err := Containerfile(name); !errors.Is(err, ErrUnknownEngine) {
			t.Errorf("Containerfile(%q) error = %v, want ErrUnknownEngine", name, err)
		}
		if v := DefaultVersion(name); v != "" {
			t.Errorf("DefaultVersion(%q) = %q", name, v)
		}
	}
}

func TestArgDefault(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"plain", "FROM x\nARG VERSION=1.2.3\n", "1.2.3"},
		{"quoted", `ARG VERSION="1.2.3"`, "1.2.3"},
		{"lower-case instruction", "arg VERSION=2", "2"},
		{"no default", "ARG VERSION\n", ""},
		{"other arg", "ARG VERSIONS=3\nARG NODE_VERSION=22\n", ""},
		{"in a comment", "# ARG VERSION=9\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := argDefault([]byte(tt.file), "VERSION"); got != tt.want {
				t.Errorf("argDefault = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBaseScript(t *testing.T) {
	script := BaseScript()
	for _, s := range []string{"#!/bin/bash\n", "IMAGE=" + BaseImage + "\n", "debootstrap --variant=minbase", "podman import"} {
		if !bytes.Contains(script, []byte(s)) {
			t.Errorf("mkbase.sh lacks %q", s)
		}
	}
	path := filepath.Join(t.TempDir(), "mkbase.sh")
	if err := os.WriteFile(path, script, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	if out, err := exec.Command("bash", path, "--help").CombinedOutput(); err != nil || !bytes.Contains(out, []byte("--force")) {
		t.Errorf("--help: %v\n%s", err, out)
	}

	// With the image present it does nothing, without needing root or
	// debootstrap: a fake podman answers `image exists` with yes.
	bin := t.TempDir()
	fake := "#!/bin/sh\n[ \"$1 $2\" = \"image exists\" ] && exit 0\necho \"unexpected podman $*\" >&2; exit 3\n"
	if err := os.WriteFile(filepath.Join(bin, "podman"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", path)
	cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("already exists; nothing to do")) {
		t.Errorf("with the image present: %v\n%s", err, out)
	}
	if out, err := exec.Command("bash", path, "--bogus").CombinedOutput(); err == nil || !bytes.Contains(out, []byte("unknown argument --bogus")) {
		t.Errorf("--bogus: %v\n%s", err, out)
	}
}

// installStdinHelper runs the first image's RUN step that installs the
// helper, with dir in place of /usr/local/bin, and returns the helper's
// path.
func installStdinHelper(t *testing.T, dir string) string {
	t.Helper()
	data, err := Containerfile(Engines()[0])
	if err != nil {
		t.Fatal(err)
	}
	var install string
	for _, in := range parse(t, data) {
		if in.cmd == "RUN" && strings.Contains(in.args, ">/usr/local/bin/"+stdinHelper) {
			install = in.args
		}
	}
	if install == "" {
		t.Fatalf("no RUN step installs %s", stdinHelper)
	}
	helper := filepath.Join(dir, stdinHelper)
	if out, err := exec.Command("sh", "-c", strings.ReplaceAll(install, "/usr/local/bin/"+stdinHelper, helper)).CombinedOutput(); err != nil {
		t.Fatalf("install step: %v\n%s", err, out)
	}
	return helper
}
