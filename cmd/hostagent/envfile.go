package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// serviceEnvFile is the unit's EnvironmentFile=. The CLI reads it too, so
// that `plan`, `validate`, `down` and `reload` see the compose file and
// the variables the service sees.
const serviceEnvFile = "/etc/hostagent/hostagent.env"

// applyServiceEnv sets every variable of the service's environment file
// (HOSTAGENT_ENV_FILE, else serviceEnvFile) that the process environment
// does not already set: the environment wins, as it does over the file
// for the service. A missing or unreadable file is not an error (a user
// without access to it gets their own environment).
func applyServiceEnv() error {
	path := os.Getenv("HOSTAGENT_ENV_FILE")
	if path == "" {
		path = serviceEnvFile
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	vars, err := parseEnvFile(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, kv := range vars {
		if _, set := os.LookupEnv(kv[0]); !set {
			if err := os.Setenv(kv[0], kv[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseEnvFile reads systemd's EnvironmentFile= syntax: KEY=VALUE lines,
// `#` and `;` comments, optional `export `, values optionally in single or
// double quotes.
func parseEnvFile(r io.Reader) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d: want KEY=VALUE, got %q", n, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out = append(out, [2]string{k, v})
	}
	return out, sc.Err()
}
