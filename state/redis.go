package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultRedisTimeout bounds every Redis call that the caller's context
// does not bound more tightly.
const DefaultRedisTimeout = 2 * time.Second

// ServicesKey is the Redis hash holding a project's records: field = service,
// value = the same versioned JSON as a record file.
func ServicesKey(project string) string { return "hostagent:" + project + ":services" }

// EventsChannel is the Redis channel status events are published on.
func EventsChannel(project string) string { return "hostagent:" + project + ":events" }

// RedisOptions tunes a Redis store; the zero value is usable.
type RedisOptions struct {
	// Timeout bounds each call; DefaultRedisTimeout when zero.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Redis is a Store (and Publisher) on one Redis database. It never blocks
// longer than its timeout, and it does not ping at construction: an
// unreachable server shows up as errors from the calls.
type Redis struct {
	client  *redis.Client
	key     string
	channel string
	timeout time.Duration
	log     *slog.Logger
}

// NewRedis builds a store for project from a redis://[user:password@]host:port/db
// URL (rediss:// and unix:// too). Errors never echo the password.
func NewRedis(rawURL, project string, opts RedisOptions) (*Redis, error) {
	if err := validName(project); err != nil {
		return nil, fmt.Errorf("state: project: %w", err)
	}
	// url.Parse errors quote the whole URL, password included.
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("state: %s is not a valid URL", EnvRedisURL)
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		// Only the host: unix:// URLs carry the password in the query.
		return nil, fmt.Errorf("state: redis url (scheme %q, host %q): %w", u.Scheme, u.Host, err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultRedisTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// Fail fast: Resilient, not the client, owns retrying and backoff.
	if ro.MaxRetries == 0 {
		ro.MaxRetries = 1
	}
	ro.DialerRetries = 1
	ro.DialTimeout = opts.Timeout
	ro.ReadTimeout = opts.Timeout
	ro.WriteTimeout = opts.Timeout
	ro.ContextTimeoutEnabled = true
	// CLIENT SETINFO and MAINT_NOTIFICATIONS are unknown to older servers;
	// they only add noise and goroutines here.
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return &Redis{
		client:  redis.NewClient(ro),
		key:     ServicesKey(project),
		channel: EventsChannel(project),
		timeout: opts.Timeout,
		log:     opts.Logger.With("store", "redis", "addr", ro.Addr, "key", ServicesKey(project)),
	}, nil
}

func (r *Redis) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// Ping reports whether the server answers.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("state: redis ping: %w", err)
	}
	return nil
}

// Identity is the server's run_id, which changes whenever it restarts.
func (r *Redis) Identity(ctx context.Context) (string, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	info, err := r.client.Info(ctx, "server").Result()
	if err != nil {
		return "", fmt.Errorf("state: redis info: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("state: redis info has no run_id")
}

// Load returns every record in the project's hash. Entries that do not
// decode are logged and skipped (never deleted: a newer agent may own them).
func (r *Redis) Load(ctx context.Context) (map[string]Record, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	raw, err := r.client.HGetAll(ctx, r.key).Result()
	if err != nil {
		return nil, fmt.Errorf("state: redis load %s: %w", r.key, err)
	}
	out := make(map[string]Record, len(raw))
	for service, data := range raw {
		rec, err := decodeRecord([]byte(data))
		if err == nil && rec.Service != service {
			err = fmt.Errorf("state: field holds service %q", rec.Service)
		}
		if err != nil {
			r.log.Error("unreadable state record in redis; skipped", "service", service, "err", err)
			continue
		}
		out[service] = rec
	}
	return out, nil
}

func (r *Redis) Save(ctx context.Context, rec Record) error {
	if err := validName(rec.Service); err != nil {
		return err
	}
	data, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if err := r.client.HSet(ctx, r.key, rec.Service, data).Err(); err != nil {
		return fmt.Errorf("state: redis save %s: %w", rec.Service, err)
	}
	return nil
}

func (r *Redis) Delete(ctx context.Context, service string) error {
	if err := validName(service); err != nil {
		return err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if err := r.client.HDel(ctx, r.key, service).Err(); err != nil {
		return fmt.Errorf("state: redis delete %s: %w", service, err)
	}
	return nil
}

// Publish sends payload on EventsChannel(project).
func (r *Redis) Publish(ctx context.Context, payload []byte) error {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if err := r.client.Publish(ctx, r.channel, payload).Err(); err != nil {
		return fmt.Errorf("state: redis publish %s: %w", r.channel, err)
	}
	return nil
}

func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("state: redis close: %w", err)
	}
	return nil
}
