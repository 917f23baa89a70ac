package podman

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
)

// attachConn is a connection of its own for one attach. The bindings end an
// attach only when its stream ends, whatever its context says, and they
// swap the transport of the connection they attach with: on a connection of
// its own, the attach disturbs no other call, and closing the sockets the
// connection dialed is what ends the attach early.
type attachConn struct {
	ctx context.Context // carries the connection

	mu      sync.Mutex
	sockets []net.Conn
	closed  bool
}

// dialAttach opens an attachConn to the Runner's service. Errors wrap
// sandbox.ErrUnavailable.
func (r *Runner) dialAttach(ctx context.Context) (*attachConn, error) {
	c, err := dial(ctx, r.url)
	if err != nil {
		return nil, err
	}
	conn, err := bindings.GetClient(c)
	if err != nil {
		return nil, fmt.Errorf("attach connection: %w", err)
	}
	tr, ok := conn.Client.Transport.(*http.Transport)
	if !ok || tr.DialContext == nil {
		return nil, fmt.Errorf("attach connection: unexpected transport %T", conn.Client.Transport)
	}
	a := &attachConn{ctx: c}
	dialContext := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		s, err := dialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.closed {
			s.Close()
			return nil, net.ErrClosed
		}
		a.sockets = append(a.sockets, s)
		return s, nil
	}
	return a, nil
}

// Close closes every socket the connection dialed, ending an attach in
// flight. It is idempotent and safe for concurrent use.
func (a *attachConn) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for _, s := range a.sockets {
		s.Close()
	}
	a.sockets = nil
}

// letGo ends the attach of a container left running. Its stdin is handed
// over first: the process must get its whole input before the stream that
// carries it closes.
func letGo(stdinRead <-chan struct{}, attached <-chan error, abort func(), log *slog.Logger) {
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-stdinRead:
	case <-attached:
		return
	case <-t.C:
		log.Warn("stdin not consumed; detaching anyway")
	}
	abort()
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
