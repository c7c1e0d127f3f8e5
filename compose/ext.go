package compose

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
)

// extension is the `x-hostagent:` block a service may carry; `hostagent.*`
// labels set the same fields and win over the block.
type extension struct {
	Category    string          `json:"category"`
	Phase       int             `json:"phase"`
	GPU         *bool           `json:"gpu"`
	VRAM        json.RawMessage `json:"vram"`
	StartupTime string          `json:"startup_time"`
	DisplayName string          `json:"display_name"`
	Health      struct {
		Method   string `json:"method"`
		URL      string `json:"url"`
		Endpoint string `json:"endpoint"`
		Port     int    `json:"port"`
	} `json:"health"`
	Restart struct {
		MaxFailures int    `json:"max_failures"`
		BackoffBase string `json:"backoff_base"`
		BackoffMax  string `json:"backoff_max"`
	} `json:"restart"`
}

const extensionKey = "x-hostagent"

// extensionKeys are the top-level keys of the block, for "did you mean".
var extensionKeys = []string{"category", "phase", "gpu", "vram", "startup_time", "display_name", "health", "restart"}

// labelFields maps hostagent.* labels onto extension fields.
var labelFields = map[string]func(e *extension, v string) error{
	"hostagent.category":     func(e *extension, v string) error { e.Category = v; return nil },
	"hostagent.phase":        func(e *extension, v string) error { return atoi(v, &e.Phase) },
	"hostagent.gpu":          func(e *extension, v string) error { return parseBool(v, &e.GPU) },
	"hostagent.vram":         func(e *extension, v string) error { e.VRAM, _ = json.Marshal(v); return nil },
	"hostagent.startup-time": func(e *extension, v string) error { e.StartupTime = v; return nil },
	"hostagent.display-name": func(e *extension, v string) error { e.DisplayName = v; return nil },
	"hostagent.health.method": func(e *extension, v string) error {
		e.Health.Method = v
		return nil
	},
	"hostagent.health.url":      func(e *extension, v string) error { e.Health.URL = v; return nil },
	"hostagent.health.endpoint": func(e *extension, v string) error { e.Health.Endpoint = v; return nil },
	"hostagent.health.port":     func(e *extension, v string) error { return atoi(v, &e.Health.Port) },
	"hostagent.max-failures":    func(e *extension, v string) error { return atoi(v, &e.Restart.MaxFailures) },
	"hostagent.backoff-base":    func(e *extension, v string) error { e.Restart.BackoffBase = v; return nil },
	"hostagent.backoff-max":     func(e *extension, v string) error { e.Restart.BackoffMax = v; return nil },
}

func parseExtension(service string, block any, labels map[string]string) (extension, error) {
	var ext extension
	if block != nil {
		data, err := json.Marshal(block)
		if err != nil {
			return ext, fmt.Errorf("service %q: %s: %w", service, extensionKey, err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ext); err != nil {
			return ext, fmt.Errorf("service %q: %s: %w", service, extensionKey, describeJSONField(err, extensionKeys))
		}
	}
	for _, k := range sortedKeys(labels) {
		set, ok := labelFields[k]
		if !ok {
			if strings.HasPrefix(k, "hostagent.") {
				return ext, fmt.Errorf("service %q: unknown label %q", service, k)
			}
			continue
		}
		if err := set(&ext, labels[k]); err != nil {
			return ext, fmt.Errorf("service %q: label %s: %w", service, k, err)
		}
	}
	return ext, nil
}

// vramBytes parses the declared VRAM: a number of bytes or a size such as
// "14.7GB" or "4096MiB" (GB and GiB both count in powers of 1024, as
// nvidia-smi does).
func (e extension) vramBytes() (uint64, error) {
	if len(e.VRAM) == 0 || string(e.VRAM) == "null" {
		return 0, nil
	}
	var n float64
	if err := json.Unmarshal(e.VRAM, &n); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("vram %v is negative", n)
		}
		return uint64(n), nil
	}
	var s string
	if err := json.Unmarshal(e.VRAM, &s); err != nil {
		return 0, fmt.Errorf("vram: want a size like 16GiB, got %s", e.VRAM)
	}
	b, err := units.RAMInBytes(strings.TrimSpace(s))
	if err != nil || b < 0 {
		return 0, fmt.Errorf("vram %q: want a size like 16GiB or 4096MiB", s)
	}
	return uint64(b), nil
}

func parseDuration(what, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q: want a duration like 90s or 2m", what, s)
	}
	return d, nil
}

func atoi(v string, dst *int) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("want a number, got %q", v)
	}
	*dst = n
	return nil
}

func parseBool(v string, dst **bool) error {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("want true or false, got %q", v)
	}
	*dst = &b
	return nil
}
