package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// service is the part of the agent's per-service JSON the checks read.
type service struct {
	Name         string `json:"name"`
	Status       string `json:"status"`
	Enabled      bool   `json:"enabled"`
	FailureCount int    `json:"failure_count"`
	RestartCount int    `json:"restart_count"`
	ContainerID  string `json:"container_id"`
	Detail       string `json:"detail"`
}

var httpc = &http.Client{Timeout: 3 * time.Second}

// services is GET /api/system/services (reads need no token on loopback).
func services(ctx context.Context) (map[string]service, error) {
	var body struct {
		Services []service `json:"services"`
	}
	if err := getJSON(ctx, "http://"+apiAddr+"/api/system/services", &body); err != nil {
		return nil, err
	}
	out := make(map[string]service, len(body.Services))
	for _, s := range body.Services {
		out[s.Name] = s
	}
	return out, nil
}

// event is one entry of GET /api/system/health/events.
type event struct {
	Message string    `json:"message"`
	Time    time.Time `json:"timestamp"`
	Data    service   `json:"data"`
}

func events(ctx context.Context, limit int) ([]event, error) {
	var body struct {
		Events []event `json:"events"`
	}
	err := getJSON(ctx, "http://"+apiAddr+"/api/system/health/events?limit="+strconv.Itoa(limit), &body)
	return body.Events, err
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.Unmarshal(data, v)
}

// forceUnhealthy calls the test service's /fail on its published port: its
// health checks fail from then on, until the agent restarts it.
func forceUnhealthy(ctx context.Context, port int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/fail", port), nil)
	if err != nil {
		return err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /fail on port %d: %s", port, resp.Status)
	}
	return nil
}
