package api

import (
	"errors"
	"net"
	"net/http"
	"time"
)

// retryTCP binds Options.Addr, which Listen could not, with a doubling
// wait, until it succeeds or the server shuts down; then serves on it. It
// logs once when the address is bound, not on every failed try (Listen
// logged the first).
func (s *Server) retryTCP() {
	// Network timing, like the WebSocket keepalive: real time.
	delay := s.opts.BindRetry
	for tries := 1; ; tries++ {
		t := time.NewTimer(delay)
		select {
		case <-s.base.Done():
			t.Stop()
			return
		case <-t.C:
		}
		l, err := net.Listen("tcp", s.opts.Addr)
		if err != nil {
			delay = min(2*delay, s.opts.BindRetryMax)
			continue
		}
		s.mu.Lock()
		if s.base.Err() != nil {
			s.mu.Unlock()
			_ = l.Close()
			return
		}
		s.tcpPending = false
		l = s.addTCPLocked(l)
		s.mu.Unlock()
		s.log.Info("api: TCP address bound after retrying; serving", "addr", "tcp:"+l.Addr().String(), "tries", tries)
		if err := s.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api: TCP listener stopped; the unix socket still serves", "addr", l.Addr().String(), "err", err)
		}
		return
	}
}
