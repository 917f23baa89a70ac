//go:build containers

package opencode_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/opencode"
	"github.com/untether-go/untether/images"
	"github.com/untether-go/untether/internal/mockapi"
)

// updateCaptures rewrites engines/enginetest/captures/opencode/acp_*.jsonl
// from the real runs.
var updateCaptures = flag.Bool("update-captures", false, "rewrite the ACP captures of opencode from the real runs")

// image is the opencode engine image; the test builds it on the local base
// when it is missing.
const image = "localhost/untether-opencode:latest"

// containersConf is a private Podman configuration that works on cgroup v1
// hosts and fits podman's default ulimits under the host's hard limits.
const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`

// mockConfig is the opencode.json that points opencode at the mock's
// Anthropic Messages API: a provider "mock" through opencode's bundled
// @ai-sdk/anthropic, with a dummy key. It goes in OPENCODE_CONFIG_CONTENT;
// the permissions come from the adapter's OPENCODE_PERMISSION.
func mockConfig(mockURL string) string {
	return fmt.Sprintf(`{"model":"mock/mock-model","small_model":"mock/mock-model","autoupdate":false,"share":"disabled",`+
		`"provider":{"mock":{"npm":"@ai-sdk/anthropic","name":"Mock API","options":{"baseURL":%q,"apiKey":"sk-ant-dummy-key-for-mock"},`+
		`"models":{"mock-model":{"name":"Mock Model","tool_call":true,"limit":{"context":200000,"output":8192}}}}}}`, mockURL+"/v1")
}

// TestRealACP drives the real `opencode acp` in its image through the
// adapter's Session and the ACP codec, against the mock model API on the
// host's loopback: the model runs `echo hello > hello.txt`, opencode asks,
// and the answer decides whether hello.txt appears in the project; a third
// run loads the allowed run's session and appends to the file.
func TestRealACP(t *testing.T) {
	env := podmanEnv(t)
	ensureImage(t, env)
	mock := mockapi.New(mockapi.Options{})
	defer mock.Close()

	// One engine home for every run, as the bridge's volume: the resumed
	// run loads the session the allowed run left there.
	home := t.TempDir()
	if err := os.Chmod(home, 0o777); err != nil { // the CLI runs as uid 1000
		t.Fatal(err)
	}
	var session string
	for _, tt := range []struct {
		name   string
		allow  bool
		resume bool
	}{
		{name: "acp_allow", allow: true},
		{name: "acp_reject"},
		{name: "acp_resume", allow: true, resume: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ws := t.TempDir()
			if err := os.Chmod(ws, 0o777); err != nil {
				t.Fatal(err)
			}
			req := engines.Request{Prompt: "create hello.txt containing hello"}
			want, wantAnswer, wantPreview := "hello\n", mockapi.FinalCreate, "echo hello > hello.txt"
			if tt.resume {
				if session == "" {
					t.Fatal("the allowed run left no session to resume")
				}
				// What the allowed run left, writable by the CLI's uid.
				writeFile(t, filepath.Join(ws, "hello.txt"), []byte("hello\n"))
				if err := os.Chmod(filepath.Join(ws, "hello.txt"), 0o666); err != nil {
					t.Fatal(err)
				}
				req = engines.Request{Prompt: "now append world to hello.txt", Resume: session}
				want, wantAnswer, wantPreview = "hello\nworld\n", mockapi.FinalAppend, "echo world >> hello.txt && cat hello.txt"
			}
			run := runACP(t, env, ws, home, mockConfig(mock.URL()), req, engines.Reply{Allow: tt.allow})
			if len(run.asks) != 1 || run.asks[0].Preview != wantPreview {
				t.Fatalf("asks = %+v, want one for %s", run.asks, wantPreview)
			}
			c := run.completed
			data, err := os.ReadFile(filepath.Join(ws, "hello.txt"))
			if tt.allow {
				if err != nil || string(data) != want {
					t.Errorf("hello.txt = %q, %v; want %q", data, err, want)
				}
				if !c.OK || c.Answer != wantAnswer {
					t.Errorf("completed = %+v, want OK with %q", c, wantAnswer)
				}
			} else {
				if !os.IsNotExist(err) {
					t.Errorf("hello.txt exists after a rejection (%q, %v)", data, err)
				}
				if !c.OK || c.Answer != mockapi.ToolPreamble {
					t.Errorf("completed = %+v, want OK with the preamble %q", c, mockapi.ToolPreamble)
				}
			}
			switch {
			case tt.resume && c.Resume != session:
				t.Errorf("resumed run is in session %q, want %q", c.Resume, session)
			case tt.allow && !tt.resume:
				session = c.Resume
			}
			if *updateCaptures {
				dir := filepath.Join("..", "enginetest", "captures", "opencode")
				writeFile(t, filepath.Join(dir, tt.name+".jsonl"), run.transcript)
				writeFile(t, filepath.Join(dir, tt.name+".stderr.txt"), run.stderr)
			}
		})
	}
}

// acpRun is what one run left.
type acpRun struct {
	transcript []byte // {"from":"client"|"agent","msg":...} lines
	stderr     []byte
	asks       []engines.Ask
	completed  engines.Completed
}

// runACP runs one turn, answering every Ask with reply, and closes stdin
// once the turn completed.
func runACP(t *testing.T, env []string, ws, home, config string, req engines.Request, reply engines.Reply) acpRun {
	t.Helper()
	inv, proto, err := opencode.Engine{}.Session(req, engines.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "-i", "--rm", "--network", "host", "-v", ws + ":/workspace", "-v", home + ":/home/agent"}
	inv.Env["OPENCODE_CONFIG_CONTENT"] = config
	inv.Env["OPENCODE_DISABLE_MODELS_FETCH"] = "1"
	for k, v := range inv.Env {
		args = append(args, "-e", k+"="+v)
	}
	args = append(append(args, image), inv.Argv...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var run acpRun
	var transcript bytes.Buffer
	write := func(b []byte) {
		for line := range bytes.Lines(b) {
			record(&transcript, "client", bytes.TrimSuffix(line, []byte("\n")))
		}
		if _, err := stdin.Write(b); err != nil {
			t.Errorf("write to opencode: %v", err)
		}
	}
	open, err := proto.Open()
	if err != nil {
		t.Fatal(err)
	}
	write(open)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	done := false
	for !done && sc.Scan() {
		line := sc.Bytes()
		record(&transcript, "agent", line)
		evs, w, err := proto.Decode(line)
		if err != nil {
			t.Errorf("decode %s: %v", line, err)
		}
		write(w)
		for _, ev := range evs {
			switch ev := ev.(type) {
			case engines.Ask:
				run.asks = append(run.asks, ev)
				b, err := proto.Answer(ev.ID, reply)
				if err != nil {
					t.Fatal(err)
				}
				write(b)
			case engines.Completed:
				run.completed, done = ev, true
			}
		}
	}
	stdin.Close()
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Logf("opencode acp: %v", err)
	}
	if !done {
		t.Fatalf("the turn never completed; stderr:\n%s", stderr.String())
	}
	run.transcript, run.stderr = transcript.Bytes(), stderr.Bytes()
	return run
}

// record appends one message of the transcript, keeping its bytes.
func record(w *bytes.Buffer, from string, msg []byte) {
	fmt.Fprintf(w, `{"from":%q,"msg":%s}`+"\n", from, msg)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// podmanEnv finds podman and writes the private configuration.
func podmanEnv(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman is not installed: the real opencode runs in its image: %v", err)
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	writeFile(t, conf, []byte(containersConf))
	return []string{"CONTAINERS_CONF=" + conf}
}

// ensureImage builds the opencode image on the local base, as `untether
// images build --base` does, unless it exists.
func ensureImage(t *testing.T, env []string) {
	t.Helper()
	podman := func(args ...string) ([]byte, error) {
		cmd := exec.Command("podman", args...)
		cmd.Env = append(os.Environ(), env...)
		return cmd.CombinedOutput()
	}
	if _, err := podman("image", "exists", image); err == nil {
		return
	}
	if _, err := podman("image", "exists", images.BaseImage); err != nil {
		t.Fatalf("%s is missing and so is its base %s: make it with `untether images base`", image, images.BaseImage)
	}
	cf, err := images.Containerfile("opencode")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Containerfile"), cf)
	args := []string{"build", "--build-arg", "BASE=" + images.BaseImage, "-t", image}
	// Behind a TLS-intercepting proxy npm needs the host's CA (see images).
	if ca := "/etc/ssl/certs/ca-certificates.crt"; fileExists(ca) {
		args = append(args, "--secret", "id=ca,src="+ca)
	}
	if out, err := podman(append(args, dir)...); err != nil {
		t.Fatalf("build %s: %v\n%s", image, err, lastLines(out, 20))
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
