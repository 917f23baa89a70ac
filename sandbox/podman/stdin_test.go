package podman

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/untether-go/untether/engines/enginetest"
	"github.com/untether-go/untether/sandbox"
)

// bridgeEnv makes the test binary a bridge that starts a live-stdin run
// and then waits to be killed (see bridgeChild); its value is
// "URL NAME WORKSPACE".
const bridgeEnv = "UNTETHER_PODMANTEST_BRIDGE"

// liveSpec runs the fake pi in rpc mode, which answers every line of its
// stdin with one line and ends at EOF, with a live stdin.
func liveSpec(name, workspace string) sandbox.Spec {
	spec := baseSpec(name, workspace)
	spec.Argv = []string{"pi", "--mode", "rpc", "--provider", "mock", "--model", "mock-model"}
	spec.LiveStdin = true
	return spec
}

// ask is a line pi answers with a response carrying id.
func ask(id string) string { return `{"id":"` + id + `","type":"echo"}` + "\n" }

// echoes collects a run's lines for a test to wait on.
type echoes chan string

func newEchoes() echoes { return make(chan string, 1000) }

func (e echoes) add(b []byte) { e <- string(b) }

// next waits for the answer to ask(id), failing on any other line.
func (e echoes) next(tb testing.TB, id string) {
	tb.Helper()
	select {
	case l := <-e:
		if !strings.HasPrefix(l, `{"id":"`+id+`","type":"response"`) {
			tb.Fatalf("line %q, want the answer to %s", l, id)
		}
	case <-time.After(30 * time.Second):
		tb.Fatalf("no answer to %s after 30 s", id)
	}
}

// roundTrip writes ask(id) and waits for its answer.
func roundTrip(tb testing.TB, w io.Writer, e echoes, id string) time.Duration {
	tb.Helper()
	start := time.Now()
	if _, err := io.WriteString(w, ask(id)); err != nil {
		tb.Fatalf("write %s: %v", id, err)
	}
	e.next(tb, id)
	return time.Since(start)
}

// outcome is how a Run or Reattach ended.
type outcome struct {
	res sandbox.Result
	err error
}

func TestLiveStdinConversation(t *testing.T) {
	spec := liveSpec(testName(), t.TempDir())
	removeRun(t, spec.Name)
	pr, pw := io.Pipe()
	spec.Stdin = pr
	e := newEchoes()
	done := make(chan outcome, 1)
	go func() {
		res, err := New(Options{URL: svc.URL}).Run(context.Background(), spec, e.add)
		done <- outcome{res, err}
	}()
	roundTrip(t, pw, e, "warm-up") // the helper waits for the FIFO
	var took []time.Duration
	for i := range 30 {
		took = append(took, roundTrip(t, pw, e, fmt.Sprint(i)))
	}
	slices.Sort(took)
	t.Logf("write → answer through the container: p50 %v, p90 %v, max %v", took[len(took)/2], took[len(took)*9/10], took[len(took)-1])
	if p50 := took[len(took)/2]; p50 > 50*time.Millisecond {
		t.Errorf("p50 of write → answer is %v", p50)
	}

	start := time.Now()
	pw.Close()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if !o.res.StdinEnded || o.res.Cancelled || o.res.TimedOut || o.res.OOMKilled {
		t.Errorf("result = %+v, want ended by its stdin", o.res)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the run took %v to end after its stdin did (grace 2 s)", took)
	}
	if exists(t, spec.Name) {
		t.Errorf("container %s still exists", spec.Name)
	}
}

// A bridge that detaches, or dies, leaves the conversation open: the
// process reads no EOF, and the next bridge writes to it again.
func TestLiveStdinOutlivesTheBridge(t *testing.T) {
	for _, leave := range []string{"detach", "kill -9"} {
		t.Run(leave, func(t *testing.T) {
			spec := liveSpec(testName(), t.TempDir())
			removeRun(t, spec.Name)
			if leave == "detach" {
				detachLive(t, spec)
			} else {
				killBridge(t, spec)
			}
			// pi ends at EOF: a stdin that ended would stop the container.
			time.Sleep(time.Second)
			if s := status(t, spec.Name); s != "running" {
				t.Fatalf("container is %s after the bridge left, want running", s)
			}

			pr, pw := io.Pipe()
			e := newEchoes()
			done := make(chan outcome, 1)
			go func() {
				res, err := New(Options{URL: svc.URL}).Reattach(context.Background(), spec.Name, pr, e.add)
				done <- outcome{res, err}
			}()
			e.next(t, "1") // the stream again from its first line
			roundTrip(t, pw, e, "2")
			pw.Close()
			o := <-done
			if o.err != nil || !o.res.StdinEnded || o.res.Cancelled {
				t.Errorf("reattach = %+v, %v; want ended by its stdin", o.res, o.err)
			}
			if exists(t, spec.Name) {
				t.Errorf("container %s still exists", spec.Name)
			}
		})
	}
}

