package api

import (
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serveReal runs the server on its own listeners until the test ends.
func serveReal(t *testing.T, s *Server) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func tcpPort(t *testing.T, s *Server) string {
	t.Helper()
	for _, a := range s.Addrs() {
		if ta, ok := a.(*net.TCPAddr); ok {
			return strconv.Itoa(ta.Port)
		}
	}
	t.Fatal("no TCP listener")
	return ""
}

func get(t *testing.T, c *http.Client, url, host, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
}

func TestNonLoopbackReadsNeedToken(t *testing.T) {
	s := newServer(t, newFakeSup(), Options{Addr: "0.0.0.0:0"})
	serveReal(t, s)
	base := "http://127.0.0.1:" + tcpPort(t, s)
	c := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/api/system/services", "/api/system/health", "/metrics", "/api/system/ws"} {
		if code, body := get(t, c, base+path, "", ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without token on 0.0.0.0: %d %s", path, code, body)
		}
		if code, _ := get(t, c, base+path, "", "wrong"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token on 0.0.0.0: %d", path, code)
		}
	}
	if code, body := get(t, c, base+"/api/system/services", "", testToken); code != http.StatusOK {
		t.Errorf("GET with token on 0.0.0.0: %d %s", code, body)
	}
	// Any Host is fine there: the token is the check.
	if code, _ := get(t, c, base+"/api/system/health", "agent.example.net", testToken); code != http.StatusOK {
		t.Errorf("GET with token and a DNS name: %d", code)
	}
}

func TestLoopbackAndSocketReadsOpen(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "api.sock")
	s := newServer(t, newFakeSup(), Options{Addr: "127.0.0.1:0", Socket: sock})
	serveReal(t, s)
	c := &http.Client{Timeout: 5 * time.Second}
	base := "http://127.0.0.1:" + tcpPort(t, s)
	if code, body := get(t, c, base+"/api/system/services", "", ""); code != http.StatusOK {
		t.Errorf("loopback read: %d %s", code, body)
	}
	if code, _ := get(t, c, base+"/api/system/services", "localhost:9740", ""); code != http.StatusOK {
		t.Errorf("loopback read, Host localhost: %d", code)
	}
	// DNS rebinding: a page on evil.example resolved to 127.0.0.1.
	if code, body := get(t, c, base+"/api/system/services", "evil.example:9740", ""); code != http.StatusForbidden {
		t.Errorf("loopback read with a foreign Host: %d %s", code, body)
	}

	uc := unixClient(sock)
	if code, body := get(t, uc, "http://hostagent/api/system/services", "", ""); code != http.StatusOK {
		t.Errorf("socket read: %d %s", code, body)
	}
	// Writes need the token on the socket too.
	resp, err := uc.Post("http://hostagent/api/system/services/redis/restart", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("socket write without token: %d", resp.StatusCode)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want socket 0660", fi.Mode())
	}
}

func TestSocketReplacesStaleAndRefusesOthers(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	// A stale socket: bound, then its listener gone without unlinking.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	s := newServer(t, newFakeSup(), Options{Socket: sock})
	serveReal(t, s)
	if code, _ := get(t, unixClient(sock), "http://h/api/system/health", "", ""); code != http.StatusOK {
		t.Fatalf("after replacing a stale socket: %d", code)
	}

	// A live socket belongs to someone else.
	s2, err := New(newFakeSup(), StaticToken(testToken), quietLogger(), Options{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Listen(); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second agent on a live socket: %v", err)
	}
	// A regular file is never deleted.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3, _ := New(newFakeSup(), StaticToken(testToken), quietLogger(), Options{Socket: plain})
	if err := s3.Listen(); err == nil {
		t.Errorf("listened over a regular file")
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep" {
		t.Errorf("regular file changed")
	}
}

func TestServeStopsAndRemovesSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	s := newServer(t, newFakeSup(), Options{Addr: "127.0.0.1:0", Socket: sock})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Addrs()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	f := newFakeSup()
	s, err := New(f, TokenFile(path), quietLogger(), Options{Addr: "127.0.0.1:0", Clock: f.clk})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	const target = "/api/system/services/redis/enable"

	// No file: locked, never open.
	w := do(t, h, "POST", target, "")
	wantCode(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "no usable token") {
		t.Errorf("locked body %s", w.Body.String())
	}
	wantCode(t, do(t, h, "POST", target, "anything"), http.StatusServiceUnavailable)

	// Empty file: locked too.
	if err := os.WriteFile(path, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantCode(t, do(t, h, "POST", target, ""), http.StatusServiceUnavailable)

	if err := os.WriteFile(path, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantCode(t, do(t, h, "POST", target, "first-token"), http.StatusOK)
	wantCode(t, do(t, h, "POST", target, "second-token"), http.StatusUnauthorized)

	// Rotation is picked up without a restart.
	if err := os.WriteFile(path, []byte("second-token-longer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	wantCode(t, do(t, h, "POST", target, "second-token-longer"), http.StatusOK)
	wantCode(t, do(t, h, "POST", target, "first-token"), http.StatusUnauthorized)

	if n := len(f.Calls()); n != 2 {
		t.Errorf("%d calls reached the supervisor, want 2", n)
	}

	// Without any token source, mutating calls are refused, reads still open.
	s2, _ := New(f, nil, quietLogger(), Options{Addr: "127.0.0.1:0"})
	wantCode(t, do(t, s2.Handler(), "POST", target, "x"), http.StatusServiceUnavailable)
	wantCode(t, do(t, s2.Handler(), "GET", "/api/system/health", ""), http.StatusOK)
}

func TestHandlerOutsideListenersFollowsAddr(t *testing.T) {
	// Mounted elsewhere, the handler judges reads by the configured address.
	s := newServer(t, newFakeSup(), Options{Addr: "10.1.2.3:9740"})
	wantCode(t, do(t, s.Handler(), "GET", "/api/system/services", ""), http.StatusUnauthorized)
	wantCode(t, do(t, s.Handler(), "GET", "/api/system/services", testToken), http.StatusOK)
}

func TestAccessForAddr(t *testing.T) {
	for addr, want := range map[string]access{
		"127.0.0.1:9740": accessLoopback, "localhost:9740": accessLoopback, "[::1]:9740": accessLoopback,
		"0.0.0.0:9740": accessToken, ":9740": accessToken, "192.168.1.5:9740": accessToken,
		"agent.lan:9740": accessToken, "garbage": accessToken,
	} {
		if got := accessForAddr(addr); got != want {
			t.Errorf("accessForAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
