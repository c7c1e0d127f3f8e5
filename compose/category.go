package compose

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Category groups services by role (infrastructure, AI, application,
// frontend, monitoring); it sets the implicit startup order, the restart
// defaults and the default grace period.
type Category int

const (
	Infrastructure Category = iota
	AI
	Application
	Frontend
	Monitoring
)

var categoryNames = []string{"infrastructure", "ai", "application", "frontend", "monitoring"}

func (c Category) String() string {
	if c < 0 || int(c) >= len(categoryNames) {
		return fmt.Sprintf("category(%d)", int(c))
	}
	return categoryNames[c]
}

// ParseCategory accepts a category name as written in x-hostagent or labels.
func ParseCategory(s string) (Category, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "infra", "data":
		return Infrastructure, nil
	case "gpu", "model":
		return AI, nil
	case "app", "backend":
		return Application, nil
	case "ui", "web":
		return Frontend, nil
	}
	if i := slices.Index(categoryNames, s); i >= 0 {
		return Category(i), nil
	}
	return 0, fmt.Errorf("unknown category %q (want one of %s)", s, strings.Join(categoryNames, ", "))
}

// MarshalText writes the category name.
func (c Category) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// DefaultGrace is a category's grace period, used when the
// compose healthcheck has no start_period.
func (c Category) DefaultGrace() time.Duration {
	switch c {
	case Infrastructure:
		return 10 * time.Second
	case AI:
		return 60 * time.Second
	case Monitoring:
		return 15 * time.Second
	default:
		return 30 * time.Second
	}
}

var (
	monitoringImage = regexp.MustCompile(`(?i)(prometheus|grafana|jaeger|loki|alertmanager|exporter|pyroscope|alloy|tempo|otel|opentelemetry|cadvisor|promtail|victoriametrics|uptime-kuma|netdata)`)
	infraImage      = regexp.MustCompile(`(?i)(^|/)(postgres|postgis|timescale|redis|valkey|keydb|mysql|mariadb|mongo|rabbitmq|kafka|zookeeper|nats|etcd|minio|elasticsearch|opensearch|memcached|clickhouse|cassandra|qdrant|milvus|weaviate|chroma|influxdb|couchdb|neo4j|pgvector)`)
	aiImage         = regexp.MustCompile(`(?i)(ollama|vllm|text-generation-inference|tgi|triton|llama|whisper|comfyui|stable-diffusion|pytorch|tensorflow|cuda|nvidia|sglang|localai)`)
	frontendName    = regexp.MustCompile(`(?i)^(frontend|front|ui|web|webui|webapp|client|dashboard)([-_].*)?$|[-_](frontend|ui|web)$`)
)

// guessCategory applies the heuristics: GPU reservation → ai; monitoring
// profile or image → monitoring; known database/broker images → infrastructure;
// frontend-like names → frontend; otherwise application.
func guessCategory(name, image string, profiles []string, gpu bool) Category {
	switch {
	case slices.Contains(profiles, "monitoring") || monitoringImage.MatchString(image):
		return Monitoring
	case gpu:
		return AI
	case infraImage.MatchString(image) || infraImage.MatchString(name):
		return Infrastructure
	case strings.HasPrefix(name, "ai-") || aiImage.MatchString(image):
		return AI
	case frontendName.MatchString(name):
		return Frontend
	}
	return Application
}
