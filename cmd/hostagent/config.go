package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/hostagent/hostagent/compose"
)

// config is every setting of the agent. Precedence: flags > ORCHESTRATOR_*
// environment > config file > defaults.
type config struct {
	ComposeFiles        []string      `yaml:"compose_files"`
	ProjectDirectory    string        `yaml:"project_directory"`
	ProjectName         string        `yaml:"project_name"`
	Profiles            []string      `yaml:"profiles"`
	EnvFiles            []string      `yaml:"env_files"`
	DockerHost          string        `yaml:"docker_host"`
	StateDir            string        `yaml:"state_dir"`
	RedisURL            string        `yaml:"redis_url"`
	APIAddr             string        `yaml:"api_addr"`
	APISocket           string        `yaml:"api_socket"`
	TokenFile           string        `yaml:"token_file"`
	HealthCheckInterval time.Duration `yaml:"health_check_interval"`
	HealthCheckTimeout  time.Duration `yaml:"health_check_timeout"`
	StableWindow        time.Duration `yaml:"stable_window"`
	MonitoringEnabled   bool          `yaml:"monitoring_enabled"`
	RecreateOutdated    bool          `yaml:"recreate_outdated"`
	Enabled             bool          `yaml:"enabled"`
	LogLevel            string        `yaml:"log_level"`
}

const defaultConfigFile = "/etc/hostagent/config.yaml"

func defaults() config {
	return config{
		ComposeFiles:        []string{"/etc/hostagent/docker-compose.yml"},
		DockerHost:          "unix:///run/podman/podman.sock",
		StateDir:            "/var/lib/hostagent",
		APIAddr:             "127.0.0.1:9740",
		APISocket:           "/run/hostagent/api.sock",
		TokenFile:           "/etc/hostagent/token",
		HealthCheckInterval: 30 * time.Second,
		HealthCheckTimeout:  5 * time.Second,
		StableWindow:        5 * time.Minute,
		MonitoringEnabled:   true,
		RecreateOutdated:    true,
		Enabled:             true,
		LogLevel:            "info",
	}
}

// fileConfig mirrors config with pointers, so that only keys present in the
// file override the defaults; durations may be seconds or "30s".
type fileConfig struct {
	ComposeFiles        []string `yaml:"compose_files"`
	ProjectDirectory    *string  `yaml:"project_directory"`
	ProjectName         *string  `yaml:"project_name"`
	Profiles            []string `yaml:"profiles"`
	EnvFiles            []string `yaml:"env_files"`
	DockerHost          *string  `yaml:"docker_host"`
	StateDir            *string  `yaml:"state_dir"`
	RedisURL            *string  `yaml:"redis_url"`
	APIAddr             *string  `yaml:"api_addr"`
	APISocket           *string  `yaml:"api_socket"`
	TokenFile           *string  `yaml:"token_file"`
	HealthCheckInterval *string  `yaml:"health_check_interval"`
	HealthCheckTimeout  *string  `yaml:"health_check_timeout"`
	StableWindow        *string  `yaml:"stable_window"`
	MonitoringEnabled   *bool    `yaml:"monitoring_enabled"`
	RecreateOutdated    *bool    `yaml:"recreate_outdated"`
	Enabled             *bool    `yaml:"enabled"`
	LogLevel            *string  `yaml:"log_level"`
}

