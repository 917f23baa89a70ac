package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// apiPrefix is the libpod API version the client asks for: the oldest that
// services from 4.0 on serve, so that 4.x and 5.x services answer alike.
const apiPrefix = "/v4.0.0/libpod"

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// client speaks the libpod REST API of one Podman service over net/http.
// It holds no connection until a call needs one, and is safe for
// concurrent use.
type client struct {
	url  string // as configured, for messages
	base string // scheme and host of request URLs, e.g. http://d
	dial func(context.Context) (net.Conn, error)
	err  error // set when url names no service the client can reach
	http *http.Client
	// tunnel carries the calls of an ssh:// URL; nil for the others.
	tunnel *tunnel
	// calls counts the API requests made, for measurements.
	calls atomic.Int64
}

// newClient returns a client for the service at rawURL; o is used by ssh://
// URLs. A URL it cannot use is not an error here: every call then fails
// with it.
func newClient(rawURL string, o SSH) *client {
	c := &client{url: rawURL}
	u, err := url.Parse(rawURL)
	if err == nil && u.Scheme == "ssh" {
		c.tunnel, err = newTunnel(u, o)
		if err == nil {
			c.dial, c.base = c.tunnel.dial, "http://d"
		}
	} else if err == nil {
		c.dial, c.base, err = dialer(u)
	}
	if err != nil {
		c.err = fmt.Errorf("connect to podman at %s: %w: %w", rawURL, sandbox.ErrUnavailable, err)
		return c
	}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		DisableCompression:  true,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
	}}
	return c
}

// dialer returns how to reach the service a unix:// or tcp:// URL names,
// and the base of the request URLs (ssh:// URLs go through a tunnel).
func dialer(u *url.URL) (func(context.Context) (net.Conn, error), string, error) {
	var d net.Dialer
	switch u.Scheme {
	case "unix":
		path := u.Path
		if path == "" {
			return nil, "", errors.New("unix URL without a socket path")
		}
		return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", path) }, "http://d", nil
	case "tcp":
		host := u.Host
		if u.Port() == "" {
			return nil, "", errors.New("tcp URL without a port")
		}
		return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", host) }, "http://" + host, nil
	default:
		return nil, "", fmt.Errorf("unsupported scheme %q: use unix://, ssh:// or tcp://", u.Scheme)
	}
}

// apiError is an answer of the service with an error status.
type apiError struct {
	Status  int
	Message string `json:"message"`
	Cause   string `json:"cause"`
}

func (e *apiError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("podman answered %d %s", e.Status, http.StatusText(e.Status))
}

// notFound reports whether the service answered 404: no such container,
// image or volume.
func notFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// endpoint is an API path built from format, whose %s verbs take args each
// escaped as one path segment (an image reference's slash included).
func endpoint(format string, args ...string) string {
	escaped := make([]any, len(args))
	for i, a := range args {
		escaped[i] = url.PathEscape(a)
	}
	return fmt.Sprintf(format, escaped...)
}

// request builds a request for path (see endpoint) under the API prefix.
func (c *client) request(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	u, err := url.Parse(c.base + apiPrefix + path)
	if err != nil {
		return nil, err
	}
	u.RawQuery = query.Encode()
	c.calls.Add(1)
	return http.NewRequestWithContext(ctx, method, u.String(), body)
}

// do sends a request and returns the response when its status is below 400,
// else an *apiError. The caller closes the body of a returned response.
func (c *client) do(req *http.Request) (*http.Response, error) {
	if c.err != nil {
		return nil, c.err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

// readError reads the error an answer with an error status carries.
func readError(resp *http.Response) error {
	ae := &apiError{Status: resp.StatusCode}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return fmt.Errorf("read podman's error answer (%d): %w", resp.StatusCode, err)
	}
	if json.Unmarshal(data, ae) != nil || ae.Message == "" {
		ae.Message = strings.TrimSpace(string(data))
	}
	ae.Status = resp.StatusCode
	return ae
}

// call sends in (when not nil) as JSON, decodes the answer into out (when
// not nil) and closes the answer's body.
func (c *client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := c.request(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer closeBody(resp.Body)
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode podman's answer: %w", err)
	}
	return nil
}

// exists asks an .../exists endpoint: 204 yes, 404 no.
func (c *client) exists(ctx context.Context, path string) (bool, error) {
	err := c.call(ctx, http.MethodGet, path, nil, nil, nil)
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	default:
		return false, err
	}
}

// closeBody drains what is left of a small answer, so that its connection
// is kept for the next call, and closes it.
func closeBody(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, maxErrorBody))
	body.Close()
}

// close ends the client's idle connections and its SSH connection, if any.
func (c *client) close() {
	if c.http != nil {
		c.http.CloseIdleConnections()
	}
	if c.tunnel != nil {
		c.tunnel.close()
	}
}

// onDrop has f called whenever the client's SSH connection breaks; a
// no-op for other URLs.
func (c *client) onDrop(f func()) {
	if c.tunnel == nil {
		return
	}
	c.tunnel.mu.Lock()
	c.tunnel.dropped = f
	c.tunnel.mu.Unlock()
}
