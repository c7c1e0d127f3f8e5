package api

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/tools/loadgen"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/supervisor"
)

// nemotronSup is the fake with the nemotron stack's nine services.
func nemotronSup() *fakeSup {
	f := newFakeSup()
	f.svcs = f.svcs[:4] // postgres, redis, ai-yolo26, backend
	for i, n := range []string{"ai-llm", "ai-florence", "ai-clip", "ai-enrichment"} {
		f.svcs = append(f.svcs, supervisor.ServiceStatus{Name: n, DisplayName: n, Category: "ai", Status: supervisor.Running,
			Enabled: true, ContainerID: fmt.Sprintf("%012x", 0xfeed00+i), Image: "security-" + n + ":latest", Port: 8091 + i,
			Phase: 2, Track: string(compose.TrackCore), GPU: true, HealthMethod: "http", UptimeSeconds: 7200})
	}
	f.svcs = append(f.svcs, supervisor.ServiceStatus{Name: "frontend", DisplayName: "Frontend", Category: "frontend",
		Status: supervisor.Running, Enabled: true, ContainerID: "0123456789ab", Image: "security-frontend:latest", Port: 5173,
		Phase: 4, Track: string(compose.TrackCore), HealthMethod: "http", UptimeSeconds: 7100})
	return f
}

// BenchmarkServicesHandler: GET /api/system/services through the echo
// stack (middleware, auth, JSON), no network.
func BenchmarkServicesHandler(b *testing.B) {
	s, err := New(nemotronSup(), StaticToken(testToken), quietLogger(), Options{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	req, _ := http.NewRequest("GET", "http://localhost/api/system/services", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := discardWriter{h: http.Header{}}
		h.ServeHTTP(&w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(p), nil
}
func (w *discardWriter) WriteHeader(c int) { w.code = c }

// BenchmarkServicesTCP: the same over loopback TCP with keep-alive, from
// parallel clients, through Serve's http.Server.
func BenchmarkServicesTCP(b *testing.B) {
	s, err := New(nemotronSup(), StaticToken(testToken), quietLogger(), Options{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	url := "http://" + s.Addrs()[0].String() + "/api/system/services"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

var (
	loadAddr     = flag.String("load.addr", "", "TestLoad: agent address host:port or unix socket path; \"self\" serves the nine-service fake in-process")
	loadRate     = flag.Int("load.rate", 500, "TestLoad: requests per second, sent on schedule whatever the latency (open loop)")
	loadDuration = flag.Duration("load.duration", 10*time.Second, "TestLoad: how long to send")
	loadPath     = flag.String("load.path", "/api/system/services", "TestLoad: GET path")
	loadToken    = flag.String("load.token-file", "", "TestLoad: send the token from this file (reads on a non-loopback address need it)")
)

// TestLoad is a fixed-rate load generator (make bench-api), skipped unless
// -load.addr is given. Requests are sent on a fixed schedule, and each
// latency is measured from when the request was due, not from when it was
// sent, so a stalled server shows up in the percentiles instead of slowing
// the generator down (wrk's closed loop hides that: coordinated omission).
func TestLoad(t *testing.T) {
	if *loadAddr == "" {
		t.Skip("load generator: pass -load.addr (make bench-api)")
	}
	addr := *loadAddr
	if addr == "self" {
		s := newServer(t, nemotronSup(), Options{Addr: "127.0.0.1:0"})
		serveReal(t, s)
		addr = s.Addrs()[0].String()
	}
	var token string
	if *loadToken != "" {
		b, err := os.ReadFile(*loadToken)
		if err != nil {
			t.Fatal(err)
		}
		token = strings.TrimSpace(string(b))
	}
	res, err := loadgen.Run(t.Context(), loadgen.Options{Addr: addr, Path: *loadPath, Rate: *loadRate, Duration: *loadDuration, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("GET %s on %s at %d/s for %s: %s\n", *loadPath, addr, *loadRate, *loadDuration, res)
	fmt.Printf("latency from schedule: p50 %s  p99 %s\n", res.Percentile(0.5).Round(time.Microsecond), res.Percentile(0.99).Round(time.Microsecond))
	if res.Errors > 0 {
		t.Errorf("%d requests failed", res.Errors)
	}
}
