package podman

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Streams of a multiplexed frame, as the service numbers them.
const (
	streamStdin  = 0
	streamStdout = 1
	streamStderr = 2
	streamError  = 3 // the service's own error message
)

// demux copies the multiplexed stream the service sends for attach and
// logs of a container without a terminal, to stdout and stderr, until r
// ends. Each frame is an 8-byte header (the stream, three zero bytes, the
// payload's length as a big-endian uint32) and the payload. A stream that
// ends between frames is complete; one that ends inside a frame is
// io.ErrUnexpectedEOF.
func demux(r io.Reader, stdout, stderr io.Writer) error {
	var hdr [8]byte
	buf := make([]byte, 32<<10)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read frame header: %w", err)
		}
		size := int64(binary.BigEndian.Uint32(hdr[4:]))
		var w io.Writer
		switch hdr[0] {
		case streamStdin, streamStdout:
			w = stdout
		case streamStderr:
			w = stderr
		case streamError:
			msg, err := io.ReadAll(io.LimitReader(r, min(size, maxErrorBody)))
			if err != nil {
				return fmt.Errorf("read error frame: %w", err)
			}
			return fmt.Errorf("podman: %s", msg)
		default:
			return fmt.Errorf("frame of unknown stream %d: stream out of sync", hdr[0])
		}
		n, err := io.CopyBuffer(w, io.LimitReader(r, size), buf)
		if err != nil {
			return fmt.Errorf("copy frame: %w", err)
		}
		if n < size {
			return fmt.Errorf("read frame: %w", io.ErrUnexpectedEOF)
		}
	}
}
