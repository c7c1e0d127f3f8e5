// Package cgroup maps a process to its container by the container ID in
// its /proc/PID/cgroup paths (Podman, Docker, CRI-O and containerd shapes).
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// containerIDRe finds a 64-hex container ID in one cgroup path segment, bare
// or decorated by the engine: "libpod-<id>.scope", "libpod-conmon-<id>.scope",
// "docker-<id>.scope", "crio-<id>", "cri-containerd-<id>.scope", "<id>".
var containerIDRe = regexp.MustCompile(`(?:^|[^0-9a-f])([0-9a-f]{64})(?:[^0-9a-f]|$)`)

// ContainerIDForPID returns the container ID of pid as read from
// procRoot/PID/cgroup ("/proc" on a real host), or "" when the process is
// not in a container. A process that has exited gives an error wrapping
// fs.ErrNotExist.
//
// With nested containers the outermost ID wins: the agent manages the
// containers of the host's engine, not what runs inside them.
func ContainerIDForPID(procRoot string, pid int) (string, error) {
	path := filepath.Join(procRoot, strconv.Itoa(pid), "cgroup")
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("container of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if id := containerIDFromCgroupLine(sc.Text()); id != "" {
			return id, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("container of pid %d: read %s: %w", pid, path, err)
	}
	return "", nil
}

// containerIDFromCgroupLine parses "hierarchy-ID:controllers:path" (cgroup
// v1 lines and the v2 "0::path" line alike).
func containerIDFromCgroupLine(line string) string {
	parts := strings.SplitN(line, ":", 3)
	if len(parts) != 3 {
		return ""
	}
	for _, seg := range strings.Split(parts[2], "/") {
		if m := containerIDRe.FindStringSubmatch(seg); m != nil {
			return m[1]
		}
	}
	return ""
}

// IsGone reports the error of a process that exited before it was read.
func IsGone(err error) bool { return errors.Is(err, os.ErrNotExist) }
