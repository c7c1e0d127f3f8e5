package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Exit codes of the commands that talk to the agent.
const (
	exitUnknownService = 3
	exitUnauthorized   = 4
)

// apiBase is the URL every request goes to; the transport dials the real
// target. "localhost" passes the agent's Host check on loopback listeners.
const apiBase = "http://localhost"

const (
	readTimeout  = 10 * time.Second
	writeTimeout = 45 * time.Second // the agent gives a restart 30s
	maxResponse  = 16 << 20
)

// clientFlags are the flags of every command that talks to the agent.
type clientFlags struct {
	api, tokenFile string
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.api, "api", "", "agent `ADDRESS`: host:port, http://host:port, unix:PATH or a socket PATH (default: the socket ORCHESTRATOR_API_SOCKET when present, else ORCHESTRATOR_API_ADDR)")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the API token from `FILE` (default ORCHESTRATOR_TOKEN_FILE, /etc/hostagent/token)")
}

// apiTarget is one place the agent may listen.
type apiTarget struct{ network, address string }

func (t apiTarget) String() string {
	if t.network == "unix" {
		return "unix:" + t.address
	}
	return t.address
}

// apiClient talks to a running agent.
//
// The token travels only where it cannot be caught by another local user:
// over the agent's unix socket (its directory is root's), or to an address
// the user named with --api. It is never sent to the default TCP port on a
// fallback: while the agent is down any local user may listen there.
type apiClient struct {
	http      *http.Client
	targets   []apiTarget
	token     string
	tokenErr  error
	tokenFile string
	// trusted is where the token may go (nil: nowhere, withheld says why).
	trusted  *http.Client
	withheld string
	// fallback: when the socket does not answer, go on over TCP without
	// the token, and say why if the agent wants one.
	fallback string
}

func newAPIClient(env *environment, f clientFlags) (*apiClient, error) {
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return nil, err
	}
	c := &apiClient{tokenFile: cfg.TokenFile}
	if f.tokenFile != "" {
		c.tokenFile = f.tokenFile
	}
	switch {
	case f.api != "":
		t, err := parseTarget(f.api)
		if err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		c.targets = []apiTarget{t}
	default:
		if cfg.APISocket != "" && isSocket(cfg.APISocket) {
			c.targets = append(c.targets, apiTarget{"unix", cfg.APISocket})
		}
		if cfg.APIAddr != "" {
			c.targets = append(c.targets, apiTarget{"tcp", cfg.APIAddr})
		}
		if len(c.targets) == 0 && cfg.APISocket != "" {
			c.targets = append(c.targets, apiTarget{"unix", cfg.APISocket})
		}
	}
	if len(c.targets) == 0 {
		return nil, errors.New("no agent address: set ORCHESTRATOR_API_ADDR or pass --api")
	}
	c.token, c.tokenErr = readToken(c.tokenFile)
	c.http = c.client(c.targets)
	noSocket := fmt.Sprintf("the agent's socket %s does not answer, and the token is not sent over TCP (%s), where any local user could be listening; is the agent running? To send it there anyway: --api http://%s", cfg.APISocket, cfg.APIAddr, cfg.APIAddr)
	switch {
	case f.api != "":
		c.trusted = c.http
	case c.targets[0].network == "unix":
		c.trusted = c.client(c.targets[:1])
		if len(c.targets) > 1 {
			c.fallback = noSocket
		}
	default:
		c.withheld = noSocket
	}
	return c, nil
}

// client is an HTTP client that dials the targets in order.
func (c *apiClient) client(targets []apiTarget) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return dialTargets(ctx, targets) },
		MaxIdleConns:        2,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}}
}

// forRequest picks the client for a request and sets the token when it
// may travel there.
func (c *apiClient) forRequest(h http.Header) *http.Client {
	if c.token != "" && c.trusted != nil {
		h.Set("Authorization", "Bearer "+c.token)
		return c.trusted
	}
	return c.http
}

