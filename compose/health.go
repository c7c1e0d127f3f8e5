package compose

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// httpCheck finds an HTTP check against the container itself inside a
// healthcheck test (curl, wget, python httpx/requests/urllib ...).
var httpCheck = regexp.MustCompile(`https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(?::(\d+))?(/[^\s'"),;]*)?`)

var httpTool = regexp.MustCompile(`\b(curl|wget|httpx|requests|urllib|http\.client|fetch)\b`)

// healthSpec derives the check, in priority order: an HTTP endpoint
// (configured, or found in the compose test and reachable through a
// published port, so it is probed from the host), else the compose test run
// in the container, else running status.
func healthSpec(name string, hc *types.HealthCheckConfig, ext extension, cat Category, ports []Port, d HealthDefaults) (HealthSpec, error) {
	spec := HealthSpec{
		Method:      HealthRunning,
		Interval:    d.Interval,
		Timeout:     d.Timeout,
		Retries:     3,
		StartPeriod: cat.DefaultGrace(),
	}
	if hc != nil {
		if hc.Interval != nil && *hc.Interval > 0 {
			spec.Interval = time.Duration(*hc.Interval)
		}
		if hc.Timeout != nil && *hc.Timeout > 0 {
			spec.Timeout = time.Duration(*hc.Timeout)
		}
		if hc.Retries != nil && *hc.Retries > 0 {
			spec.Retries = int(*hc.Retries)
		}
		if hc.StartPeriod != nil {
			spec.StartPeriod = time.Duration(*hc.StartPeriod)
		}
		if hc.StartInterval != nil && *hc.StartInterval > 0 {
			spec.StartInterval = time.Duration(*hc.StartInterval)
		}
	}

	if url := ext.Health.URL; url != "" {
		spec.Method, spec.URL = HealthHTTP, url
	} else if ext.Health.Endpoint != "" {
		url, err := endpointURL(name, ext.Health.Endpoint, ext.Health.Port, ports)
		if err != nil {
			return spec, err
		}
		spec.Method, spec.URL = HealthHTTP, url
	} else if hc != nil {
		if err := fromTest(&spec, hc, ports); err != nil {
			return spec, fmt.Errorf("service %q: healthcheck: %w", name, err)
		}
	}

	switch m := HealthMethod(strings.ToLower(ext.Health.Method)); m {
	case "":
	case HealthHTTP:
		if spec.URL == "" {
			return spec, fmt.Errorf("service %q: health method http needs x-hostagent health.url or health.endpoint", name)
		}
		spec.Method = m
	case HealthCommand:
		if len(spec.Command) == 0 {
			return spec, fmt.Errorf("service %q: health method command needs a compose healthcheck test", name)
		}
		spec.Method = m
	case HealthRunning, HealthNone:
		spec.Method = m
	default:
		return spec, fmt.Errorf("service %q: unknown health method %q (want http, command, running or none)", name, m)
	}
	return spec, nil
}

func fromTest(spec *HealthSpec, hc *types.HealthCheckConfig, ports []Port) error {
	test := hc.Test
	if hc.Disable || (len(test) > 0 && strings.EqualFold(test[0], "NONE")) {
		spec.Method = HealthNone
		return nil
	}
	if len(test) == 0 {
		return nil
	}
	switch strings.ToUpper(test[0]) {
	case "CMD":
		if len(test) < 2 {
			return fmt.Errorf("test [CMD] has no command")
		}
		spec.Command = append([]string(nil), test[1:]...)
	case "CMD-SHELL":
		if len(test) < 2 || strings.TrimSpace(test[1]) == "" {
			return fmt.Errorf("test [CMD-SHELL] has no command")
		}
		spec.Shell = strings.Join(test[1:], " ")
		spec.Command = []string{"/bin/sh", "-c", spec.Shell}
	default:
		// A bare list is an argv (docker treats it as CMD).
		spec.Command = append([]string(nil), test...)
	}
	spec.Method = HealthCommand
	joined := strings.Join(spec.Command, " ")
	if !httpTool.MatchString(joined) {
		return nil
	}
	m := httpCheck.FindStringSubmatch(joined)
	if m == nil {
		return nil
	}
	port := 80
	if m[1] != "" {
		port, _ = strconv.Atoi(m[1])
	}
	host, ok := publishedFor(port, ports)
	if !ok {
		return nil
	}
	path := m[2]
	if path == "" {
		path = "/"
	}
	spec.Method, spec.URL = HealthHTTP, "http://"+host+path
	return nil
}

func endpointURL(name, endpoint string, containerPort int, ports []Port) (string, error) {
	if !strings.HasPrefix(endpoint, "/") {
		endpoint = "/" + endpoint
	}
	if containerPort == 0 {
		if len(ports) == 0 {
			return "", fmt.Errorf("service %q: health endpoint %s needs a published port (or health.url)", name, endpoint)
		}
		containerPort = ports[0].ContainerPort
	}
	host, ok := publishedFor(containerPort, ports)
	if !ok {
		return "", fmt.Errorf("service %q: health endpoint %s: container port %d is not published", name, endpoint, containerPort)
	}
	return "http://" + host + endpoint, nil
}

// publishedFor returns host:port for a container port published on TCP.
func publishedFor(containerPort int, ports []Port) (string, bool) {
	for _, p := range ports {
		if p.ContainerPort != containerPort || p.HostPort == 0 || p.Protocol != "tcp" {
			continue
		}
		ip := p.HostIP
		if ip == "" || ip == "0.0.0.0" || ip == "::" {
			ip = "127.0.0.1"
		}
		return net.JoinHostPort(ip, strconv.Itoa(p.HostPort)), true
	}
	return "", false
}
