package api

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostagent/hostagent/compose"
)

// planSup serves a real plan loaded from a compose file.
type planSup struct {
	*fakeSup
	plan *compose.Plan
}

func (p planSup) Plan() *compose.Plan { return p.plan }

// The plan is open to local users without the token, so the secrets its
// health commands carry after interpolation are served as ***.
func TestPlanRedactsInterpolatedSecrets(t *testing.T) {
	const secret = "pg-pass-9f8e7d"
	dir := filepath.Join(t.TempDir(), "proj")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "docker-compose.yml")
	yaml := `services:
  db:
    image: postgres
    environment: {POSTGRES_PASSWORD: "${DB_PASSWORD}"}
    healthcheck:
      test: ["CMD-SHELL", "PGPASSWORD=${DB_PASSWORD} pg_isready -U app"]
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := compose.Load(context.Background(), compose.Options{Files: []string{file}, Env: []string{"DB_PASSWORD=" + secret}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := compose.NewPlan(st)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeSup()
	s, err := New(planSup{f, p}, StaticToken(testToken), quietLogger(), Options{Addr: "127.0.0.1:0", Clock: f.clk})
	if err != nil {
		t.Fatal(err)
	}
	w := do(t, s.Handler(), "GET", "/api/system/plan", "")
	wantCode(t, w, http.StatusOK)
	body := w.Body.String()
	if strings.Contains(body, secret) || !strings.Contains(body, "PGPASSWORD=*** pg_isready") {
		t.Fatalf("plan without a token must carry the health command with the password as ***:\n%s", body)
	}
}
