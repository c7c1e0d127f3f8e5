package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// record is the part of a state record the checks compare.
type record struct {
	Service      string `json:"service"`
	Enabled      bool   `json:"enabled"`
	FailureCount int    `json:"failure_count"`
	RestartCount int    `json:"restart_count"`
}

func (r record) String() string {
	return fmt.Sprintf("enabled=%t failures=%d restarts=%d", r.Enabled, r.FailureCount, r.RestartCount)
}

func decodeEnvelope(data []byte) (record, error) {
	var env struct {
		Version int    `json:"version"`
		Record  record `json:"record"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return record{}, err
	}
	return env.Record, nil
}

// fileRecords reads <state_dir>/<project>/<service>.json.
func (c *chaos) fileRecords() (map[string]record, error) {
	out := map[string]record{}
	for _, sp := range specs {
		path := filepath.Join(c.stateDir, project, sp.name+".json")
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r, err := decodeEnvelope(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out[sp.name] = r
	}
	return out, nil
}

// redisRecords reads the hash hostagent:<project>:services.
func (c *chaos) redisRecords(ctx context.Context) (map[string]record, error) {
	cl := redis.NewClient(&redis.Options{
		Addr: c.redis.addr(), DisableIdentity: true, MaxRetries: -1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	raw, err := cl.HGetAll(cctx, "hostagent:"+project+":services").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]record{}
	for field, data := range raw {
		r, err := decodeEnvelope([]byte(data))
		if err != nil {
			return nil, fmt.Errorf("redis field %s: %w", field, err)
		}
		out[field] = r
	}
	return out, nil
}

// stateDiff compares the two stores: every service must have a record in
// both, with the same enabled flag and counts ("" when they agree).
func (c *chaos) stateDiff(ctx context.Context) (string, map[string]record, map[string]record) {
	files, err := c.fileRecords()
	if err != nil {
		return "file store: " + err.Error(), nil, nil
	}
	reds, err := c.redisRecords(ctx)
	if err != nil {
		return "redis: " + err.Error(), files, nil
	}
	var noFile, noRedis, bad []string
	for _, sp := range specs {
		f, inFile := files[sp.name]
		r, inRedis := reds[sp.name]
		switch {
		case !inFile:
			noFile = append(noFile, sp.name)
		case !inRedis:
			noRedis = append(noRedis, sp.name)
		case f != r:
			bad = append(bad, fmt.Sprintf("%s: file %s, Redis %s", sp.name, f, r))
		}
	}
	if len(noRedis) > 0 {
		bad = append([]string{fmt.Sprintf("%d of %d services have no record in Redis (%s)", len(noRedis), len(specs), strings.Join(noRedis, ", "))}, bad...)
	}
	if len(noFile) > 0 {
		bad = append([]string{"no record in the file store: " + strings.Join(noFile, ", ")}, bad...)
	}
	return strings.Join(bad, "; "), files, reds
}

// redisResynced waits up to limit for Redis to hold what the file holds.
func (c *chaos) redisResynced(ctx context.Context, limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		why, _, _ := c.stateDiff(ctx)
		if why == "" || time.Now().After(deadline) {
			return why
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type psEntry struct {
	ID     string            `json:"Id"`
	Names  []string          `json:"Names"`
	State  string            `json:"State"`
	Labels map[string]string `json:"Labels"`
}

// containers lists the project's containers by service label.
func (c *chaos) containers(ctx context.Context) (map[string][]psEntry, error) {
	out, err := c.pm.Podman(ctx, "ps", "-a", "--filter", "label=com.docker.compose.project="+project, "--format", "json")
	if err != nil {
		return nil, err
	}
	var list []psEntry
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("podman ps: %w", err)
	}
	by := map[string][]psEntry{}
	for _, p := range list {
		svc := p.Labels["com.docker.compose.service"]
		by[svc] = append(by[svc], p)
	}
	return by, nil
}

// duplicates checks that every service has exactly one container.
func (c *chaos) duplicates(ctx context.Context) string {
	by, err := c.containers(ctx)
	if err != nil {
		return err.Error()
	}
	var bad []string
	for _, name := range append(specNames(), jobName, noRestart) {
		if n := len(by[name]); n != 1 {
			bad = append(bad, fmt.Sprintf("%s has %d containers", name, n))
		}
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !knownService(k) {
			bad = append(bad, fmt.Sprintf("%d containers of unknown service %q", len(by[k]), k))
		}
	}
	return strings.Join(bad, "; ")
}

func knownService(name string) bool {
	return name == jobName || name == noRestart || slices.Contains(specNames(), name)
}

func specNames() []string {
	names := make([]string, len(specs))
	for i, sp := range specs {
		names[i] = sp.name
	}
	return names
}
