package api

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStatusPageServed(t *testing.T) {
	s := newServer(t, newFakeSup(), Options{})
	for path, ctype := range map[string]string{"/": "text/html", "/ui/app.js": "text/javascript", "/ui/style.css": "text/css"} {
		w := do(t, s.Handler(), "GET", path, "")
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %q", path, w.Code, w.Header().Get("Content-Type"))
		}
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET %s answers CORS", path)
		}
	}
	if !strings.Contains(do(t, s.Handler(), "GET", "/", "").Body.String(), `src="/ui/app.js"`) {
		t.Error("index.html does not load /ui/app.js")
	}
	for _, path := range []string{"/ui/nope.js", "/ui/ui.go", "/ui/..%2fui.go", "/index.html"} {
		if w := do(t, s.Handler(), "GET", path, ""); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, w.Code)
		}
	}
	if w := do(t, s.Handler(), "GET", "/?token=x", ""); w.Code != http.StatusBadRequest {
		t.Errorf("GET /?token=x: %d, want 400", w.Code)
	}
}

// The page follows the API's read rules: a foreign Host on loopback is
// refused (DNS rebinding), and a non-loopback listener needs the token.
func TestStatusPageReadRules(t *testing.T) {
	s := newServer(t, newFakeSup(), Options{})
	serveReal(t, s)
	c := &http.Client{Timeout: 5 * time.Second}
	base := "http://127.0.0.1:" + tcpPort(t, s)
	if code, _ := get(t, c, base+"/", "", ""); code != http.StatusOK {
		t.Errorf("loopback GET /: %d", code)
	}
	if code, _ := get(t, c, base+"/ui/app.js", "evil.example:80", ""); code != http.StatusForbidden {
		t.Errorf("GET /ui/app.js with a foreign Host: %d, want 403", code)
	}

	open := newServer(t, newFakeSup(), Options{Addr: "0.0.0.0:0"})
	serveReal(t, open)
	base = "http://127.0.0.1:" + tcpPort(t, open)
	if code, _ := get(t, c, base+"/", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET / on 0.0.0.0 without the token: %d, want 401", code)
	}
	if code, _ := get(t, c, base+"/", "", testToken); code != http.StatusOK {
		t.Errorf("GET / on 0.0.0.0 with the token: %d", code)
	}
}

func TestWritesRefuseForeignOrigin(t *testing.T) {
	f := newFakeSup()
	s := newServer(t, f, Options{})
	for origin, want := range map[string]int{
		"http://evil.example": http.StatusForbidden,
		"null":                http.StatusForbidden,
		"http://localhost":    http.StatusAccepted, // the page itself (request Host is localhost)
		"":                    http.StatusAccepted, // the CLI
	} {
		r := newRequest(t, "POST", "/api/system/services/redis/restart", nil)
		r.Header.Set("Authorization", "Bearer "+testToken)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if w := serve(s.Handler(), r); w.Code != want {
			t.Errorf("restart with Origin %q: %d, want %d (%s)", origin, w.Code, want, w.Body)
		}
	}
	if n := len(f.Calls()); n != 2 {
		t.Errorf("supervisor got %d calls, want 2: %v", n, f.Calls())
	}
	// No CORS preflight is granted: echo answers OPTIONS with Allow only,
	// so a browser never sends another origin's Authorization header.
	r := newRequest(t, "OPTIONS", "/api/system/services/redis/restart", nil)
	r.Header.Set("Origin", "http://evil.example")
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "authorization")
	w := serve(s.Handler(), r)
	for k := range w.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("preflight answered %s: %v", k, w.Header())
		}
	}
}
