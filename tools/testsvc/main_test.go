package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func start(t *testing.T, env map[string]string) (base string, file string, code <-chan int) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "healthy")
	env["HEALTH_FILE"] = file
	cfg, err := configFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan int, 1)
	go func() { ch <- run(cfg, ln, io.Discard) }()
	return "http://" + ln.Addr().String(), file, ch
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestHealthCycle(t *testing.T) {
	base, file, code := start(t, map[string]string{"HEALTHY_AFTER": "150ms", "NAME": "svc", "CRASH_CODE": "7"})
	if st, _ := get(t, base+"/health"); st != 503 || exists(file) {
		t.Errorf("before HEALTHY_AFTER: %d, marker %v; want 503 and no marker", st, exists(file))
	}
	deadline := time.Now().Add(2 * time.Second)
	for st, _ := get(t, base+"/health"); st != 200; st, _ = get(t, base+"/health") {
		if time.Now().After(deadline) {
			t.Fatal("never healthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !exists(file) {
		t.Error("healthy without the marker file")
	}
	if _, body := get(t, base+"/"); body != "testsvc svc" {
		t.Errorf("/ = %q", body)
	}
	get(t, base+"/fail")
	if st, _ := get(t, base+"/health"); st != 503 || exists(file) {
		t.Errorf("after /fail: %d, marker %v", st, exists(file))
	}
	get(t, base+"/recover")
	if st, _ := get(t, base+"/health"); st != 200 || !exists(file) {
		t.Errorf("after /recover: %d, marker %v", st, exists(file))
	}
	get(t, base+"/crash")
	select {
	case c := <-code:
		if c != 7 {
			t.Errorf("/crash exit code %d, want CRASH_CODE 7", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("/crash did not exit")
	}
	if exists(file) {
		t.Error("marker left behind after exit")
	}
}

func TestCrashAfter(t *testing.T) {
	_, _, code := start(t, map[string]string{"CRASH_AFTER": "100ms"})
	select {
	case c := <-code:
		if c != 1 {
			t.Errorf("exit code %d, want the default 1", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("CRASH_AFTER did not crash")
	}
}

func TestSIGTERMExitsQuickly(t *testing.T) {
	// Keep the test binary alive should the signal beat run's handler.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGTERM)
	defer signal.Stop(guard)
	_, _, code := start(t, map[string]string{})
	time.Sleep(50 * time.Millisecond) // let run install its handler
	began := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 || time.Since(began) > time.Second {
			t.Errorf("SIGTERM: exit %d after %s, want 0 quickly", c, time.Since(began))
		}
	case <-time.After(2 * time.Second):
		t.Fatal("SIGTERM ignored")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, env := range []map[string]string{{"HEALTHY_AFTER": "soon"}, {"CRASH_AFTER": "x"}, {"CRASH_CODE": "one"}} {
		if _, err := configFromEnv(func(k string) string { return env[k] }); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
	cfg, _ := configFromEnv(func(string) string { return "" })
	if cfg.port != "8080" || cfg.crashCode != 1 || cfg.healthFile != "/tmp/healthy" {
		t.Errorf("defaults = %+v", cfg)
	}
}
