package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// Sentinel errors. Engine errors wrap one of these (test with errors.Is)
// together with the engine's own error text.
var (
	// ErrNotFound: the container (network, volume, exec) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the engine could not be reached or did not answer
	// within the call timeout.
	ErrUnavailable = errors.New("engine unavailable")
	// ErrConflict: a name is taken, or the container is in a state that
	// forbids the operation.
	ErrConflict = errors.New("conflict")
	// ErrExecTimeout: an exec started but did not finish within its
	// timeout. The process may still run inside the container.
	ErrExecTimeout = errors.New("exec timed out")
)

// classify wraps err from a call made with a derived context cctx: the
// caller's own cancellation stays a context error, our call timeout and
// dial failures become ErrUnavailable.
func classify(parent context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("%s: %w", op, parent.Err())
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%s: %w: %w", op, ErrNotFound, err)
	// Podman 4 answers a taken container name with a 500, not a 409.
	case cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already in use"):
		return fmt.Errorf("%s: %w: %w", op, ErrConflict, err)
	case isUnreachable(err):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	case isEngineSetup(err):
		return fmt.Errorf("%s: %w: %w", op, ErrEngineSetup, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isUnreachable: no connection, or no answer in time. A server-side error
// status (500 ...) is not unreachability.
func isUnreachable(err error) bool {
	return client.IsErrConnectionFailed(err) ||
		errors.Is(err, context.DeadlineExceeded) ||
		cerrdefs.IsUnavailable(err) ||
		// The API service went away mid-request (restarted, socket gone).
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ENOENT)
}

// engineSetupSigns are error texts by which Podman says that it cannot
// start any container: the network backend's firewall tool is missing (a
// fresh Debian 12 lacks iptables and Podman only suggests it), or the OCI
// runtime or conmon is not installed. They name the host, not a service.
var engineSetupSigns = []string{
	"netavark: No such file or directory",
	"netavark: iptables",
	"netavark (exit code",
	"unable to find network backend",
	"no valid executable found for OCI runtime",
	"default OCI runtime",
	"could not find a working conmon",
}

func isEngineSetup(err error) bool {
	msg := err.Error()
	for _, s := range engineSetupSigns {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
