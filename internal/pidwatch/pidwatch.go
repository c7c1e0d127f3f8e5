// Package pidwatch tells the moment a container's main process exits, by a
// pidfd on the process: the kernel signals it, with no polling. Podman's
// own die event can take a quarter of a second to arrive (it tails its
// events file), so this is the supervisor's fast path for crashes; the
// engine's event stays the slow, sure one.
//
// A PID is only watched when its /proc/PID/cgroup names the container, so
// an agent in another PID namespace (a PID that means another process
// there) never watches the wrong process: it just goes without the fast
// path.
package pidwatch

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hostagent/hostagent/internal/cgroup"
)

// Watcher watches processes under procRoot ("/proc").
type Watcher struct{ procRoot string }

// New returns a watcher of this host's processes.
func New() *Watcher { return &Watcher{procRoot: "/proc"} }

// ErrNotOurs: the PID is not the container's process in this PID namespace.
var ErrNotOurs = errors.New("pidwatch: process is not the container's (another PID namespace?)")

// Watch returns a channel closed when the process pid of container exits,
// or when ctx ends (check ctx to tell which). An error means no watch:
// the caller relies on engine events alone.
func (w *Watcher) Watch(ctx context.Context, pid int, container string) (<-chan struct{}, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("pidwatch: no pid")
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("pidwatch: pidfd_open %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
	// The pidfd pins the process: /proc/PID now surely is the one we hold.
	id, err := cgroup.ContainerIDForPID(w.procRoot, pid)
	if err != nil || id == "" || id != container {
		f.Close()
		if err == nil {
			err = ErrNotOurs
		}
		return nil, err
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	exited := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { f.Close() })
	go func() {
		defer close(exited)
		defer stop()
		defer f.Close()
		// The runtime poller wakes this when the pidfd turns readable,
		// which it does when the process exits.
		_ = raw.Read(func(fd uintptr) bool {
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
			return err != nil || n > 0
		})
	}()
	return exited, nil
}
