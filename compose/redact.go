package compose

import (
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Redacted is what a secret value is replaced with.
const Redacted = "***"

// minSecretLen: shorter values are left alone, since replacing "1" or "no"
// everywhere would shred the text and hide nothing worth hiding.
const minSecretLen = 4

// maxSecretFile bounds how much of a secrets: file is read for redaction.
const maxSecretFile = 64 << 10

// Redactor replaces a stack's secret values in text derived from the stack
// or its containers (health commands, probe output). A nil *Redactor
// redacts nothing.
type Redactor struct {
	plain *strings.Replacer
	json  *strings.Replacer
	n     int
}

// NewRedactor redacts the given values; those shorter than 4 bytes, and
// booleans, are ignored.
func NewRedactor(values ...string) *Redactor {
	seen := map[string]bool{}
	var vals []string
	for _, v := range values {
		if len(v) < minSecretLen || seen[v] || notSecretValue(v) {
			continue
		}
		seen[v] = true
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return nil
	}
	// Longest first: strings.Replacer tries the pairs in argument order at
	// each position, so a secret that contains another is hidden whole.
	sort.Slice(vals, func(i, j int) bool {
		if len(vals[i]) != len(vals[j]) {
			return len(vals[i]) > len(vals[j])
		}
		return vals[i] < vals[j]
	})
	plain := make([]string, 0, 2*len(vals))
	js := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		plain = append(plain, v, Redacted)
		// The value as encoding/json writes it inside a string, so that
		// rendered JSON can be redacted without decoding it.
		b, _ := json.Marshal(v)
		js = append(js, string(b[1:len(b)-1]), Redacted)
	}
	return &Redactor{plain: strings.NewReplacer(plain...), json: strings.NewReplacer(js...), n: len(vals)}
}

// Redact returns text with every secret value replaced by "***".
func (r *Redactor) Redact(text string) string {
	if r == nil || text == "" {
		return text
	}
	return r.plain.Replace(text)
}

// RedactJSON redacts JSON produced by encoding/json (string values escaped
// the way json.Marshal escapes them).
func (r *Redactor) RedactJSON(data []byte) []byte {
	if r == nil {
		return data
	}
	return []byte(r.json.Replace(string(data)))
}

// Len is the number of distinct values redacted.
func (r *Redactor) Len() int {
	if r == nil {
		return 0
	}
	return r.n
}

// secretWords mark a variable name as secret when they are a whole part of
// it (POSTGRES_PASSWORD, OPENAI_API_KEY, X-AUTH) ...
// (Not PWD: the shell's PWD is a directory, in every process environment.)
var secretWords = []string{"PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "KEY", "APIKEY",
	"CREDENTIAL", "CREDENTIALS", "AUTH", "PRIVATE", "SALT"}

// ... and these anywhere in a part (DBPASSWORD, HFTOKEN), being long enough
// not to occur by chance.
var secretInfixes = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "APIKEY", "AUTHKEY"}

// notSecretSuffixes name what a secret-sounding variable points at rather
// than holds (POSTGRES_PASSWORD_FILE=/run/secrets/db, AUTH_PORT=8080).
// (SSH_AUTH_SOCK, systemd's CREDENTIALS_DIRECTORY).
var notSecretSuffixes = []string{"FILE", "PATH", "DIR", "DIRECTORY", "SOCK", "SOCKET", "PORT", "HOST",
	"USER", "USERNAME", "ENABLED", "DISABLED", "ENABLE", "DISABLE", "METHOD", "TYPE", "MODE"}

// upperAlnum: an ASCII capital letter or digit; anything else separates
// the words of a variable name.
func upperAlnum(r rune) bool { return r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' }

// SecretName reports whether a variable name looks like it holds a secret
// (PASSWORD, SECRET, TOKEN, KEY, CREDENTIAL, PASS, AUTH..., any case).
func SecretName(name string) bool {
	parts := strings.FieldsFunc(strings.ToUpper(name), func(r rune) bool { return !upperAlnum(r) })
	if len(parts) == 0 {
		return false
	}
	for _, s := range notSecretSuffixes {
		if parts[len(parts)-1] == s && len(parts) > 1 {
			return false
		}
	}
	for _, p := range parts {
		for _, w := range secretWords {
			if p == w {
				return true
			}
		}
		for _, w := range secretInfixes {
			if strings.Contains(p, w) {
				return true
			}
		}
	}
	return false
}

func notSecretValue(v string) bool {
	switch strings.ToLower(v) {
	case "true", "false", "yes", "none", "null", "enabled", "disabled", "required", "optional":
		return true
	}
	return false
}

// newRedactor collects the stack's secret values: the variables its
// environment (process, .env, --env-file) and its services' environment:
// and env_file: set whose names look secret, passwords inside URLs, and
// the values of secrets: (content, environment, file).
func newRedactor(st *Stack) *Redactor {
	p := st.Project
	if p == nil {
		return nil
	}
	var vals []string
	add := func(name, value string) {
		if SecretName(name) {
			vals = append(vals, value, strings.TrimSpace(value))
		}
		if strings.Contains(value, "://") {
			if u, err := url.Parse(strings.TrimSpace(value)); err == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok {
					vals = append(vals, pw)
				}
			}
		}
	}
	for k, v := range p.Environment {
		add(k, v)
	}
	for _, svc := range p.Services {
		for k, v := range svc.Environment {
			if v != nil {
				add(k, *v)
			}
		}
	}
	for _, sec := range p.Secrets {
		switch {
		case sec.Content != "":
			vals = append(vals, sec.Content, strings.TrimSpace(sec.Content))
		case sec.Environment != "":
			v := p.Environment[sec.Environment]
			vals = append(vals, v, strings.TrimSpace(v))
		case sec.File != "" && !bool(sec.External):
			if v, ok := readSecretFile(st.WorkingDir, sec.File); ok {
				vals = append(vals, v, strings.TrimSpace(v))
			}
		}
	}
	return NewRedactor(vals...)
}

func readSecretFile(dir, file string) (string, bool) {
	if !filepath.IsAbs(file) && dir != "" {
		file = filepath.Join(dir, file)
	}
	f, err := os.Open(file)
	if err != nil {
		return "", false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile))
	if err != nil {
		return "", false
	}
	return string(data), true
}
