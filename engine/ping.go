package engine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/client"
)

// dockerAPI is the Docker client plus a ping that keeps the response
// headers. The engine names itself there (Podman: Libpod-Api-Version and
// "Server: Libpod/4.3.1 (linux)"; Docker: "Server: Docker/28.0.1
// (linux)"), so it is identified without GET /version, which takes
// Podman 4.3 about a second: that call used to sit between the engine
// answering and the first container start.
type dockerAPI struct {
	*client.Client
	pingURL string
}

func newDockerAPI(cli *client.Client, host string) (dockerAPI, error) {
	u, err := client.ParseHostURL(host)
	if err != nil {
		return dockerAPI{}, err
	}
	// The transport dials the socket itself; for a socket the URL's host
	// only fills the Host header, as the Docker client does.
	addr := u.Host
	if u.Scheme == "unix" || u.Scheme == "npipe" {
		addr = client.DummyHost
	}
	return dockerAPI{Client: cli, pingURL: "http://" + addr + strings.TrimSuffix(u.Path, "/") + "/_ping"}, nil
}

// PingEngine is the Docker client's Ping (GET /_ping, unversioned) that
// also returns the headers. Only 200 is an answer; a 500 means a daemon
// that answers but is unhealthy, which is an error here as in Ping.
func (d dockerAPI) PingEngine(ctx context.Context) (types.Ping, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.pingURL, nil)
	if err != nil {
		return types.Ping{}, nil, err
	}
	resp, err := d.HTTPClient().Do(req)
	if err != nil {
		return types.Ping{}, nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return types.Ping{}, resp.Header, fmt.Errorf("engine answered %s to GET /_ping", resp.Status)
	}
	return types.Ping{
		APIVersion:   resp.Header.Get("Api-Version"),
		OSType:       resp.Header.Get("Ostype"),
		Experimental: resp.Header.Get("Docker-Experimental") == "true",
	}, resp.Header, nil
}

// engineFromHeaders names the engine from a ping's headers: "Podman
// Engine 4.3.1" (podman true) or "Docker Engine 28.0.1"; ok false when
// the headers do not say.
func engineFromHeaders(h http.Header) (name string, podman, ok bool) {
	if v := h.Get("Libpod-Api-Version"); v != "" {
		return "Podman Engine " + v, true, true
	}
	product, rest, _ := strings.Cut(h.Get("Server"), "/")
	version, _, _ := strings.Cut(rest, " ")
	switch {
	case version == "":
		return "", false, false
	case product == "Libpod":
		return "Podman Engine " + version, true, true
	case product == "Docker":
		return "Docker Engine " + version, false, true
	}
	return "", false, false
}
