#!/usr/bin/env bash
# Runs package gpu's real-GPU tests on a machine with an NVIDIA GPU, NVML and
# python3 with torch (no Podman needed). Build the binary first, with cgo:
#   go test -c -o gpu.test ./gpu        (or: make gpu-test-bin)
# Usage: gpu/testdata/device-run.sh [path/to/gpu.test]   default ./gpu.test
# The whole run stays under two minutes (-test.timeout=110s).
set -euo pipefail
bin=$(realpath "${1:-gpu.test}")
if [[ ! -x $bin ]]; then
	echo "device-run: no test binary at $bin; build it with: go test -c -o gpu.test ./gpu" >&2
	exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Diagnostics only: the tests themselves read NVML and start the helper.
if command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,memory.free,mig.mode.current --format=csv || true
else
	echo "device-run: nvidia-smi not found"
fi
timeout 60 python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.device_count())' ||
	echo "device-run: python3/torch check failed (the helper-based tests will fail or skip)"

cd "$here/.." # the package directory: the tests find testdata/alloc.py from there
export HOSTAGENT_GPU_TEST=1
exec "$bin" -test.v -test.count=1 -test.timeout=110s -test.run '^(TestRealGPU|TestRealNVML)'
