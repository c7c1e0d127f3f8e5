package sdnotify

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen opens a unixgram socket the way systemd does and points
// NOTIFY_SOCKET at it.
func listen(t *testing.T) *net.UnixConn {
	t.Helper()
	// Socket paths are limited to 108 bytes; t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

func recv(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no datagram arrived: %v", err)
	}
	return string(buf[:n])
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

func TestMessagesArriveAsDatagrams(t *testing.T) {
	conn := listen(t)
	n := New(discard())
	if !n.Enabled() {
		t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
	}

	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"ready", n.Ready, "READY=1"},
		{"status", func() error { return n.Status("phase 2/4: starting ai-llm") }, "STATUS=phase 2/4: starting ai-llm"},
		{"status newline", func() error { return n.Status("a\nb") }, "STATUS=a b"},
		{"watchdog", n.Watchdog, "WATCHDOG=1"},
		{"stopping", n.Stopping, "STOPPING=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatalf("send: %v", err)
			}
			if got := recv(t, conn); got != tc.want {
				t.Errorf("datagram = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReloadingCarriesMonotonicTimestamp(t *testing.T) {
	conn := listen(t)
	if err := New(discard()).Reloading(); err != nil {
		t.Fatal(err)
	}
	got := recv(t, conn)
	first, rest, ok := strings.Cut(got, "\n")
	if first != "RELOADING=1" || !ok {
		t.Fatalf("datagram = %q, want RELOADING=1 then MONOTONIC_USEC", got)
	}
	v, found := strings.CutPrefix(rest, "MONOTONIC_USEC=")
	if usec, err := strconv.ParseInt(v, 10, 64); !found || err != nil || usec <= 0 {
		t.Errorf("second line = %q, want MONOTONIC_USEC=<positive>", rest)
	}
}

func TestSendToMissingSocketFails(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	if err := New(discard()).Ready(); err == nil || !strings.Contains(err.Error(), "READY=1") {
		t.Errorf("Ready() to a missing socket: err = %v, want an error naming READY=1", err)
	}
}

func TestNoopOutsideSystemdLogsOnce(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	var logs bytes.Buffer
	n := New(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if n.Enabled() {
		t.Error("Enabled() = true without NOTIFY_SOCKET")
	}
	for _, call := range []func() error{n.Ready, n.Watchdog, n.Stopping, n.Reloading, func() error { return n.Status("x") }} {
		if err := call(); err != nil {
			t.Errorf("no-op returned %v", err)
		}
	}
	if got := strings.Count(logs.String(), "NOTIFY_SOCKET unset"); got != 1 {
		t.Errorf("logged the no-op %d times, want once:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "level=DEBUG") {
		t.Errorf("no-op not logged at debug:\n%s", logs.String())
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name      string
		usec, pid string
		want      time.Duration
		wantOK    bool
	}{
		{"unset", "", "", 0, false},
		{"half of 30s", "30000000", "", 15 * time.Second, true},
		{"our pid", "20000000", self, 10 * time.Second, true},
		{"another pid", "20000000", "1", 0, false},
		{"malformed", "soon", "", 0, false},
		{"zero", "0", "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			got, ok := New(discard()).WatchdogInterval()
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("WatchdogInterval() = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