func parseTarget(s string) (apiTarget, error) {
	switch {
	case strings.HasPrefix(s, "unix://"):
		return apiTarget{"unix", strings.TrimPrefix(s, "unix://")}, nil
	case strings.HasPrefix(s, "unix:"):
		return apiTarget{"unix", strings.TrimPrefix(s, "unix:")}, nil
	case strings.HasPrefix(s, "/"), strings.HasPrefix(s, "./"):
		return apiTarget{"unix", s}, nil
	case strings.HasPrefix(s, "http://"):
		s = strings.TrimSuffix(strings.TrimPrefix(s, "http://"), "/")
	case strings.Contains(s, "://"):
		return apiTarget{}, fmt.Errorf("--api %q: only http:// and unix: addresses are served", s)
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return apiTarget{}, fmt.Errorf("--api %q: want host:port, http://host:port or unix:PATH", s)
	}
	return apiTarget{"tcp", s}, nil
}

func isSocket(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Type() == fs.ModeSocket
}

func readToken(path string) (string, error) {
	if path == "" {
		return "", errors.New("no token file configured")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}

// dialTargets tries each target in order: a socket the user may not open
// (it is 0660) falls back to the TCP address.
func dialTargets(ctx context.Context, targets []apiTarget) (net.Conn, error) {
	var errs []error
	d := net.Dialer{Timeout: 3 * time.Second}
	for _, t := range targets {
		conn, err := d.DialContext(ctx, t.network, t.address)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (c *apiClient) where() string {
	s := make([]string, len(c.targets))
	for i, t := range c.targets {
		s[i] = t.String()
	}
	return strings.Join(s, " or ")
}

// unreachable is the error for an agent that does not answer.
func (c *apiClient) unreachable(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &exitError{code: 1, err: agentDownError{fmt.Errorf("cannot reach the agent at %s: %w\nIs it running? Check: systemctl status hostagent", c.where(), err)}}
}

// get and post call the API and decode a 2xx JSON answer into out (nil:
// discard).
func (c *apiClient) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, readTimeout, out)
}

func (c *apiClient) post(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodPost, path, writeTimeout, out)
}

func (c *apiClient) do(ctx context.Context, method, path string, timeout time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, apiBase+path, nil)
	if err != nil {
		return err
	}
	hc := c.forRequest(req.Header)
	resp, err := hc.Do(req)
	if err != nil && c.fallback != "" && hc == c.trusted && ctx.Err() == nil {
		req.Header.Del("Authorization")
		c.withheld = c.fallback
		resp, err = c.http.Do(req)
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return err
		}
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("reading the agent's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return c.statusError(resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], body...)
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("the agent's answer to %s %s: %w", method, path, err)
	}
	return nil
}

// statusError maps an error answer to an exit code: 3 unknown service,
// 4 unauthorized, 1 otherwise.
func (c *apiClient) statusError(code int, body []byte) error {
	var e struct {
		Error   string `json:"error"`
		Service string `json:"service"`
	}
	_ = json.Unmarshal(body, &e)
	if e.Error == "" {
		e.Error = strings.TrimSpace(string(body))
	}
	switch {
	case code == http.StatusNotFound && e.Service != "":
		return &exitError{code: exitUnknownService, err: fmt.Errorf("unknown service %q", e.Service)}
	case code == http.StatusUnauthorized && c.withheld != "" && c.tokenErr == nil:
		return &exitError{code: exitUnauthorized, err: fmt.Errorf("unauthorized: %s", c.withheld)}
	case code == http.StatusUnauthorized && c.tokenErr != nil:
		return &exitError{code: exitUnauthorized, err: fmt.Errorf("unauthorized: no token sent, the token file is not readable (%w); run as root, or pass --token-file", c.tokenErr)}
	case code == http.StatusUnauthorized:
		return &exitError{code: exitUnauthorized, err: fmt.Errorf("unauthorized: the agent refused the token from %s (%s)", c.tokenFile, e.Error)}
	}
	return &exitError{code: 1, err: fmt.Errorf("the agent answered %d: %s", code, e.Error)}
}

// dialEvents opens the WebSocket.
func (c *apiClient) dialEvents(ctx context.Context) (*websocket.Conn, error) {
	h := http.Header{}
	hc := c.forRequest(h)
	dctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, "ws://localhost/api/system/ws", &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			return nil, c.statusError(resp.StatusCode, body)
		}
		return nil, c.unreachable(err)
	}
	conn.SetReadLimit(maxResponse)
	return conn, nil
}
