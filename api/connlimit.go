package api

import (
	"net"
	"sync"
	"sync/atomic"
)

// maxConns caps the open connections per listener: each costs a file
// descriptor, and an agent out of descriptors cannot reach the engine.
// It is above WSMaxClients plus a burst of CLI calls.
const maxConns = 512

// capListener closes, at once, a connection accepted while max are open,
// rather than blocking Accept as netutil.LimitListener does: the accept
// loop keeps running and connections free slots as they close.
type capListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused func()
}

func limitConns(l net.Listener, limit int, refused func()) net.Listener {
	return &capListener{Listener: l, max: int64(limit), refused: refused}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			_ = c.Close()
			if l.refused != nil {
				l.refused()
			}
			continue
		}
		return &capConn{Conn: c, release: func() { l.open.Add(-1) }}, nil
	}
}

type capConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
