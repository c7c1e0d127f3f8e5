package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequests sends arbitrary methods, paths, queries, headers and bodies
// through the real handler stack: every answer must be a known status with
// a JSON body (or the metrics text), and nothing may panic.
func FuzzRequests(f *testing.F) {
	for _, seed := range []struct{ method, target, auth, body string }{
		{"GET", "/api/system/services", "", ""},
		{"GET", "/api/system/services/postgres", "", ""},
		{"POST", "/api/system/services/postgres/restart?reset_failures=true", "Bearer " + testToken, ""},
		{"POST", "/api/system/services/nope/enable", "Bearer " + testToken, ""},
		{"POST", "/api/system/services/postgres/disable", "Bearer wrong", "{}"},
		{"GET", "/api/system/health/events?limit=-1", "", ""},
		{"GET", "/api/system/health/events?limit=50&limit=2", "", ""},
		{"GET", "/api/system/health/ready", "", ""},
		{"GET", "/api/system/plan", "", ""},
		{"GET", "/api/system/gpu?x=%zz", "", ""},
		{"DELETE", "/api/system/services/%2e%2e", "", ""},
		{"GET", "/metrics", "", ""},
	} {
		f.Add(seed.method, seed.target, seed.auth, []byte(seed.body))
	}
	sup := newFakeSup()
	s, err := New(sup, StaticToken(testToken), quietLogger(), Options{Addr: "127.0.0.1:0", Clock: sup.clk})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	known := map[int]bool{200: true, 202: true, 400: true, 401: true, 403: true, 404: true, 405: true,
		413: true, 414: true, 415: true, 500: true, 503: true, 504: true}
	f.Fuzz(func(t *testing.T, method, target, auth string, body []byte) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t#") || method == "" ||
			strings.ContainsAny(method, " \r\n\t()<>@,;:\\\"/[]?={}") || strings.ContainsAny(auth, "\r\n") {
			return // not an HTTP request line the server could receive
		}
		r, err := http.NewRequest(method, "http://localhost"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		r.RemoteAddr = "127.0.0.1:40000"
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if !known[w.Code] {
			t.Fatalf("%s %s: status %d", method, target, w.Code)
		}
		if w.Code == 500 {
			t.Fatalf("%s %s: 500 %s", method, target, w.Body.String())
		}
		if strings.HasPrefix(r.URL.Path, "/metrics") && w.Code == 200 || method == http.MethodHead {
			return
		}
		if w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s: %d with a non-JSON body %q", method, target, w.Code, w.Body.String())
		}
	})
}
