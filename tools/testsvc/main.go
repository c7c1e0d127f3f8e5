// Command testsvc is a small static HTTP service that the tests, the demo
// and the bench run in containers to play a supervised service.
//
// Environment:
//
//	PORT           listen port (default 8080)
//	HEALTHY_AFTER  duration before it reports healthy (default 0)
//	CRASH_AFTER    exit on its own after this duration (default: never)
//	CRASH_CODE     exit code for /crash and CRASH_AFTER (default 1)
//	HEALTH_FILE    marker kept while healthy, for a CMD-SHELL check such as
//	               `test -f /tmp/healthy` (default /tmp/healthy)
//	NAME           name it reports on / (default: the hostname)
//
// Endpoints: /health (200 healthy, 503 not), /fail (turn unhealthy),
// /recover (healthy again), /crash (exit with CRASH_CODE), / (a line
// naming the instance). SIGTERM makes it exit 0 at once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		log.Fatalf("testsvc: %v", err)
	}
	ln, err := net.Listen("tcp", ":"+cfg.port)
	if err != nil {
		log.Fatalf("testsvc: %v", err)
	}
	os.Exit(run(cfg, ln, os.Stdout))
}

type config struct {
	port         string
	healthyAfter time.Duration
	crashAfter   time.Duration
	crashCode    int
	healthFile   string
	name         string
}

func configFromEnv(getenv func(string) string) (config, error) {
	cfg := config{port: "8080", crashCode: 1, healthFile: "/tmp/healthy", name: getenv("NAME")}
	if v := getenv("PORT"); v != "" {
		cfg.port = v
	}
	if cfg.name == "" {
		cfg.name, _ = os.Hostname()
	}
	if v := getenv("HEALTH_FILE"); v != "" {
		cfg.healthFile = v
	}
	var err error
	if v := getenv("HEALTHY_AFTER"); v != "" {
		if cfg.healthyAfter, err = time.ParseDuration(v); err != nil {
			return cfg, fmt.Errorf("HEALTHY_AFTER: %w", err)
		}
	}
	if v := getenv("CRASH_AFTER"); v != "" {
		if cfg.crashAfter, err = time.ParseDuration(v); err != nil {
			return cfg, fmt.Errorf("CRASH_AFTER: %w", err)
		}
	}
	if v := getenv("CRASH_CODE"); v != "" {
		if cfg.crashCode, err = strconv.Atoi(v); err != nil {
			return cfg, fmt.Errorf("CRASH_CODE: %w", err)
		}
	}
	return cfg, nil
}

// service is the state behind the handlers.
type service struct {
	cfg  config
	logf func(format string, args ...any)
	exit chan int

	mu      sync.Mutex
	ready   bool // HEALTHY_AFTER has passed
	failing bool // /fail was called
}

func (s *service) healthy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready && !s.failing
}

func (s *service) set(f func()) {
	s.mu.Lock()
	f()
	ok := s.ready && !s.failing
	s.mu.Unlock()
	// The marker follows health so a CMD-SHELL `test -f` check agrees
	// with /health.
	if ok {
		_ = os.WriteFile(s.cfg.healthFile, []byte("ok\n"), 0o644)
	} else {
		_ = os.Remove(s.cfg.healthFile)
	}
}

func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if s.healthy() {
			fmt.Fprintln(w, "healthy")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "unhealthy")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		s.set(func() { s.failing = true })
		s.logf("testsvc %s: now unhealthy (/fail)", s.cfg.name)
		fmt.Fprintln(w, "unhealthy")
	})
	mux.HandleFunc("/recover", func(w http.ResponseWriter, r *http.Request) {
		s.set(func() { s.failing = false })
		s.logf("testsvc %s: healthy again (/recover)", s.cfg.name)
		fmt.Fprintln(w, "recovered")
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		s.logf("testsvc %s: crashing with code %d (/crash)", s.cfg.name, s.cfg.crashCode)
		fmt.Fprintln(w, "crashing")
		s.exitWith(s.cfg.crashCode)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "testsvc %s\n", s.cfg.name)
	})
	return mux
}

func (s *service) exitWith(code int) {
	select {
	case s.exit <- code:
	default:
	}
}

// run serves on ln until SIGTERM/SIGINT (exit 0), /crash or CRASH_AFTER
// (exit CRASH_CODE), and returns the exit code.
func run(cfg config, ln net.Listener, logw io.Writer) int {
	logger := log.New(logw, "", log.LstdFlags)
	s := &service{cfg: cfg, logf: logger.Printf, exit: make(chan int, 1)}
	s.set(func() { s.ready = cfg.healthyAfter <= 0 })
	if cfg.healthyAfter > 0 {
		time.AfterFunc(cfg.healthyAfter, func() {
			s.set(func() { s.ready = true })
			logger.Printf("testsvc %s: healthy after %s", cfg.name, cfg.healthyAfter)
		})
	}
	if cfg.crashAfter > 0 {
		time.AfterFunc(cfg.crashAfter, func() {
			logger.Printf("testsvc %s: crashing after %s with code %d", cfg.name, cfg.crashAfter, cfg.crashCode)
			s.exitWith(cfg.crashCode)
		})
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Printf("testsvc %s: listening on %s (healthy after %s)", cfg.name, ln.Addr(), cfg.healthyAfter)

	code := 0
	select {
	case sig := <-sigs:
		logger.Printf("testsvc %s: %s, exiting", cfg.name, sig)
	case code = <-s.exit:
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			logger.Printf("testsvc %s: %v", cfg.name, err)
			code = 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = os.Remove(cfg.healthFile)
	return code
}
