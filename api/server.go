package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/internal/clock"
	"github.com/hostagent/hostagent/supervisor"
)

// Defaults for the listeners; the agent's config fills them in.
const (
	DefaultAddr   = "127.0.0.1:9740"
	DefaultSocket = "/run/hostagent/api.sock"
)

// Supervisor is what the API needs from the supervisor; *supervisor.Supervisor
// implements it. Restart, Enable and Disable return an error wrapping
// supervisor.ErrUnknownService for a name that is not in the stack.
type Supervisor interface {
	Services() []supervisor.ServiceStatus
	Service(name string) (supervisor.ServiceStatus, bool)
	Restart(ctx context.Context, name string, resetFailures bool) error
	Enable(ctx context.Context, name string) error
	Disable(ctx context.Context, name string) error
	// Events returns up to limit recent events, oldest first.
	Events(limit int) []supervisor.Event
	// Subscribe never blocks the publisher: a full channel loses events.
	Subscribe(buf int) (<-chan supervisor.Event, func())
	Progress() supervisor.Progress
	Plan() *compose.Plan
}

var _ Supervisor = (*supervisor.Supervisor)(nil)

// GPUWaits lists the requests queued at the GPU gate; *gpu.Gate implements it.
type GPUWaits interface {
	Waiting() []gpu.Wait
}

var _ GPUWaits = (*gpu.Gate)(nil)

// Options tune the server; zero values take the defaults.
type Options struct {
	// Addr is the TCP address ("127.0.0.1:9740"); empty: no TCP listener.
	Addr string
	// Socket is the unix socket path; empty: no socket.
	Socket string
	// GPU reads the GPUs (*gpu.Monitor); nil: the API reports none.
	GPU gpu.SnapshotSource
	// GPUGate shows what waits for the GPU lane; nil: nothing.
	GPUGate GPUWaits
	// EngineUp reports whether the container engine answers (for
	// hostagent_engine_up); nil: judged from the bring-up progress.
	EngineUp func() bool
	// Metrics is the collector the supervisor feeds (supervisor.Deps.Metrics);
	// nil: the server makes its own, with status metrics only.
	Metrics *Metrics
	// Control runs reload, down, stop and start; nil: those answer 501.
	Control Controller
	Clock   clock.Clock

	// CallTimeout bounds a restart/enable/disable call (default 30s).
	CallTimeout time.Duration
	// GPUTimeout bounds one NVML snapshot (default 2s).
	GPUTimeout time.Duration
	// ShutdownTimeout bounds the graceful stop in Serve (default 5s).
	ShutdownTimeout time.Duration

	// WSQueue is each WebSocket client's queue length (default 64).
	WSQueue int
	// WSPingInterval is the keepalive period (default 20s).
	WSPingInterval time.Duration
	// WSWriteTimeout bounds one write or ping to a client (default 5s).
	WSWriteTimeout time.Duration
	// WSMaxClients caps the WebSocket clients (default 64); one more is
	// answered 503.
	WSMaxClients int

	// BindRetry is the first wait before retrying a TCP address that
	// could not be bound (default 1s); it doubles up to BindRetryMax
	// (default 30s).
	BindRetry    time.Duration
	BindRetryMax time.Duration
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.New()
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.GPUTimeout <= 0 {
		o.GPUTimeout = 2 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	if o.WSQueue <= 0 {
		o.WSQueue = 64
	}
	if o.WSPingInterval <= 0 {
		o.WSPingInterval = 20 * time.Second
	}
	if o.WSWriteTimeout <= 0 {
		o.WSWriteTimeout = 5 * time.Second
	}
	if o.WSMaxClients <= 0 {
		o.WSMaxClients = 64
	}
	if o.BindRetry <= 0 {
		o.BindRetry = time.Second
	}
	if o.BindRetryMax <= 0 {
		o.BindRetryMax = 30 * time.Second
	}
	return o
}

// Server is the control API.
type Server struct {
	sup     Supervisor
	tokens  TokenSource
	log     *slog.Logger
	opts    Options
	echo    *echo.Echo
	metrics *Metrics
	hub     *hub
	http    *http.Server
	// limitLog keeps what any local user can trigger (bad tokens, too
	// many WebSocket clients) to one journal line per source a minute.
	limitLog *logLimiter
	// defaultAccess applies to requests that did not come through Serve's
	// listeners (Handler mounted elsewhere, tests): it follows Options.Addr.
	defaultAccess access

	// base is every request's parent context; Shutdown cancels it.
	base   context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners []net.Listener
	access    map[net.Listener]access
	cleanup   []func()
	// tcpPending: Listen could not bind Options.Addr; Serve retries it.
	tcpPending bool
}

// New builds the server. tokens guards mutating calls (TokenFile or
// StaticToken); nil refuses every mutating call.
func New(sup Supervisor, tokens TokenSource, log *slog.Logger, opts Options) (*Server, error) {
	if sup == nil {
		return nil, errors.New("api: nil supervisor")
	}
	if log == nil {
		log = slog.Default()
	}
	if tokens == nil {
		tokens = noToken{}
	}
	opts = opts.withDefaults()
	m := opts.Metrics
	if m == nil {
		m = NewMetrics()
	}
	if err := m.attach(&stateCollector{sup: sup, gpu: opts.GPU, gate: opts.GPUGate, engineUp: opts.EngineUp, timeout: opts.GPUTimeout}); err != nil {
		return nil, err
	}
	s := &Server{sup: sup, tokens: tokens, log: log, opts: opts, metrics: m, access: map[net.Listener]access{}}
	s.defaultAccess = accessForAddr(opts.Addr)
	s.base, s.cancel = context.WithCancel(context.Background())
	s.limitLog = newLogLimiter(opts.Clock, time.Minute)
	s.hub = newHub(sup, log, opts.WSQueue, opts.WSMaxClients, m)
	s.echo = s.routes()
	s.http = &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		// Above CallTimeout, so a slow restart still gets its answer out.
		WriteTimeout:   opts.CallTimeout + 15*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext: func(l net.Listener) context.Context {
			return context.WithValue(s.base, accessKey{}, s.accessOf(l))
		},
		ConnContext: connContext,
	}
	return s, nil
}

