package compose

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"POSTGRES_PASSWORD": true, "db_password": true, "DBPASSWORD": true, "HF_TOKEN": true,
		"OPENAI_API_KEY": true, "aws-secret-access-key": true, "GOOGLE_APPLICATION_CREDENTIALS": true,
		"REDIS_PASS": true, "BASIC_AUTH": true, "JWT_SECRET": true,
		"POSTGRES_PASSWORD_FILE": false, "AUTH_PORT": false, "SSH_AUTH_SOCK": false, "PWD": false,
		"KEYBOARD": false, "BYPASS_CACHE": false, "POSTGRES_USER": false, "PATH": false, "MONKEY": false,
		"CREDENTIALS_DIRECTORY": false, "ORCHESTRATOR_TOKEN_FILE": false,
	} {
		if got := SecretName(name); got != want {
			t.Errorf("SecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRedactorReplacesLongestFirstAndSkipsShortValues(t *testing.T) {
	r := NewRedactor("abc", "hunter2", "hunter2-extra", "true", `q"uo<te`)
	if got, want := r.Redact("pw=hunter2-extra, old=hunter2, id=abc, tls=true"), "pw=***, old=***, id=abc, tls=true"; got != want {
		t.Fatalf("Redact = %q, want %q", got, want)
	}
	if got, want := string(r.RedactJSON([]byte(`{"a":"x q\"uo\u003cte y"}`))), `{"a":"x *** y"}`; got != want {
		t.Fatalf("RedactJSON = %q, want %q", got, want)
	}
	if r.Len() != 3 {
		t.Fatalf("Len = %d, want 3 (abc and true are not redacted)", r.Len())
	}
	var none *Redactor
	if none.Redact("hunter2") != "hunter2" || NewRedactor("ab", "") != nil {
		t.Fatal("a nil redactor must change nothing, and NewRedactor of nothing is nil")
	}
}

// The plan JSON the API serves holds health commands with ${VAR}s already
// interpolated; the stack's redactor hides the values of secret-looking
// variables, of secrets: sources and of URL passwords, and nothing else.
func TestStackRedactorHidesInterpolatedSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "proj")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api_key.txt"), []byte("file-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	compose := `services:
  db:
    image: postgres
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      POSTGRES_USER: admin
      DATABASE_URL: postgres://admin:url-pass-value@db/app
    secrets: [api_key]
    healthcheck:
      test: ["CMD-SHELL", "PGPASSWORD=${DB_PASSWORD} psql -U admin -c 'select 1' && cat /run/secrets/api_key"]
  web:
    image: nginx
    healthcheck:
      test: ["CMD", "curl", "-H", "Authorization: Bearer ${API_TOKEN}", "http://localhost:${WEB_PORT}/health"]
secrets:
  api_key:
    file: ./api_key.txt
`
	path := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(path, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	st := load(t, Options{Files: []string{path}, Env: []string{"DB_PASSWORD=s3cr3t-db-pw", "API_TOKEN=tok-1234567", "WEB_PORT=8080"}})
	p := plan(t, st)
	raw, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "s3cr3t-db-pw") {
		t.Fatalf("test premise: the plain plan should carry the interpolated secret:\n%s", raw)
	}
	red, err := p.RedactedJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cr3t-db-pw", "tok-1234567"} {
		if strings.Contains(string(red), secret) {
			t.Errorf("RedactedJSON leaks %q:\n%s", secret, red)
		}
	}
	for _, kept := range []string{"PGPASSWORD=***", "Bearer ***", "localhost:8080", "admin"} {
		if !strings.Contains(string(red), kept) {
			t.Errorf("RedactedJSON lacks %q:\n%s", kept, red)
		}
	}
	out := st.Redactor().Redact("psql: password s3cr3t-db-pw rejected; key file-secret-value; url url-pass-value; port 8080")
	if want := "psql: password *** rejected; key ***; url ***; port 8080"; out != want {
		t.Fatalf("Redact(probe output) = %q, want %q", out, want)
	}
}
