package podman

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/untether-go/untether/sandbox"
)

func frame(stream byte, payload string) string {
	hdr := make([]byte, 8)
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
	return string(hdr) + payload
}

// chunked reads its data size bytes at a time, so that frames split across
// reads.
type chunked struct {
	data []byte
	size int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func TestDemux(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	for _, tc := range []struct {
		name           string
		in             string
		stdout, stderr string
		err            string // substring; empty: no error
	}{
		{name: "empty stream", in: ""},
		{name: "one stdout frame", in: frame(1, "hello\n"), stdout: "hello\n"},
		{name: "interleaved", in: frame(1, "a") + frame(2, "err1\n") + frame(1, "b\n") + frame(2, "err2\n"),
			stdout: "ab\n", stderr: "err1\nerr2\n"},
		{name: "stdin frames are output", in: frame(0, "echo"), stdout: "echo"},
		{name: "empty frame", in: frame(1, "") + frame(1, "x"), stdout: "x"},
		{name: "frame longer than a read buffer", in: frame(1, long) + frame(2, "e"), stdout: long, stderr: "e"},
		{name: "truncated header", in: frame(1, "ok") + frame(1, "x")[:5], stdout: "ok", err: "unexpected EOF"},
		{name: "truncated payload", in: frame(1, "ok") + frame(2, "abcdef")[:11], stdout: "ok", stderr: "abc", err: "unexpected EOF"},
		{name: "service error", in: frame(1, "ok") + frame(3, "container gone") + frame(1, "never"), stdout: "ok", err: "container gone"},
		{name: "unknown stream", in: frame(7, "?"), err: "out of sync"},
	} {
		for _, size := range []int{1, 3, 8, 9, 1 << 20} {
			t.Run(fmt.Sprintf("%s/reads of %d", tc.name, size), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				err := demux(&chunked{data: []byte(tc.in), size: size}, &stdout, &stderr)
				if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
					t.Errorf("err = %v, want %q", err, tc.err)
				}
				if stdout.String() != tc.stdout || stderr.String() != tc.stderr {
					t.Errorf("stdout = %.40q, stderr = %.40q; want %.40q, %.40q", stdout.String(), stderr.String(), tc.stdout, tc.stderr)
				}
			})
		}
	}
}

func TestDemuxPassesOnAReadError(t *testing.T) {
	boom := errors.New("boom")
	err := demux(iotest.ErrReader(boom), io.Discard, io.Discard)
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v", err, boom)
	}
}

// serveUnix serves h on a unix socket of its own and returns its URL.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "podman.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return "unix://" + sock
}

