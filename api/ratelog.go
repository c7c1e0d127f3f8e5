package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hostagent/hostagent/internal/clock"
)

// logLimiter lets one warning per key through per window and counts the
// rest, which the next line that gets through reports as "suppressed": any
// local user can send bad tokens as fast as it likes, and must not fill the
// journal doing so.
type logLimiter struct {
	clock  clock.Clock
	window time.Duration

	mu   sync.Mutex
	keys map[string]*limitEntry
}

type limitEntry struct {
	until      time.Time
	suppressed int
}

// maxLimitKeys bounds the limiter's memory; beyond it, new sources share
// one key.
const maxLimitKeys = 256

func newLogLimiter(clk clock.Clock, window time.Duration) *logLimiter {
	return &logLimiter{clock: clk, window: window, keys: map[string]*limitEntry{}}
}

// log writes msg at warning level unless key had a line within the window.
func (l *logLimiter) log(log *slog.Logger, key, msg string, args ...any) {
	now := l.clock.Now()
	l.mu.Lock()
	if _, ok := l.keys[key]; !ok && len(l.keys) >= maxLimitKeys {
		for k, e := range l.keys {
			if !now.Before(e.until) {
				delete(l.keys, k)
			}
		}
		if len(l.keys) >= maxLimitKeys {
			key = "other sources"
		}
	}
	e := l.keys[key]
	if e != nil && now.Before(e.until) {
		e.suppressed++
		l.mu.Unlock()
		return
	}
	var suppressed int
	if e != nil {
		suppressed = e.suppressed
	}
	l.keys[key] = &limitEntry{until: now.Add(l.window)}
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed, "note", fmt.Sprintf("%d more like this since the last line; at most one a %s per source", suppressed, l.window))
	}
	log.Warn(msg, args...)
}

// peerKey holds a unix socket client's credentials in its connection's
// context (http.Server.ConnContext).
type peerKey struct{}

type peerCred struct {
	uid, pid int
}

// connContext records the peer's uid and pid on unix socket connections,
// where RemoteAddr says nothing about who is calling.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*capConn); ok {
		c = cc.Conn
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, peerCred{uid: int(cred.Uid), pid: int(cred.Pid)})
}

// source names who sent a request, for rate-limited logs: the uid on the
// unix socket, the remote IP on TCP.
func source(ctx context.Context, remoteAddr string) string {
	if p, ok := ctx.Value(peerKey{}).(peerCred); ok {
		return fmt.Sprintf("unix uid %d", p.uid)
	}
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	if remoteAddr == "" || remoteAddr == "@" {
		return "unix socket"
	}
	return remoteAddr
}
