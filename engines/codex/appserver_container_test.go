//go:build containers

package codex

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/internal/mockapi"
)

// These tests run the real `codex app-server` of the codex image, on the
// host's network against internal/mockapi, with the project at /workspace.
// `go test -tags containers -run AppServerCapture ./engines/codex -capture`
// rewrites the captures under engines/enginetest/captures/codex/appserver.

var capture = flag.Bool("capture", false, "rewrite the app-server captures")

const (
	codexImage = "localhost/untether-codex:latest"
	mockKey    = "sk-dummy-key-for-mock"
	captureDir = "../enginetest/captures/codex/appserver"
)

const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`

// mockArgs point codex at the mock, as the end-to-end test's config does.
func mockArgs(url string) []string {
	return []string{"-c", `model_provider="mock"`, "-c", `model_providers.mock.name="Mock API"`,
		"-c", `model_providers.mock.base_url="` + url + `/v1"`, "-c", `model_providers.mock.env_key="MOCK_API_KEY"`,
		"-c", `model_providers.mock.wire_api="responses"`, "-c", "model_providers.mock.request_max_retries=1",
		"-c", "model_providers.mock.stream_max_retries=0"}
}

// appServer is one running container: its stdin, its stdout lines, and
// everything both carried, in order.
type appServer struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr bytes.Buffer
	reader sync.WaitGroup

	mu         sync.Mutex
	transcript []byte
}

// startAppServer runs argv in the codex image with workspace mounted.
func startAppServer(t *testing.T, workspace string, argv []string) *appServer {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman is not installed: %v", err)
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte(containersConf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(workspace, 0o777); err != nil { // the image runs as uid 1000
		t.Fatal(err)
	}
	args := append([]string{"run", "-i", "--rm", "--network", "host", "-v", workspace + ":/workspace",
		"-e", "MOCK_API_KEY", codexImage}, argv...)
	s := &appServer{t: t, cmd: exec.Command("podman", args...), lines: make(chan []byte, 256)}
	s.cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf, "MOCK_API_KEY="+mockKey)
	s.cmd.Stderr = &s.stderr
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.reader.Add(1)
	go func() {
		defer s.reader.Done()
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			l := append([]byte(nil), sc.Bytes()...)
			s.record("stdout", l)
			s.lines <- l
		}
	}()
	t.Cleanup(func() {
		s.stdin.Close()
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	return s
}

// record adds one line to the transcript as {"stdin":…} or {"stdout":…}.
func (s *appServer) record(dir string, l []byte) {
	msg := l // verbatim: re-encoding would escape < > & and reorder nothing else
	if !json.Valid(l) {
		msg, _ = json.Marshal(string(l))
	}
	s.mu.Lock()
	s.transcript = fmt.Appendf(s.transcript, "{%q:%s}\n", dir, msg)
	s.mu.Unlock()
}

// write sends lines (each ending in a newline) to stdin.
func (s *appServer) write(b []byte) {
	s.t.Helper()
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		s.record("stdin", bytes.TrimSuffix(l, []byte("\n")))
		if _, err := s.stdin.Write(l); err != nil {
			s.t.Fatalf("write to app-server: %v", err)
		}
	}
}

// next returns the next stdout line, or nil at the end of stdout.
func (s *appServer) next(timeout time.Duration) []byte {
	s.t.Helper()
	select {
	case l := <-s.lines:
		return l
	case <-time.After(timeout):
		s.t.Fatalf("no line from app-server in %v; stderr:\n%s", timeout, s.stderr.String())
	}
	return nil
}

// finish closes stdin, drains stdout and waits for the process.
func (s *appServer) finish() engines.Exit {
	s.t.Helper()
	s.stdin.Close()
	for range s.lines {
	}
	s.reader.Wait()
	err := s.cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("wait for app-server: %v", err)
	}
	return engines.Exit{Code: code, StderrTail: s.stderr.String()}
}

// TestAppServerThroughProtocol drives the real app-server through the
// Protocol alone, as the bridge would: approving the mock's shell command
// creates hello.txt; declining it leaves the workspace empty and the model
// says so.
func TestAppServerThroughProtocol(t *testing.T) {
	mock := mockapi.New(mockapi.Options{})
	defer mock.Close()
	for _, tt := range []struct {
		name   string
		allow  bool
		answer string
		file   bool
	}{
		{"approve", true, mockapi.FinalCreate, true},
		{"decline", false, mockapi.FinalDeclined, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ws := t.TempDir()
			req := engines.Request{Prompt: "create hello.txt containing hello", Model: "gpt-5.5", ExtraArgs: mockArgs(mock.URL())}
			inv, proto, err := Engine{}.Session(req, engines.SessionOptions{})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			s := startAppServer(t, ws, inv.Argv)
			open, err := proto.Open()
			if err != nil {
				t.Fatal(err)
			}
			s.write(open)
			var evs []engines.Event
			var asked time.Time
			var roundTrip time.Duration
			for done := false; !done; {
				l := s.next(2 * time.Minute)
				if l == nil {
					break
				}
				got, write, err := proto.Decode(l)
				if err != nil {
					t.Errorf("decode %.200s: %v", l, err)
				}
				if write != nil {
					s.write(write)
				}
				if !asked.IsZero() && roundTrip == 0 && bytes.Contains(l, []byte(`"serverRequest/resolved"`)) {
					roundTrip = time.Since(asked)
				}
				for _, ev := range got {
					evs = append(evs, ev)
					switch ev := ev.(type) {
					case engines.Ask:
						asked = time.Now()
						b, err := proto.Answer(ev.ID, engines.Reply{Allow: tt.allow})
						if err != nil {
							t.Fatal(err)
						}
						s.write(b)
					case engines.Completed:
						done = true
					}
				}
			}
			exit := s.finish()
			evs = append(evs, proto.Finish(exit)...)
			t.Logf("run took %v; answer to resolution round trip %v; exit %d", time.Since(start).Round(time.Millisecond), roundTrip, exit.Code)

			asks, completed := 0, []engines.Completed{}
			for _, ev := range evs {
				switch ev := ev.(type) {
				case engines.Ask:
					asks++
					if ev.Kind != engines.AskPermission || ev.Preview != "echo hello > hello.txt" || !ev.Always {
						t.Errorf("ask %+v", ev)
					}
				case engines.Completed:
					completed = append(completed, ev)
				}
			}
			if asks != 1 || len(completed) != 1 {
				t.Fatalf("%d asks and %d Completed, want 1 and 1: %+v\nstderr:\n%s", asks, len(completed), evs, s.stderr.String())
			}
			if c := completed[0]; !c.OK || c.Answer != tt.answer || !engines.ValidID(c.Resume) {
				t.Errorf("completed %+v, want OK with answer %q", c, tt.answer)
			}
			got, err := os.ReadFile(filepath.Join(ws, "hello.txt"))
			if tt.file && string(got) != "hello\n" {
				t.Errorf("hello.txt = %q, %v; want hello", got, err)
			}
			if !tt.file && err == nil {
				t.Errorf("hello.txt was created although the command was declined")
			}
		})
	}
}

// TestAppServerCapture records what a client written from app-server's
// schema (`codex app-server generate-ts`), not the Protocol, exchanges with
// the real server: the captures the Protocol's unit tests replay.
func TestAppServerCapture(t *testing.T) {
	mock := mockapi.New(mockapi.Options{})
	defer mock.Close()
	for _, c := range []struct{ name, decision string }{{"approve", "accept"}, {"decline", "decline"}} {
		t.Run(c.name, func(t *testing.T) {
			ws := t.TempDir()
			s := startAppServer(t, ws, append([]string{"codex", "app-server", "-c", `model="gpt-5.5"`}, mockArgs(mock.URL())...))
			s.write([]byte(captureOpen))
			for done := false; !done; {
				l := s.next(2 * time.Minute)
				if l == nil {
					break
				}
				var m struct {
					ID     json.RawMessage `json:"id"`
					Method string          `json:"method"`
					Result struct {
						Thread struct {
							ID string `json:"id"`
						} `json:"thread"`
					} `json:"result"`
				}
				if err := json.Unmarshal(l, &m); err != nil {
					t.Fatalf("%s: %v", l, err)
				}
				switch {
				case m.Method == "" && string(m.ID) == "1":
					s.write([]byte(strings.ReplaceAll(captureTurn, "THREAD", m.Result.Thread.ID)))
				case m.Method != "" && len(m.ID) > 0:
					s.write([]byte(`{"id":` + string(m.ID) + `,"result":{"decision":"` + c.decision + `"}}` + "\n"))
				case m.Method == "turn/completed":
					done = true
				}
			}
			exit := s.finish()
			if exit.Code != 0 {
				t.Errorf("exit %d; stderr:\n%s", exit.Code, s.stderr.String())
			}
			_, statErr := os.Stat(filepath.Join(ws, "hello.txt"))
			if (statErr == nil) != (c.decision == "accept") {
				t.Errorf("%s: hello.txt exists: %v", c.decision, statErr == nil)
			}
			if !*capture {
				return
			}
			stderr := strings.ReplaceAll(s.stderr.String(), mock.URL(), "http://127.0.0.1:PORT")
			transcript := bytes.ReplaceAll(s.transcript, []byte(mock.URL()), []byte("http://127.0.0.1:PORT"))
			if err := os.WriteFile(filepath.Join(captureDir, c.name+".jsonl"), transcript, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(captureDir, c.name+".stderr.txt"), []byte(stderr), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// captureOpen and captureTurn are the client's messages, written by hand.
const (
	captureOpen = `{"id":0,"method":"initialize","params":{"clientInfo":{"name":"untether","title":"Untether","version":"1"},"capabilities":{"experimentalApi":false,"requestAttestation":false,"optOutNotificationMethods":["item/agentMessage/delta","item/reasoning/summaryTextDelta","item/reasoning/summaryPartAdded","item/reasoning/textDelta","item/commandExecution/outputDelta","item/fileChange/outputDelta","item/plan/delta","account/rateLimits/updated"]}}}
{"method":"initialized"}
{"id":1,"method":"thread/start","params":{"cwd":"/workspace","approvalPolicy":"untrusted","sandbox":"danger-full-access"}}
`
	captureTurn = `{"id":2,"method":"turn/start","params":{"threadId":"THREAD","input":[{"type":"text","text":"create hello.txt containing hello","text_elements":[]}]}}
`
)