// detachLive runs spec, has one line answered, and detaches.
func detachLive(t *testing.T, spec sandbox.Spec) {
	pr, pw := io.Pipe()
	spec.Stdin = pr
	r := New(Options{URL: svc.URL})
	e := newEchoes()
	done := make(chan outcome, 1)
	go func() {
		res, err := r.Run(context.Background(), spec, e.add)
		done <- outcome{res, err}
	}()
	roundTrip(t, pw, e, "1")
	r.Detach()
	if o := <-done; !errors.Is(o.err, sandbox.ErrDetached) {
		t.Fatalf("Run after Detach = %+v, %v; want ErrDetached", o.res, o.err)
	}
	if _, err := io.WriteString(pw, ask("lost")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("write after Detach: err = %v, want io.ErrClosedPipe", err)
	}
}

// killBridge runs spec in a bridge of its own (this test binary, see
// bridgeChild), has one line answered, and kills the bridge with SIGKILL.
func killBridge(t *testing.T, spec sandbox.Spec) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), bridgeEnv+"="+svc.URL+" "+spec.Name+" "+spec.Mounts[0].Source)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() { // ends when the bridge's stdout closes
		l, _ := bufio.NewReader(out).ReadString('\n')
		ready <- l
	}()
	select {
	case l := <-ready:
		if l != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("bridge said %q: %s", l, stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("bridge not ready after 60 s: %s", stderr.String())
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// bridgeChild is the bridge killBridge kills: it runs the live spec, has
// ask("1") answered, says ready and waits.
func bridgeChild(arg string) int {
	f := strings.Fields(arg)
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want URL NAME WORKSPACE\n", bridgeEnv, arg)
		return 2
	}
	spec := liveSpec(f[1], f[2])
	pr, pw := io.Pipe()
	spec.Stdin = pr
	answered := make(chan struct{})
	go func() { // killed with the process
		_, err := New(Options{URL: f[0]}).Run(context.Background(), spec, func(l []byte) {
			if strings.HasPrefix(string(l), `{"id":"1"`) {
				close(answered)
			}
		})
		fmt.Fprintf(os.Stderr, "bridge: Run returned before the kill: %v\n", err)
		os.Exit(1)
	}()
	if _, err := io.WriteString(pw, ask("1")); err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		return 1
	}
	<-answered
	fmt.Println("ready")
	select {}
}

func BenchmarkLiveStdinWrite(b *testing.B) {
	spec := liveSpec(testName(), b.TempDir())
	removeRun(b, spec.Name)
	pr, pw := io.Pipe()
	spec.Stdin = pr
	e := newEchoes()
	done := make(chan outcome, 1)
	go func() {
		res, err := New(Options{URL: svc.URL}).Run(context.Background(), spec, e.add)
		done <- outcome{res, err}
	}()
	roundTrip(b, pw, e, "warm-up")
	for i := 0; b.Loop(); i++ {
		roundTrip(b, pw, e, fmt.Sprint(i))
	}
	b.StopTimer()
	pw.Close()
	if o := <-done; o.err != nil || !o.res.StdinEnded {
		b.Errorf("run = %+v, %v", o.res, o.err)
	}
}

// An image built before the helper existed: Run says which image and what
// to do, instead of the runtime's message alone.
func TestLiveStdinNeedsTheHelper(t *testing.T) {
	r := New(Options{URL: svc.URL})
	tag := fmt.Sprintf("localhost/untether-podmantest-nohelper:%d", time.Now().UnixNano())
	t.Cleanup(func() { svc.Podman(context.Background(), "rmi", "-f", tag) })
	var out strings.Builder
	err := r.BuildImage(context.Background(), sandbox.ImageBuild{Tag: tag, Containerfile: []byte(
		"FROM " + enginetest.DefaultTag + " AS fake\n" +
			"FROM scratch\n" +
			"COPY --from=fake /usr/local/bin/pi /usr/local/bin/pi\n" +
			"COPY --from=fake /home /home\n" +
			"COPY --from=fake /workspace /workspace\n" +
			"COPY --from=fake /tmp /tmp\n" +
			"ENV PATH=/usr/local/bin\n")}, &out)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	spec := liveSpec(testName(), t.TempDir())
	removeRun(t, spec.Name)
	spec.Image = tag
	pr, pw := io.Pipe()
	spec.Stdin = pr
	_, err = r.Run(context.Background(), spec, func([]byte) {})
	if err == nil || !strings.Contains(err.Error(), tag) || !strings.Contains(err.Error(), "untether images build") {
		t.Errorf("err = %v, want one naming %s and `untether images build`", err, tag)
	}
	if _, err := pw.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("stdin not closed after the failed run: write err = %v", err)
	}
	if exists(t, spec.Name) {
		t.Errorf("container %s of the failed run still exists", spec.Name)
	}
}
