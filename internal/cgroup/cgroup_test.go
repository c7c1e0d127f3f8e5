package cgroup

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/hostagent/hostagent/internal/testsupport/cgrouptest"
)

const (
	idA = "8c6c7f5e0b1d4a3f9e2c7b6a5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c"
	idB = "1111111111111111111111111111111111111111111111111111111111111111"
)

func TestContainerIDForPID(t *testing.T) {
	tests := []struct {
		name, cgroup, want string
	}{
		{"podman systemd v2", "0::/machine.slice/libpod-" + idA + ".scope/container\n", idA},
		{"podman cgroupfs", "0::/libpod_parent/libpod-" + idA + "\n", idA},
		{"podman conmon", "0::/machine.slice/libpod-conmon-" + idA + ".scope\n", idA},
		{"docker cgroupfs", "0::/docker/" + idA + "\n", idA},
		{"docker systemd", "0::/system.slice/docker-" + idA + ".scope\n", idA},
		{"cri-o", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b.slice/crio-" + idA + ".scope\n", idA},
		{"containerd", "0::/kubepods/besteffort/pod0d2e8f14-8c3b-4a5e-9f1d-7c6b5a4e3d2c/cri-containerd-" + idA + ".scope\n", idA},
		{"cgroup v1 lines", "12:pids:/user.slice\n11:memory:/docker/" + idA + "\n0::/\n", idA},
		{"nested: outermost wins", "0::/docker/" + idA + "/docker/" + idB + "\n", idA},
		{"host process", "0::/user.slice/user-0.slice/session-3.scope\n", ""},
		{"63 hex is not an ID", "0::/docker/" + idA[:63] + "\n", ""},
		{"65 hex is not an ID", "0::/docker/" + idA + "0\n", ""},
		{"garbage line", "not a cgroup line\n", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := cgrouptest.WriteProc(t, map[int]string{100 + i: tc.cgroup})
			got, err := ContainerIDForPID(root, 100+i)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestContainerIDForPIDGone(t *testing.T) {
	_, err := ContainerIDForPID(t.TempDir(), 4242)
	if !errors.Is(err, fs.ErrNotExist) || !IsGone(err) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}
