package engine

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEngineIdentifiedFromPingHeadersWithoutVersionCall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		want   string
		podman bool
	}{
		{"podman 4.3", http.Header{"Libpod-Api-Version": {"4.3.1"}, "Server": {"Libpod/4.3.1 (linux)"}}, "Podman Engine 4.3.1 (API 1.41)", true},
		{"podman server header only", http.Header{"Server": {"Libpod/5.8.0 (linux)"}}, "Podman Engine 5.8.0 (API 1.41)", true},
		{"docker", http.Header{"Server": {"Docker/28.0.1 (linux)"}, "Api-Version": {"1.48"}}, "Docker Engine 28.0.1 (API 1.41)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa := &fakeAPI{pingHeader: tc.header}
			log, rec := newLogRecorder(t)
			c := newClient(fa, Options{Logger: log})
			if err := c.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			if c.Version() != tc.want || c.IsPodman() != tc.podman {
				t.Errorf("version %q podman %v, want %q %v", c.Version(), c.IsPodman(), tc.want, tc.podman)
			}
			if fa.versions != 0 {
				t.Errorf("GET /version called %d times; the ping's headers said who the engine is", fa.versions)
			}
			if rec.count("Connected to Docker daemon") != 1 {
				t.Error("want one 'Connected to Docker daemon' line")
			}
		})
	}
}

// The first call that reaches the engine may be a listing (discovery),
// not a ping: the engine is still identified by a ping, not /version.
func TestEngineIdentifiedOnFirstCallOfAnyKind(t *testing.T) {
	fa := &fakeAPI{}
	c := newClient(fa, Options{})
	if _, err := c.List(t.Context(), "p"); err != nil {
		t.Fatal(err)
	}
	if !c.IsPodman() || fa.pings != 1 || fa.versions != 0 {
		t.Errorf("podman %v after %d pings and %d version calls, want true, 1, 0", c.IsPodman(), fa.pings, fa.versions)
	}
}

func TestEngineWithoutTellingHeadersIdentifiedInTheBackground(t *testing.T) {
	fa := &fakeAPI{pingHeader: http.Header{}}
	c := newClient(fa, Options{})
	if err := c.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Version() == "" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if c.Version() != "Podman Engine 4.3.1 (API 1.41)" || !c.IsPodman() {
		t.Errorf("version %q podman %v, want Podman from GET /version", c.Version(), c.IsPodman())
	}
}

// The real PingEngine, over a unix socket and over TCP, against a server
// that answers as Podman does.
func TestPingEngineReadsHeadersOverSocketAndTCP(t *testing.T) {
	var hosts []string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts = append(hosts, r.Host)
		if r.URL.Path != "/_ping" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Libpod-Api-Version", "4.3.1")
		w.Header().Set("Server", "Libpod/4.3.1 (linux)")
		_, _ = w.Write([]byte("OK"))
	})
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	unixSrv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler}}
	unixSrv.Start()
	defer unixSrv.Close()
	tcpSrv := httptest.NewServer(handler)
	defer tcpSrv.Close()

	for _, host := range []string{"unix://" + sock, "tcp://" + strings.TrimPrefix(tcpSrv.URL, "http://")} {
		c, err := New(Options{Host: host})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Connect(t.Context()); err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		if !c.IsPodman() || !strings.HasPrefix(c.Version(), "Podman Engine 4.3.1") {
			t.Errorf("%s: version %q podman %v", host, c.Version(), c.IsPodman())
		}
		c.Close()
	}
	if len(hosts) != 2 || hosts[0] != "api.moby.localhost" {
		t.Errorf("Host headers %v, want the Docker client's api.moby.localhost for the socket, then the TCP address", hosts)
	}
}
