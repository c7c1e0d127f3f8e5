//go:build integration

// Command placeholder stands in for /usr/bin/hostagent so that the e2e test
// can prove the packaging on its own: the unit's Type=notify handshake, the
// watchdog, SIGHUP/SIGTERM handling, journal logging and what the hardening
// still lets through (the Podman socket, /proc/*/cgroup, the state dir). It
// uses the real internal/sdnotify and internal/logging packages.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hostagent/hostagent/internal/logging"
	"github.com/hostagent/hostagent/internal/sdnotify"
)

var version = "dev"

func main() {
	cmd := "run"
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	switch cmd {
	case "version":
		fmt.Printf("hostagent %s (e2e placeholder)\n", version)
	case "run":
		os.Exit(run())
	case "reload":
		// ExecReload: reload --pid $MAINPID.
		if len(os.Args) == 4 && os.Args[2] == "--pid" {
			if pid, err := strconv.Atoi(os.Args[3]); err == nil {
				_ = syscall.Kill(pid, syscall.SIGHUP)
				return
			}
		}
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "placeholder: %s is not implemented\n", cmd)
		os.Exit(2)
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run() int {
	log := logging.New(env("ORCHESTRATOR_LOG_LEVEL", "info"), os.Stderr)
	notify := sdnotify.New(log)

	checks(log)
	log.Info("ContainerOrchestrator started", "version", version, "placeholder", true)
	if err := notify.Ready(); err != nil {
		log.Error("sd_notify READY failed", "err", err)
	}
	_ = notify.Status("placeholder: idle")

	every, ok := notify.WatchdogInterval()
	if !ok {
		every = time.Hour
	}
	log.Info("watchdog", "enabled", ok, "ping_every", every)
	tick := time.NewTicker(every)
	defer tick.Stop()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	pings := 0
	for {
		select {
		case <-tick.C:
			if err := notify.Watchdog(); err != nil {
				log.Warn("watchdog ping failed", "err", err)
			}
			pings++
			if pings == 1 {
				log.Info("first watchdog ping sent")
			}
		case s := <-sigs:
			if s == syscall.SIGHUP {
				_ = notify.Reloading()
				log.Info("reload requested by SIGHUP")
				_ = notify.Ready()
				continue
			}
			_ = notify.Stopping()
			log.Info("stopping on signal, leaving the stack running", "signal", s.String())
			return 0
		}
	}
}

// checks logs one line per thing the hardening must still allow (or deny).
func checks(log *slog.Logger) {
	api := client(env("ORCHESTRATOR_DOCKER_HOST", "unix:///run/podman/podman.sock"))
	err := call(api, http.MethodGet, "/_ping", nil)
	log.Info("check podman socket", "ok", err == nil, "err", errString(err))

	// A container made through the socket, as the real agent makes the
	// stack's: the e2e test checks that `systemctl stop` leaves it running.
	err = sentinel(api)
	log.Info("check start container via socket", "ok", err == nil, "err", errString(err))

	_, err = os.ReadFile("/proc/1/cgroup")
	log.Info("check read /proc/1/cgroup", "ok", err == nil, "err", errString(err))

	state := env("ORCHESTRATOR_STATE_DIR", "/var/lib/hostagent")
	err = os.WriteFile(filepath.Join(state, "placeholder-state"), []byte(version+"\n"), 0o600)
	log.Info("check write state dir", "ok", err == nil, "err", errString(err))

	err = os.WriteFile("/etc/hostagent/placeholder-probe", nil, 0o600)
	log.Info("check write /etc denied", "ok", err != nil, "err", errString(err))

	token, err := os.ReadFile(env("ORCHESTRATOR_TOKEN_FILE", "/etc/hostagent/token"))
	log.Info("check read token", "ok", err == nil && len(strings.TrimSpace(string(token))) == 64, "err", errString(err))
}

func client(host string) *http.Client {
	path := strings.TrimPrefix(host, "unix://")
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
}

// call sends one API request; 2xx and 304 (already started) are success.
func call(c *http.Client, method, path string, body any) error {
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, "http://podman"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotModified {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

func sentinel(c *http.Client) error {
	const name = "hostagent-e2e-sentinel"
	err := call(c, http.MethodPost, "/v1.41/containers/create?name="+name, map[string]any{
		"Image":  "localhost/hostagent-busybox:latest",
		"Cmd":    []string{"sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"},
		"Labels": map[string]string{"com.docker.compose.project": "hostagent-e2e", "com.docker.compose.service": "sentinel"},
	})
	// Docker answers 409 for a taken name, Podman 4 a 500 "already in use".
	if err != nil && !strings.Contains(err.Error(), "409") && !strings.Contains(err.Error(), "already in use") {
		return err
	}
	return call(c, http.MethodPost, "/v1.41/containers/"+name+"/start", nil)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
