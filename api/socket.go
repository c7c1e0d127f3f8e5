package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// listenUnix listens on path with mode 0660. A stale socket file (nothing
// answers on it) is replaced; a live one means another agent runs and is an
// error, as is a path that is not a socket. The socket is bound under a
// temporary name, chmod-ed, then renamed into place, so it is never
// reachable with the umask's mode. The cleanup removes it.
func listenUnix(path string) (net.Listener, func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, nil, fmt.Errorf("api: socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, nil, fmt.Errorf("api: %s exists and is not a socket; refusing to replace it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, nil, fmt.Errorf("api: %s is in use by another process (is another hostagent running?)", path)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("api: socket: %w", err)
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	_ = os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, nil, fmt.Errorf("api: listen on %s: %w", path, err)
	}
	ul := l.(*net.UnixListener)
	// The listener must not unlink the temporary name on Close: it is
	// renamed, and the cleanup removes the real one.
	ul.SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, func(), error) {
		_ = l.Close()
		_ = os.Remove(tmp)
		return nil, nil, fmt.Errorf("api: socket %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o660); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	return &unixListener{UnixListener: ul, path: path}, func() { _ = os.Remove(path) }, nil
}

// unixListener reports the real path as its address.
type unixListener struct {
	*net.UnixListener
	path string
}

func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }
