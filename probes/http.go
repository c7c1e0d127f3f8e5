package probes

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/clock"
)

// HTTP probes an endpoint from the host with GET.
type HTTP struct {
	url     string
	timeout time.Duration
	client  *http.Client
	clock   clock.Clock
}

// NewHTTP returns an HTTP probe of url. The request's deadline is the
// caller's context's (the Guard's); timeout is the check's, named in a
// timed-out verdict.
func NewHTTP(url string, timeout time.Duration, clk clock.Clock) *HTTP {
	if clk == nil {
		clk = clock.New()
	}
	return &HTTP{
		url:     url,
		timeout: timeout,
		clock:   clk,
		client: &http.Client{
			// A fresh connection per probe: a kept-alive one would hide a
			// restarted service and its listen state.
			Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
			// Redirects are not followed: a 3xx is an answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// bodyPeek is how much of an unhealthy answer's body goes into Detail.
const bodyPeek = 256

// Probe sends one GET; see the package doc for the classification.
func (h *HTTP) Probe(ctx context.Context, _ engine.ContainerID) Result {
	res := Result{Method: compose.HealthHTTP}
	var connected atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, h.url, nil)
	if err != nil {
		res.Outcome, res.Err = Error, fmt.Errorf("health url %q: %w", h.url, err)
		return res
	}
	began := h.clock.Now()
	resp, err := h.client.Do(req)
	res.Latency = h.clock.Since(began)
	if err != nil {
		res.Err = err
		res.Outcome = Error
		if connected.Load() {
			// It accepted the connection and then did not answer in time.
			res.Outcome = Failure
			res.Detail = "no answer within " + h.timeout.String()
		}
		return res
	}
	defer resp.Body.Close()
	peek, _ := io.ReadAll(io.LimitReader(resp.Body, bodyPeek))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	res.Detail = fmt.Sprintf("HTTP %d", resp.StatusCode)
	if resp.StatusCode == http.StatusOK {
		res.Outcome = Success
		return res
	}
	res.Outcome = Failure
	if body := strings.TrimSpace(string(peek)); body != "" {
		res.Detail += ": " + body
	}
	return res
}
