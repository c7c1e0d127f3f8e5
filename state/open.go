package state

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/hostagent/hostagent/internal/clock"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvStateDir = "ORCHESTRATOR_STATE_DIR"
	EnvRedisURL = "ORCHESTRATOR_REDIS_URL"
)

// Config selects and tunes the store Open builds.
type Config struct {
	// Dir is the File store's root; DefaultDir when empty.
	Dir string
	// RedisURL, when set, makes Open return a Resilient (File + Redis).
	RedisURL string
	// Project scopes file paths and Redis keys (the compose project name).
	Project string
	Logger  *slog.Logger
	Clock   clock.Clock
	// RedisTimeout bounds each Redis call; DefaultRedisTimeout when zero.
	RedisTimeout time.Duration
}

// ConfigFromEnv fills Dir and RedisURL from ORCHESTRATOR_STATE_DIR and
// ORCHESTRATOR_REDIS_URL (getenv is os.Getenv in main).
func ConfigFromEnv(project string, getenv func(string) string) Config {
	return Config{
		Dir:      cmp.Or(getenv(EnvStateDir), DefaultDir),
		RedisURL: getenv(EnvRedisURL),
		Project:  project,
	}
}

// Open returns a *File when no Redis URL is configured, else a *Resilient
// over a *File and a *Redis (which also implements Publisher). An unreachable
// Redis is not an error; a malformed URL or an unusable directory is.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.New()
	}
	file, err := NewFile(cfg.Dir, cfg.Project, cfg.Logger, cfg.Clock)
	if err != nil {
		return nil, err
	}
	if cfg.RedisURL == "" {
		return file, nil
	}
	rd, err := NewRedis(cfg.RedisURL, cfg.Project, RedisOptions{Timeout: cfg.RedisTimeout, Logger: cfg.Logger})
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	return NewResilient(ctx, file, rd, ResilientOptions{Logger: cfg.Logger, Clock: cfg.Clock}), nil
}
