package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/hostagent/hostagent/supervisor"
)

// SnapshotType is the first WebSocket message's type (see the package doc).
const SnapshotType = "snapshot"

// Snapshot is the first message on a WebSocket.
type Snapshot struct {
	Type      string       `json:"type"`
	Data      SnapshotData `json:"data"`
	Message   string       `json:"message"`
	Timestamp time.Time    `json:"timestamp"`
	// Seq is the newest event the snapshot reflects.
	Seq uint64 `json:"seq"`
}

// SnapshotData is every service and the bring-up progress.
type SnapshotData struct {
	Services []supervisor.ServiceStatus `json:"services"`
	Progress supervisor.Progress        `json:"progress"`
}

// hubBuffer is the hub's own subscription: it only copies pointers into
// client queues, so it keeps up unless the process is starved.
const hubBuffer = 1024

// hub fans the supervisor's events out to WebSocket clients: one
// subscription, each event marshalled once, and a client whose queue is
// full is dropped rather than waited for.
type hub struct {
	sup   Supervisor
	log   *slog.Logger
	queue int
	// maxClients caps the clients: each holds a goroutine, a queue and a
	// connection.
	maxClients int
	m          *Metrics

	mu      sync.Mutex
	clients map[*wsClient]struct{}
	started bool
	closed  bool
	lastSeq uint64
	stop    chan struct{}
	wg      sync.WaitGroup // one per client handler
}

type wsClient struct {
	send chan []byte
	// code and reason say why send was closed; set before the close.
	code   websocket.StatusCode
	reason string
}

var (
	errHubClosed = errors.New("api: server shutting down")
	errHubFull   = errors.New("api: too many WebSocket clients")
)

func newHub(sup Supervisor, log *slog.Logger, queue, maxClients int, m *Metrics) *hub {
	return &hub{sup: sup, log: log, queue: queue, maxClients: maxClients, m: m, clients: map[*wsClient]struct{}{}, stop: make(chan struct{})}
}

// join registers a client; the first one starts the subscription.
func (h *hub) join() (*wsClient, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errHubClosed
	}
	if len(h.clients) >= h.maxClients {
		return nil, errHubFull
	}
	if !h.started {
		h.started = true
		ch, unsub := h.sup.Subscribe(hubBuffer)
		go h.run(ch, unsub)
	}
	c := &wsClient{send: make(chan []byte, h.queue)}
	h.clients[c] = struct{}{}
	h.wg.Add(1)
	h.m.wsClients.Set(float64(len(h.clients)))
	return c, nil
}

// leave is called once by the client's handler when it is done.
func (h *hub) leave(c *wsClient) {
	h.mu.Lock()
	if _, ok := h.clients[c]; ok {
		h.removeLocked(c, websocket.StatusNormalClosure, "")
	}
	h.mu.Unlock()
	h.wg.Done()
}

func (h *hub) removeLocked(c *wsClient, code websocket.StatusCode, reason string) {
	delete(h.clients, c)
	c.code, c.reason = code, reason
	close(c.send)
	h.m.wsClients.Set(float64(len(h.clients)))
}

func (h *hub) run(ch <-chan supervisor.Event, unsub func()) {
	defer unsub()
	for {
		select {
		case ev := <-ch:
			h.broadcast(ev)
		case <-h.stop:
			return
		}
	}
}

func (h *hub) broadcast(ev supervisor.Event) {
	msg, err := json.Marshal(ev)
	if err != nil {
		h.log.Error("api: marshal event", "service", ev.Data.Name, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastSeq != 0 && ev.Seq > h.lastSeq+1 {
		// The hub's own subscription overflowed (or events of different
		// services were published concurrently and arrive out of order).
		h.log.Debug("api: event sequence gap", "after", h.lastSeq, "got", ev.Seq)
	}
	h.lastSeq = max(h.lastSeq, ev.Seq)
	for c := range h.clients {
		select {
		case c.send <- msg:
		default:
			h.removeLocked(c, websocket.StatusTryAgainLater, "client too slow; reconnect for a fresh snapshot")
			h.m.wsDropped.Inc()
			h.log.Warn("api: dropped a slow WebSocket client", "queue", h.queue)
		}
	}
}

// shutdown closes every client with "going away" and refuses new ones.
func (h *hub) shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.stop)
	for c := range h.clients {
		h.removeLocked(c, websocket.StatusGoingAway, "server shutting down")
	}
}