// notFoundService answers every call as a service without containers,
// images or volumes does.
func notFoundService(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, apiPrefix+"/") {
			t.Errorf("request to %s, outside %s", r.URL.Path, apiPrefix)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"cause":"no such container","message":"no container with name or ID %q found: no such container","response":404}`, r.URL.Path)
	})
}

func TestNotFoundAnswers(t *testing.T) {
	r := New(Options{URL: serveUnix(t, notFoundService(t))})
	ctx := context.Background()
	if err := r.RemoveContainer(ctx, "gone"); !errors.Is(err, sandbox.ErrNotFound) || errors.Is(err, sandbox.ErrUnavailable) {
		t.Errorf("RemoveContainer: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Reattach(ctx, "gone", nil, func([]byte) {}); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Reattach: err = %v, want ErrNotFound", err)
	}
	if ok, err := r.ImageExists(ctx, "localhost/untether-claude:latest"); ok || err != nil {
		t.Errorf("ImageExists = %v, %v; want false, nil", ok, err)
	}
	if err := r.api.call(ctx, http.MethodGet, "/containers/gone/json", nil, nil, nil); !notFound(err) ||
		!strings.Contains(err.Error(), "no such container") {
		t.Errorf("call: err = %v, want podman's 404 message", err)
	}
}

func TestImageReferenceIsOnePathSegment(t *testing.T) {
	var got string
	r := New(Options{URL: serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got = req.URL.EscapedPath()
		w.WriteHeader(http.StatusNoContent)
	}))})
	if ok, err := r.ImageExists(context.Background(), "localhost/untether-claude:latest"); !ok || err != nil {
		t.Fatalf("ImageExists = %v, %v", ok, err)
	}
	if want := apiPrefix + "/images/localhost%2Funtether-claude:latest/exists"; got != want {
		t.Errorf("path = %s, want %s", got, want)
	}
}

func TestUnreachableServiceIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	// A socket file nobody listens on: connection refused.
	refused := filepath.Join(dir, "refused.sock")
	l, err := net.Listen("unix", refused)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpURL := "tcp://" + tcp.Addr().String()
	tcp.Close()

	for _, url := range []string{
		"unix://" + filepath.Join(dir, "none.sock"),
		"unix://" + refused,
		tcpURL,
		"ftp://example.com/podman",
		"unix://",
	} {
		t.Run(url, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r := New(Options{URL: url})
			if _, err := r.Host(ctx); !errors.Is(err, sandbox.ErrUnavailable) {
				t.Errorf("Host: err = %v, want ErrUnavailable", err)
			}
			if _, err := r.Containers(ctx, "x"); !errors.Is(err, sandbox.ErrUnavailable) {
				t.Errorf("Containers: err = %v, want ErrUnavailable", err)
			}
			if err := r.RemoveContainer(ctx, "x"); !errors.Is(err, sandbox.ErrUnavailable) {
				t.Errorf("RemoveContainer: err = %v, want ErrUnavailable", err)
			}
			if _, err := r.api.attach(ctx, "x", false); err == nil || !errors.Is(r.unavailable(err), sandbox.ErrUnavailable) {
				t.Errorf("attach: err = %v, want one that means unavailable", err)
			}
		})
	}
}

// attachService answers attach as podman does: 101, then the container's
// output as frames; this one echoes its stdin, once read to EOF, on stdout
// and says on stderr how many bytes it got.
func attachService(t *testing.T, status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/attach") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if status != http.StatusSwitchingProtocols {
			w.WriteHeader(status)
			fmt.Fprint(w, `{"message":"can only attach to created or running containers"}`)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		buf.Flush()
		var in []byte
		if r.URL.Query().Get("stdin") == "true" {
			in, err = io.ReadAll(buf)
			if err != nil {
				t.Error(err)
			}
		}
		fmt.Fprint(buf, frame(1, "started\n")+frame(1, string(in))+frame(2, fmt.Sprintf("read %d bytes\n", len(in))))
		buf.Flush()
	})
}

func TestAttachSendsStdinAndReadsOutput(t *testing.T) {
	c := newClient(serveUnix(t, attachService(t, http.StatusSwitchingProtocols)), SSH{})
	for _, stdin := range []string{"", "hello\nworld\n"} {
		s, err := c.attach(context.Background(), "ctr", stdin != "")
		if err != nil {
			t.Fatal(err)
		}
		var in io.Reader
		if stdin != "" {
			in = strings.NewReader(stdin)
		}
		var stdout, stderr bytes.Buffer
		if err := s.copy(in, &stdout, &stderr); err != nil {
			t.Errorf("copy: %v", err)
		}
		if want := "started\n" + stdin; stdout.String() != want {
			t.Errorf("stdout = %q, want %q", stdout.String(), want)
		}
		if want := fmt.Sprintf("read %d bytes\n", len(stdin)); stderr.String() != want {
			t.Errorf("stderr = %q, want %q", stderr.String(), want)
		}
	}
}

func TestAttachRefused(t *testing.T) {
	c := newClient(serveUnix(t, attachService(t, http.StatusInternalServerError)), SSH{})
	_, err := c.attach(context.Background(), "ctr", false)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError || !strings.Contains(ae.Message, "can only attach") {
		t.Errorf("err = %v, want podman's 500 message", err)
	}
}

// A service that never answers: cancelling the attach's context ends it,
// and closing a stream ends its copy.
func TestAttachIsCancellable(t *testing.T) {
	// The handlers end when the client closes its connection.
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := newClient(serveUnix(t, hang), SSH{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.attach(ctx, "ctr", false); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cancelled attach took %v", took)
	}

	silent := newClient(serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, _ := w.(http.Hijacker).Hijack()
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		buf.Flush()
		io.Copy(io.Discard, buf)
	})), SSH{})
	s, err := silent.attach(context.Background(), "ctr", false)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.copy(nil, io.Discard, io.Discard) }()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("copy of a stream closed by its owner: err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("copy goes on after Close")
	}
}
