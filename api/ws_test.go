package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hostagent/hostagent/supervisor"
)

type wsMsg struct {
	Type    string          `json:"type"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
	Seq     uint64          `json:"seq"`
}

func dialWS(ctx context.Context, t *testing.T, url string, client *http.Client) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/system/ws", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func readMsg(ctx context.Context, t *testing.T, c *websocket.Conn) wsMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m wsMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message %s: %v", b, err)
	}
	return m
}

func TestWebSocketSnapshotThenRestartEvents(t *testing.T) {
	f := newFakeSup()
	s := newServer(t, f, Options{})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	ctx := t.Context()
	c := dialWS(ctx, t, ts.URL, nil)

	snap := readMsg(ctx, t, c)
	var data SnapshotData
	if err := json.Unmarshal(snap.Data, &data); err != nil {
		t.Fatal(err)
	}
	if snap.Type != "snapshot" || snap.Seq != 0 || len(data.Services) != 5 || !data.Progress.Done {
		t.Fatalf("snapshot %+v", snap)
	}

	req, _ := http.NewRequest("POST", ts.URL+"/api/system/services/ai-yolo26/restart?reset_failures=true", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("restart: %d", resp.StatusCode)
	}

	want := []struct {
		msg    string
		status supervisor.Status
	}{
		{"Manual restart initiated", supervisor.Starting},
		{"Restart completed", supervisor.Starting},
		{"Service recovered", supervisor.Running},
	}
	for i, w := range want {
		m := readMsg(ctx, t, c)
		var st supervisor.ServiceStatus
		if err := json.Unmarshal(m.Data, &st); err != nil {
			t.Fatal(err)
		}
		if m.Type != "service_status" || m.Message != w.msg || m.Seq != uint64(i+1) || st.Name != "ai-yolo26" || st.Status != w.status {
			t.Errorf("event %d: %s %q seq %d %s %s; want %q %s", i, m.Type, m.Message, m.Seq, st.Name, st.Status, w.msg, w.status)
		}
		if i == 2 && st.RestartCount != 3 {
			t.Errorf("restart_count after restart %d, want 3", st.RestartCount)
		}
	}

	// A reconnecting client's snapshot names the newest event it reflects.
	c2 := dialWS(ctx, t, ts.URL, nil)
	if m := readMsg(ctx, t, c2); m.Type != "snapshot" || m.Seq != 3 {
		t.Errorf("second snapshot %s seq %d, want seq 3", m.Type, m.Seq)
	}
}

// smallBuffers shrinks the server's socket send buffers so that a client
// that does not read backs up within a few messages.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func TestWebSocketSlowClientDroppedPublisherNotBlocked(t *testing.T) {
	f := newFakeSup()
	f.set("redis", func(s *supervisor.ServiceStatus) { s.Detail = strings.Repeat("x", 4096) })
	s := newServer(t, f, Options{WSQueue: 4, WSWriteTimeout: 300 * time.Millisecond})
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Listener = smallBuffers{ts.Listener}
	ts.Start()
	t.Cleanup(ts.Close)
	ctx := t.Context()

	slowHTTP := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}}}
	slow := dialWS(ctx, t, ts.URL, slowHTTP)
	readMsg(ctx, t, slow) // the snapshot; then it stops reading
	fast := dialWS(ctx, t, ts.URL, nil)
	readMsg(ctx, t, fast)

	const n = 300
	got := make(chan uint64, n)
	go func() {
		for {
			_, b, err := fast.Read(ctx)
			if err != nil {
				close(got)
				return
			}
			var m wsMsg
			_ = json.Unmarshal(b, &m)
			got <- m.Seq
		}
	}()
	start := time.Now()
	for i := 1; i <= n; i++ {
		f.publish("redis", supervisor.MsgHealthCheckFail, func(*supervisor.ServiceStatus) {})
		// Pace by the fast client: the slow one must not hold it back.
		select {
		case seq, ok := <-got:
			if !ok || seq != uint64(i) {
				t.Fatalf("fast client: event %d got seq %d (open %v)", i, seq, ok)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("fast client stalled at event %d: the slow client blocks the fan-out", i)
		}
	}
	t.Logf("%d events of 4 KiB to the fast client in %s", n, time.Since(start))

	if d := counterValue(s); d != 1 {
		t.Errorf("dropped clients %v, want 1 (the slow one)", d)
	}
	if n := s.hub.count(); n != 1 {
		t.Errorf("%d clients registered, want 1", n)
	}
	// The slow client finds its connection closed after what was buffered.
	read := 0
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _, err := slow.Read(rctx)
		cancel()
		if err != nil {
			if code := websocket.CloseStatus(err); code != -1 && code != websocket.StatusTryAgainLater {
				t.Errorf("slow client closed with %v", code)
			}
			break
		}
		read++
	}
	if read >= n {
		t.Errorf("slow client read all %d events; it was never dropped", read)
	}
}

func counterValue(s *Server) float64 {
	mfs, _ := s.metrics.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "hostagent_api_websocket_dropped_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

func TestWebSocketDeadClientDropped(t *testing.T) {
	s := newServer(t, newFakeSup(), Options{WSPingInterval: 30 * time.Millisecond, WSWriteTimeout: 100 * time.Millisecond})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	c := dialWS(t.Context(), t, ts.URL, nil)
	readMsg(t.Context(), t, c)
	// The client reads no more, so it answers no ping.
	deadline := time.Now().Add(5 * time.Second)
	for s.hub.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a client that answers no ping is still registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWebSocketLiveClientSurvivesPings(t *testing.T) {
	f := newFakeSup()
	s := newServer(t, f, Options{WSPingInterval: 20 * time.Millisecond, WSWriteTimeout: time.Second})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	ctx := t.Context()
	c := dialWS(ctx, t, ts.URL, nil)
	readMsg(ctx, t, c)
	msgs := make(chan wsMsg, 1)
	go func() {
		_, b, err := c.Read(ctx) // reading answers the pings
		var m wsMsg
		if err == nil {
			_ = json.Unmarshal(b, &m)
		}
		msgs <- m
	}()
	time.Sleep(200 * time.Millisecond) // ten ping periods
	f.publish("redis", supervisor.MsgRecovered, func(*supervisor.ServiceStatus) {})
	select {
	case m := <-msgs:
		if m.Message != "Service recovered" {
			t.Fatalf("after pings got %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after pings")
	}
}

func TestWebSocketClosedOnShutdown(t *testing.T) {
	s := newServer(t, newFakeSup(), Options{})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	c := dialWS(t.Context(), t, ts.URL, nil)
	readMsg(t.Context(), t, c)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Read(context.Background())
		errc <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-errc:
		if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
			t.Errorf("closed with %v (%v), want going away", code, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client not closed on shutdown")
	}
	if _, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/system/ws", nil); err == nil {
		t.Errorf("a new client was accepted after shutdown")
	}
}