// wait waits for the client handlers to finish (after shutdown).
func (h *hub) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) getWS(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	// The slot is taken before the upgrade, so that a client over the cap
	// gets a plain 503 it can read.
	cl, err := s.hub.join()
	switch {
	case errors.Is(err, errHubFull):
		s.limitLog.log(s.log, "ws-full", "api: refused a WebSocket client: too many clients", "max", s.opts.WSMaxClients, "remote", c.Request().RemoteAddr)
		c.Response().Header().Set("Retry-After", "10")
		return errorf(http.StatusServiceUnavailable, "too many WebSocket clients (at most %d): close another status page or client, or poll /api/system/services instead", s.opts.WSMaxClients)
	case err != nil:
		return errorf(http.StatusServiceUnavailable, "server shutting down")
	}
	defer s.hub.leave(cl)
	// The server's read/write deadlines stay on a hijacked connection; a
	// WebSocket lives longer than any of them.
	rc := http.NewResponseController(c.Response())
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(c.Response(), c.Request(), nil)
	if err != nil {
		s.log.Debug("api: WebSocket upgrade refused", "remote", c.Request().RemoteAddr, "err", err)
		return nil // Accept has answered
	}
	s.serveWS(conn, cl, c.Request().RemoteAddr)
	return nil
}

// serveWS writes the snapshot, then the client's queue, with keepalive
// pings, until the client goes, falls behind, or the server stops.
func (s *Server) serveWS(conn *websocket.Conn, cl *wsClient, remote string) {
	log := s.log.With("remote", remote)
	log.Debug("api: WebSocket client connected")
	// Not under s.base: cancelling CloseRead's context drops the TCP
	// connection without a close frame; shutdown goes through the hub.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx = conn.CloseRead(ctx)

	snap, err := json.Marshal(s.snapshot())
	if err == nil {
		err = s.wsWrite(ctx, conn, snap)
	}
	if err != nil {
		log.Debug("api: WebSocket snapshot not delivered", "err", err)
		_ = conn.CloseNow()
		return
	}
	// Keepalive is network I/O timing, not supervision logic: real time.
	ping := time.NewTicker(s.opts.WSPingInterval)
	defer ping.Stop()
	for {
		select {
		case msg, ok := <-cl.send:
			if !ok {
				log.Debug("api: closing WebSocket client", "code", cl.code, "reason", cl.reason)
				_ = conn.Close(cl.code, cl.reason)
				return
			}
			if err := s.wsWrite(ctx, conn, msg); err != nil {
				log.Info("api: WebSocket client dropped: write failed", "err", err)
				_ = conn.CloseNow()
				return
			}
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, s.opts.WSWriteTimeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				log.Info("api: WebSocket client dropped: no pong", "err", err)
				_ = conn.CloseNow()
				return
			}
		case <-ctx.Done():
			log.Debug("api: WebSocket client went away")
			_ = conn.CloseNow()
			return
		}
	}
}

func (s *Server) wsWrite(ctx context.Context, conn *websocket.Conn, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.WSWriteTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, msg)
}

func (s *Server) snapshot() Snapshot {
	var seq uint64
	if evs := s.sup.Events(1); len(evs) > 0 {
		seq = evs[len(evs)-1].Seq
	}
	svcs := s.sup.Services()
	if svcs == nil {
		svcs = []supervisor.ServiceStatus{}
	}
	return Snapshot{Type: SnapshotType, Message: "Current status", Timestamp: s.now(), Seq: seq,
		Data: SnapshotData{Services: svcs, Progress: s.sup.Progress()}}
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}
