package podman

import (
	"fmt"
	"os"
	"syscall"
)

// watchFile calls changed whenever the kernel reports a change to the
// file at path (inotify IN_MODIFY), from a goroutine of its own, until
// stop, which waits for that goroutine.
//
// The meter watches a v2 cgroup's memory.events with it: the kernel
// notifies that file when the OOM killer ends a process in the cgroup, so
// the count is read at once. Reading it every second, or when the
// container's output closes, can be too late: systemd removes a
// container's cgroup the moment its last process ends.
func watchFile(path string, changed func()) (stop func(), err error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, path, syscall.IN_MODIFY); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	// Non-blocking: the runtime's poller waits for it, and Close ends a
	// pending Read.
	f := os.NewFile(uintptr(fd), "inotify "+path)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096) // whole events; their content does not matter
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			changed()
		}
	}()
	return func() {
		f.Close()
		<-done
	}, nil
}
