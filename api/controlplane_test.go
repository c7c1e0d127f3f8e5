package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// A process squatting on the TCP port neither stops the agent nor receives
// anything: the socket serves, one error names the address, and the agent
// takes the port once it is free.
func TestTCPSquatterDoesNotStopTheSocket(t *testing.T) {
	squat, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := squat.Addr().String()
	sock := filepath.Join(t.TempDir(), "api.sock")
	var logs logBuffer
	f := newFakeSup()
	s, err := New(f, StaticToken(testToken), logs.logger(), Options{Addr: addr, Socket: sock, Clock: f.clk,
		BindRetry: 10 * time.Millisecond, BindRetryMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	serveReal(t, s)
	uc := unixClient(sock)
	if code, body := get(t, uc, "http://hostagent/api/system/services", "", ""); code != http.StatusOK {
		t.Fatalf("socket read while the TCP port is squatted: %d %s", code, body)
	}
	time.Sleep(100 * time.Millisecond) // several retries fail meanwhile
	if n := strings.Count(logs.String(), "cannot listen on the TCP address"); n != 1 {
		t.Fatalf("%d lines about the squatted port, want 1:\n%s", n, logs.String())
	}
	_ = squat.Close()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/api/system/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent never took the freed port %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "TCP address bound after retrying") {
		t.Errorf("no line saying the port was bound:\n%s", logs.String())
	}
}

// Without a socket the TCP address is the only way in: failing to bind it
// is still an error.
func TestTCPBindFailsWithoutSocket(t *testing.T) {
	squat, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	s := newServer(t, newFakeSup(), Options{Addr: squat.Addr().String()})
	if err := s.Listen(); err == nil || !strings.Contains(err.Error(), squat.Addr().String()) {
		t.Fatalf("Listen = %v, want an error naming %s", err, squat.Addr())
	}
}

// Any local user can send bad tokens; the journal gets one line per source
// a minute, and the next line says how many were left out.
func TestInvalidTokenWarningsAreRateLimited(t *testing.T) {
	var logs logBuffer
	f := newFakeSup()
	s, err := New(f, StaticToken(testToken), logs.logger(), Options{Addr: "127.0.0.1:0", Clock: f.clk})
	if err != nil {
		t.Fatal(err)
	}
	post := func(remote string) {
		r := newRequest(t, "POST", "/api/system/services/redis/restart", nil)
		r.Header.Set("Authorization", "Bearer wrong")
		r.RemoteAddr = remote
		if w := serve(s.Handler(), r); w.Code != http.StatusUnauthorized {
			t.Fatalf("bad token: %d", w.Code)
		}
	}
	for range 50 {
		post("127.0.0.1:40000")
	}
	if n := strings.Count(logs.String(), "invalid token"); n != 1 {
		t.Fatalf("%d invalid-token lines for 50 bad calls within a minute, want 1:\n%s", n, logs.String())
	}
	post("127.0.0.2:40000")
	if n := strings.Count(logs.String(), "invalid token"); n != 2 {
		t.Fatalf("another source gets its own line; got %d lines", n)
	}
	f.clk.Advance(61 * time.Second)
	post("127.0.0.1:40001")
	if !strings.Contains(logs.String(), "suppressed=49") {
		t.Fatalf("the line after the minute should count the 49 left out:\n%s", logs.String())
	}
}

// Over the socket the source is the caller's uid (RemoteAddr is empty).
func TestInvalidTokenOnSocketNamesUID(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	var logs logBuffer
	f := newFakeSup()
	s, err := New(f, StaticToken(testToken), logs.logger(), Options{Socket: sock, Clock: f.clk})
	if err != nil {
		t.Fatal(err)
	}
	serveReal(t, s)
	req, _ := http.NewRequest("POST", "http://hostagent/api/system/services/redis/restart", nil)
	req.Header.Set("Authorization", "Bearer wrong")
	resp, err := unixClient(sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := fmt.Sprintf(`source="unix uid %d"`, os.Getuid()); !strings.Contains(logs.String(), want) {
		t.Fatalf("log lacks %s:\n%s", want, logs.String())
	}
}

// The WebSocket clients are capped; one more gets a 503 that says why, and
// a slot freed is usable again.
func TestWebSocketClientsCapped(t *testing.T) {
	s := newServer(t, newFakeSup(), Options{WSMaxClients: 2})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := dialWS(ctx, t, ts.URL, nil)
	_ = dialWS(ctx, t, ts.URL, nil)
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/system/ws"
	_, resp, err := websocket.Dial(ctx, url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third client: err %v, response %v; want 503", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "too many WebSocket clients (at most 2)") {
		t.Errorf("503 body %q does not say why", body)
	}
	_ = a.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for s.hub.count() >= 2 {
		if time.Now().After(deadline) {
			t.Fatal("the closed client's slot was never freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = dialWS(ctx, t, ts.URL, nil)
}

// Connections beyond the cap are closed at once; closing one frees a slot.
func TestListenerCapsOpenConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan struct{}, 10)
	l := limitConns(inner, 2, func() { refused <- struct{}{} })
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	dial()
	dial()
	first, second := <-accepted, <-accepted
	third := dial()
	select {
	case <-refused:
	case <-time.After(5 * time.Second):
		t.Fatal("the third connection was not refused")
	}
	_ = third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("the refused connection is still open")
	}
	_ = first.Close()
	_ = first.Close() // a second Close must not free another slot
	dial()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
	dial()
	select {
	case <-refused:
	case <-time.After(5 * time.Second):
		t.Fatal("closing one connection twice freed two slots")
	}
	_ = second
}