// loadConfig builds the config from defaults, the config file (path from
// ORCHESTRATOR_CONFIG or the default; a missing default file is fine) and
// the environment. Flags are applied by the caller.
func loadConfig(getenv func(string) string) (config, error) {
	c := defaults()
	path, explicit := getenv("ORCHESTRATOR_CONFIG"), true
	if path == "" {
		path, explicit = defaultConfigFile, false
	}
	if err := c.applyFile(path, explicit); err != nil {
		return c, err
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	return c, nil
}

func (c *config) applyFile(path string, mustExist bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !mustExist {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var f fileConfig
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err.Error() != "EOF" {
		return configFileError(path, err)
	}
	setList(&c.ComposeFiles, f.ComposeFiles)
	setList(&c.Profiles, f.Profiles)
	setList(&c.EnvFiles, f.EnvFiles)
	for dst, src := range map[*string]*string{
		&c.ProjectName: f.ProjectName, &c.ProjectDirectory: f.ProjectDirectory, &c.DockerHost: f.DockerHost, &c.StateDir: f.StateDir,
		&c.RedisURL: f.RedisURL, &c.APIAddr: f.APIAddr, &c.APISocket: f.APISocket,
		&c.TokenFile: f.TokenFile, &c.LogLevel: f.LogLevel,
	} {
		if src != nil {
			*dst = *src
		}
	}
	if f.MonitoringEnabled != nil {
		c.MonitoringEnabled = *f.MonitoringEnabled
	}
	if f.RecreateOutdated != nil {
		c.RecreateOutdated = *f.RecreateOutdated
	}
	if f.Enabled != nil {
		c.Enabled = *f.Enabled
	}
	for dst, src := range map[*time.Duration]*string{&c.HealthCheckInterval: f.HealthCheckInterval, &c.HealthCheckTimeout: f.HealthCheckTimeout, &c.StableWindow: f.StableWindow} {
		if src == nil {
			continue
		}
		d, err := parseSeconds(*src)
		if err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		*dst = d
	}
	return nil
}

func (c *config) applyEnv(getenv func(string) string) error {
	str := map[string]*string{
		"ORCHESTRATOR_PROJECT_NAME":      &c.ProjectName,
		"ORCHESTRATOR_PROJECT_DIRECTORY": &c.ProjectDirectory,
		"ORCHESTRATOR_DOCKER_HOST":       &c.DockerHost,
		"ORCHESTRATOR_STATE_DIR":         &c.StateDir,
		"ORCHESTRATOR_REDIS_URL":         &c.RedisURL,
		"ORCHESTRATOR_API_ADDR":          &c.APIAddr,
		"ORCHESTRATOR_API_SOCKET":        &c.APISocket,
		"ORCHESTRATOR_TOKEN_FILE":        &c.TokenFile,
		"ORCHESTRATOR_LOG_LEVEL":         &c.LogLevel,
	}
	for k, dst := range str {
		if v, ok := lookup(getenv, k); ok {
			*dst = v
		}
	}
	if v, ok := lookup(getenv, "ORCHESTRATOR_COMPOSE_FILE"); ok {
		c.ComposeFiles = splitList(v, ":")
	}
	if v, ok := lookup(getenv, "ORCHESTRATOR_PROFILES"); ok {
		c.Profiles = splitList(v, ",")
	}
	if v, ok := lookup(getenv, "ORCHESTRATOR_ENV_FILE"); ok {
		c.EnvFiles = splitList(v, ":")
	}
	for k, dst := range map[string]*time.Duration{
		"ORCHESTRATOR_HEALTH_CHECK_INTERVAL": &c.HealthCheckInterval,
		"ORCHESTRATOR_HEALTH_CHECK_TIMEOUT":  &c.HealthCheckTimeout,
		"ORCHESTRATOR_STABLE_WINDOW":         &c.StableWindow,
	} {
		if v, ok := lookup(getenv, k); ok {
			d, err := parseSeconds(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			*dst = d
		}
	}
	for k, dst := range map[string]*bool{
		"ORCHESTRATOR_MONITORING_ENABLED": &c.MonitoringEnabled,
		"ORCHESTRATOR_RECREATE_OUTDATED":  &c.RecreateOutdated,
		"ORCHESTRATOR_ENABLED":            &c.Enabled,
	} {
		if v, ok := lookup(getenv, k); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q: want true or false", k, v)
			}
			*dst = b
		}
	}
	return nil
}

func lookup(getenv func(string) string, k string) (string, bool) {
	v := strings.TrimSpace(getenv(k))
	return v, v != ""
}

func setList(dst *[]string, src []string) {
	if len(src) > 0 {
		*dst = src
	}
}

func splitList(v, sep string) []string {
	var out []string
	for _, s := range strings.Split(v, sep) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseSeconds accepts plain seconds ("30") or a Go duration.
func parseSeconds(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want seconds (30) or a duration (30s)", v)
	}
	return d, nil
}

// configLine matches one of the YAML library's construct errors:
// "line 3: field compose_file not found in type main.fileConfig".
var configLine = regexp.MustCompile(`line (\d+): (?:field (\S+) not found in type \S+|cannot construct !!(\w+) into (\w+)|(.*))`)

// configFileError names the file and line, and the key meant, without
// the Go type names the YAML library puts in its messages.
func configFileError(path string, err error) error {
	var keys []string
	t := reflect.TypeOf(fileConfig{})
	for i := range t.NumField() {
		keys = append(keys, t.Field(i).Tag.Get("yaml"))
	}
	var msgs []string
	for _, m := range configLine.FindAllStringSubmatch(err.Error(), -1) {
		switch {
		case m[2] != "":
			msg := fmt.Sprintf("%s:%s: unknown setting %q", path, m[1], m[2])
			if s := compose.Suggest(m[2], keys); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			msgs = append(msgs, msg)
		case m[3] != "":
			msgs = append(msgs, fmt.Sprintf("%s:%s: want a %s here, got a %s", path, m[1], yamlKind(m[4]), yamlKind(m[3])))
		default:
			msgs = append(msgs, fmt.Sprintf("%s:%s: %s", path, m[1], m[5]))
		}
	}
	if len(msgs) == 0 {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

func yamlKind(k string) string {
	switch k {
	case "seq":
		return "list"
	case "map":
		return "mapping"
	case "str":
		return "string"
	case "int", "float", "bool", "string":
		return k
	}
	return "value"
}
