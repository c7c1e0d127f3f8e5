// Package sdnotify tells systemd where the agent is in its life (the sd_notify
// protocol): READY once the API serves, STATUS lines with bring-up progress,
// RELOADING around a SIGHUP, STOPPING on shutdown and watchdog pings.
//
// Outside systemd (NOTIFY_SOCKET unset: a terminal, a test, a container) every
// call is a no-op that logs once at debug, so callers never branch on it.
// Watchdog pings are the caller's job, from its supervision loop, so that a
// wedged loop stops the pings and systemd restarts the agent; a ticker of its
// own here would keep pinging through a deadlock.
package sdnotify

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// Notifier sends sd_notify messages to the socket named by NOTIFY_SOCKET.
// It is safe for concurrent use.
type Notifier struct {
	log      *slog.Logger
	noopOnce sync.Once
}

// New returns a Notifier that logs through log.
func New(log *slog.Logger) *Notifier {
	return &Notifier{log: log}
}

// Enabled reports whether the agent runs under a service manager that listens
// for notifications.
func (n *Notifier) Enabled() bool { return os.Getenv("NOTIFY_SOCKET") != "" }

// Ready tells systemd that start-up (or a reload) is done; with Type=notify
// the unit becomes active only now.
func (n *Notifier) Ready() error { return n.send(daemon.SdNotifyReady) }

// Status sets the free-form line `systemctl status` shows. Newlines would
// end the field early, so they become spaces.
func (n *Notifier) Status(text string) error {
	return n.send("STATUS=" + strings.ReplaceAll(text, "\n", " "))
}

// Stopping tells systemd the agent is shutting down on purpose.
func (n *Notifier) Stopping() error { return n.send(daemon.SdNotifyStopping) }

// Reloading tells systemd a reload began; send Ready when it is done. The
// MONOTONIC_USEC field is what systemd 253+ (Type=notify-reload) requires and
// older versions ignore.
func (n *Notifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return n.send(daemon.SdNotifyReloading)
	}
	usec := ts.Nano() / int64(time.Microsecond)
	return n.send(daemon.SdNotifyReloading + "\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10))
}

// Watchdog pings the watchdog. Call it from the supervision loop every
// WatchdogInterval.
func (n *Notifier) Watchdog() error { return n.send(daemon.SdNotifyWatchdog) }

// WatchdogInterval returns how often to call Watchdog: half of WATCHDOG_USEC,
// as sd_watchdog_enabled(3) advises. ok is false when systemd set no watchdog
// for this process (unset, malformed, or meant for another PID).
func (n *Notifier) WatchdogInterval() (every time.Duration, ok bool) {
	timeout, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("ignoring malformed systemd watchdog settings", "err", err)
		return 0, false
	}
	if timeout <= 0 {
		return 0, false
	}
	return timeout / 2, true
}

func (n *Notifier) send(state string) error {
	sent, err := daemon.SdNotify(false, state)
	if err != nil {
		return fmt.Errorf("sd_notify %q: %w", firstLine(state), err)
	}
	if !sent {
		n.noopOnce.Do(func() {
			n.log.Debug("not running under systemd (NOTIFY_SOCKET unset): readiness and watchdog notifications are off")
		})
	}
	return nil
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
