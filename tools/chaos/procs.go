package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// agentProc is the real `hostagent run`, started and SIGKILLed at will.
// Its log goes to one file across restarts.
type agentProc struct {
	bin, log string
	env      []string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	starts int
	// expectedExit is set before a deliberate kill so that the exit is not
	// reported as a crash.
	expectedExit bool
}

func (a *agentProc) start() error {
	logf, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	a.starts++
	fmt.Fprintf(logf, "===== chaos: agent start #%d at %s =====\n", a.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(a.bin, "run")
	cmd.Env = a.env
	cmd.Stdout, cmd.Stderr = logf, logf
	// The agent dies with the driver, as a unit's process would with systemd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s run: %w", a.bin, err)
	}
	done := make(chan struct{})
	go func() { a.err = cmd.Wait(); close(done) }()
	a.cmd, a.exited, a.expectedExit = cmd, done, false
	return nil
}

// alive reports whether the agent process is running.
func (a *agentProc) alive() bool {
	if a.cmd == nil {
		return false
	}
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// crashed reports an exit nobody asked for, with its error.
func (a *agentProc) crashed() (bool, error) {
	if a.cmd == nil || a.expectedExit || a.alive() {
		return false, nil
	}
	return true, a.err
}

// kill is the hard way: SIGKILL, as the OOM killer or a power cut would.
func (a *agentProc) kill() {
	if !a.alive() {
		return
	}
	a.expectedExit = true
	_ = a.cmd.Process.Kill()
	<-a.exited
}

// stop is systemd's way: SIGTERM, then SIGKILL after 30 s.
func (a *agentProc) stop() {
	if !a.alive() {
		return
	}
	a.expectedExit = true
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

// redisProc is a real redis-server on a free loopback port, without
// persistence: a crash (SIGKILL) and restart brings it back empty, the
// harshest Redis outage (as internal/testsupport/redistest does for the tests).
type redisProc struct {
	bin, dir, log string
	port          int
	cmd           *exec.Cmd
	done          chan struct{}
}

func newRedis(dir string) (*redisProc, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not installed (make deps installs it): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisProc{bin: bin, dir: dir, log: filepath.Join(dir, "redis.log"), port: port}
	return r, r.start()
}

func (r *redisProc) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

func (r *redisProc) url() string { return "redis://" + r.addr() + "/0" }

func (r *redisProc) start() error {
	logf, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
	deadline := time.Now().Add(5 * time.Second)
	for !redisAnswers(r.addr()) {
		if time.Now().After(deadline) {
			r.kill()
			return fmt.Errorf("redis-server on %s did not answer within 5s (see %s)", r.addr(), r.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func (r *redisProc) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

func redisAnswers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := fmt.Fprint(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("free port: not a TCP address")
	}
	return addr.Port, nil
}

// logSize is the agent log's length: a mark for waitLog.
func (a *agentProc) logSize() int64 {
	fi, err := os.Stat(a.log)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// waitLog waits up to limit for a line containing text written after mark,
// and reports when it was logged (its time= field), else when it was seen.
func (a *agentProc) waitLog(mark int64, text string, limit time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(limit)
	for {
		if f, err := os.Open(a.log); err == nil {
			_, _ = f.Seek(mark, 0)
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if line := sc.Text(); strings.Contains(line, text) {
					f.Close()
					return loggedAt(line), true
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			return time.Now(), false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loggedAt is the time= field that starts a log line, or now.
func loggedAt(line string) time.Time {
	if rest, ok := strings.CutPrefix(line, "time="); ok {
		stamp, _, _ := strings.Cut(rest, " ")
		if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
			return t
		}
	}
	return time.Now()
}
