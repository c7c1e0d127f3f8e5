package api

import (
	"testing"

	"go.uber.org/goleak"
)

// Every server, hub and WebSocket handler a test starts must be gone when
// the tests end; idle keep-alive connections of HTTP clients are not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}
