// Package loadgen is an open-loop HTTP load generator: requests leave on a
// fixed schedule whatever the latency, and each latency counts from when
// its request was due, not from when it was sent, so a stalled server
// shows in the percentiles instead of quietly slowing the generator down
// (wrk's closed loop hides that: coordinated omission).
package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options say what to send.
type Options struct {
	// Addr is host:port, or a unix socket path (starting with /).
	Addr     string
	Path     string
	Rate     int
	Duration time.Duration
	Token    string
}

// Result is what a run measured.
type Result struct {
	Requests int
	Errors   int64
	// Late counts requests that found maxInFlight requests outstanding.
	Late     int64
	Achieved float64
	// Latencies are sorted, from each request's due time.
	Latencies []time.Duration
}

// Percentile returns the q-quantile (0..1) of the latencies.
func (r Result) Percentile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[int(q*float64(len(r.Latencies)-1))]
}

func (r Result) String() string {
	return fmt.Sprintf("%d requests (achieved %.0f/s), errors %d, late %d: p50 %s p90 %s p99 %s p99.9 %s max %s",
		r.Requests, r.Achieved, r.Errors, r.Late,
		r.Percentile(0.5).Round(time.Microsecond), r.Percentile(0.9).Round(time.Microsecond),
		r.Percentile(0.99).Round(time.Microsecond), r.Percentile(0.999).Round(time.Microsecond),
		r.Percentile(1).Round(time.Microsecond))
}

const maxInFlight = 1024

// Run sends GET Path to Addr at Rate per second for Duration.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Rate <= 0 || o.Duration <= 0 {
		return Result{}, fmt.Errorf("loadgen: rate and duration must be positive")
	}
	network := "tcp"
	if strings.HasPrefix(o.Addr, "/") {
		network = "unix"
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 256,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, o.Addr)
		},
	}}
	defer client.CloseIdleConnections()
	total := int(float64(o.Rate) * o.Duration.Seconds())
	interval := time.Second / time.Duration(o.Rate)
	lat := make([]time.Duration, total)
	var errs, late atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		if ctx.Err() != nil {
			total = i
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			late.Add(1) // too many in flight: counted, and waited for
			sem <- struct{}{}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost"+o.Path, nil)
			if o.Token != "" {
				req.Header.Set("Authorization", "Bearer "+o.Token)
			}
			resp, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				errs.Add(1)
			}
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	lat = lat[:total]
	slices.Sort(lat)
	return Result{Requests: total, Errors: errs.Load(), Late: late.Load(),
		Achieved: float64(total) / time.Since(start).Seconds(), Latencies: lat}, nil
}