// Handler is the whole API as an http.Handler (tests, benchmarks).
func (s *Server) Handler() http.Handler { return s.echo }

// Metrics is the collector behind /metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(slogWriter{s.log})
	e.HTTPErrorHandler = s.handleError
	e.Use(s.logRequests, s.recoverPanics, s.limits, s.checkHost)

	// Per route, not groups: an echo group's middleware also runs for
	// unmatched paths, which would answer 401 instead of 404.
	read := func(path string, h echo.HandlerFunc) { e.GET(path, h, s.authorizeRead) }
	write := func(path string, h echo.HandlerFunc) { e.POST(path, h, s.checkOrigin, s.authorizeWrite) }
	s.uiRoutes(read)
	read("/api/system/health", s.getHealth)
	read("/api/system/health/ready", s.getReady)
	read("/api/system/health/full", s.getFull)
	read("/api/system/health/events", s.getEvents)
	read("/api/system/services", s.getServices)
	read("/api/system/services/:name", s.getService)
	read("/api/system/plan", s.getPlan)
	read("/api/system/gpu", s.getGPU)
	read("/api/system/ws", s.getWS)
	read("/metrics", echo.WrapHandler(s.metrics.handler(s.log)))
	write("/api/system/services/:name/restart", s.postRestart)
	write("/api/system/services/:name/enable", s.postEnable)
	write("/api/system/services/:name/disable", s.postDisable)
	write("/api/system/services/:name/stop", s.postStop)
	write("/api/system/services/:name/start", s.postStart)
	write("/api/system/reload", s.postReload)
	write("/api/system/down", s.postDown)
	return e
}

// Listen opens the listeners (so that errors surface before READY); Serve
// calls it when it has not been called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) > 0 {
		return nil
	}
	if s.opts.Addr == "" && s.opts.Socket == "" {
		return errors.New("api: neither a TCP address nor a unix socket to listen on")
	}
	if s.opts.Addr != "" {
		l, err := net.Listen("tcp", s.opts.Addr)
		switch {
		case err == nil:
			s.addTCPLocked(l)
		case s.opts.Socket == "":
			return fmt.Errorf("api: listen on %s: %w", s.opts.Addr, err)
		default:
			// A squatter on the port must not keep the agent down: the
			// socket serves, and Serve retries the address.
			s.tcpPending = true
			s.log.Error("api: cannot listen on the TCP address; serving on the unix socket only and retrying in the background",
				"addr", s.opts.Addr, "socket", s.opts.Socket, "err", err,
				"fix", "find what holds the port (ss -ltnp) and stop it, or set ORCHESTRATOR_API_ADDR")
		}
	}
	if s.opts.Socket != "" {
		l, cleanup, err := listenUnix(s.opts.Socket)
		if err != nil {
			s.closeListenersLocked()
			return err
		}
		l = s.limitConns(l)
		s.listeners = append(s.listeners, l)
		s.access[l] = accessOpen
		s.cleanup = append(s.cleanup, cleanup)
	}
	return nil
}

// addTCPLocked adds a TCP listener, capped, and returns it as served.
func (s *Server) addTCPLocked(l net.Listener) net.Listener {
	l = s.limitConns(l)
	a := accessForListener(l)
	if a == accessToken {
		s.log.Warn("api: TCP listener is not on loopback; reads need the token too", "addr", l.Addr().String())
	}
	s.listeners = append(s.listeners, l)
	s.access[l] = a
	return l
}

func (s *Server) limitConns(l net.Listener) net.Listener {
	addr := l.Addr().String()
	return limitConns(l, maxConns, func() {
		s.limitLog.log(s.log, "conns "+addr, "api: refused a connection: too many open connections", "addr", addr, "max", maxConns)
	})
}

// Addrs are the listeners' addresses (after Listen), TCP first (a TCP
// address bound late, after retrying, comes last).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

func (s *Server) closeListenersLocked() {
	for _, l := range s.listeners {
		_ = l.Close()
	}
	for _, f := range s.cleanup {
		f()
	}
	s.listeners, s.cleanup = nil, nil
}

func (s *Server) accessOf(l net.Listener) access {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.access[l]; ok {
		return a
	}
	return accessForListener(l)
}

// Serve serves until ctx ends, then stops gracefully (in-flight requests
// finish, WebSocket clients are closed with "going away"). It returns nil
// after a clean stop.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ls := append([]net.Listener(nil), s.listeners...)
	s.mu.Unlock()
	errc := make(chan error, len(ls))
	for _, l := range ls {
		s.log.Info("api: serving", "addr", l.Addr().Network()+":"+l.Addr().String())
		go func() { errc <- s.http.Serve(l) }()
	}
	s.mu.Lock()
	retry := s.tcpPending
	s.mu.Unlock()
	if retry {
		go s.retryTCP()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if serr := s.Shutdown(sctx); err == nil {
		err = serr
	}
	return err
}

// Shutdown stops accepting, closes WebSocket clients, and waits for
// in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.hub.shutdown()
	s.cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if werr := s.hub.wait(ctx); werr != nil && err == nil {
		err = fmt.Errorf("api: WebSocket clients still closing: %w", werr)
	}
	s.mu.Lock()
	s.closeListenersLocked()
	s.mu.Unlock()
	return err
}

// slogWriter forwards echo's own log lines to slog.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("api: echo", "msg", string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
