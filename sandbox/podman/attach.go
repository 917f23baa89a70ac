package podman

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// attachStream is one attach to a container: a connection of its own,
// which the service takes over (hijacks) after its answer to carry the
// container's output one way, multiplexed, and its stdin the other, raw.
// Closing the connection is what ends the attach early: nothing else does,
// as the service keeps it open as long as the container's output is.
type attachStream struct {
	conn net.Conn
	r    *bufio.Reader // the connection, past the service's answer

	mu     sync.Mutex
	closed bool
}

// attach opens an attach stream to the container id, before it starts: once
// attach returns, the service is attached and the container's first output
// reaches the stream. ctx bounds the opening only, not the stream.
func (c *client) attach(ctx context.Context, id string, stdin bool) (*attachStream, error) {
	q := url.Values{"stream": {"true"}, "stdout": {"true"}, "stderr": {"true"}, "stdin": {fmt.Sprint(stdin)}}
	return c.hijack(ctx, endpoint("/containers/%s/attach", id), q, nil)
}

// hijack posts to path (with in as JSON when not nil) on a connection of
// its own and returns it once the service took it over. ctx bounds the
// opening only, not the stream.
func (c *client) hijack(ctx context.Context, path string, q url.Values, in any) (*attachStream, error) {
	if c.err != nil {
		return nil, c.err
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
	}
	req, err := c.request(ctx, http.MethodPost, path, q, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	// The connection outlives the request: ctx may only interrupt the
	// exchange of request and answer.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	s, err := handshake(conn, req)
	if !stop() {
		conn.Close()
		return nil, context.Cause(ctx)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// handshake sends the attach request on conn and reads the service's
// answer: 101 (upgraded) when it attached, else an error.
func handshake(conn net.Conn, req *http.Request) (*attachStream, error) {
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusSwitchingProtocols, http.StatusOK:
		// A service that does not upgrade answers 200 and streams all
		// the same; the stream is what follows the answer's header.
		return &attachStream{conn: conn, r: r}, nil
	default:
		defer resp.Body.Close()
		return nil, readError(resp)
	}
}

// copy sends stdin (when not nil) to the container, closing the stream's
// write side after it so that the process reads EOF, and copies the
// container's output to stdout and stderr until it ends or the stream is
// closed. It closes the stream and returns once both copies are done.
func (s *attachStream) copy(stdin io.Reader, stdout, stderr io.Writer) error {
	var wg sync.WaitGroup
	if stdin != nil {
		wg.Go(func() {
			if _, err := io.Copy(s.conn, stdin); err == nil {
				if cw, ok := s.conn.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
			}
		})
	}
	err := demux(s.r, stdout, stderr)
	if s.Close() && errors.Is(err, net.ErrClosed) {
		err = nil // closed by the caller, which knows why
	}
	wg.Wait()
	return err
}

// Close closes the stream, ending copy. It is idempotent and safe for
// concurrent use; it reports whether the stream was closed before.
func (s *attachStream) Close() (already bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true
	}
	s.closed = true
	s.conn.Close()
	return false
}

// letGo ends the attach of a container left running. Its stdin is handed
// over first: the process must get its whole input before the stream that
// carries it closes. closeStdin ends a copy still blocked in reading it.
func letGo(stdinRead <-chan struct{}, attached <-chan error, abort, closeStdin func(), log *slog.Logger) {
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-stdinRead:
	case <-attached:
		closeStdin()
		return
	case <-t.C:
		log.Warn("stdin not consumed; detaching anyway")
	}
	abort()
	closeStdin()
	<-attached
}

// eofReader closes eof once r is read to its end.
type eofReader struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}
