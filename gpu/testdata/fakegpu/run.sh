#!/usr/bin/env bash
# Runs gpu/testdata/device-run.sh on a machine without a GPU, against a fake
# libnvidia-ml.so.1 (fakenvml.c, built here against go-nvml's nvml.h) and a
# fake torch. It checks the tests' own plumbing and go-nvml's cgo calls, not
# a real driver. Usage: gpu/testdata/fakegpu/run.sh [path/to/gpu.test]
set -euo pipefail
bin=$(realpath "${1:-gpu.test}")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nvml_h="$(go env GOMODCACHE)/github.com/!n!v!i!d!i!a/go-nvml@v0.13.4-1/pkg/nvml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/lib" "$work/mem"
gcc -shared -fPIC -O2 -Wall -DNVML_NO_UNVERSIONED_FUNC_DEFS=1 -I"$nvml_h" \
	-o "$work/lib/libnvidia-ml.so.1" "$here/fakenvml.c"
export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export FAKE_NVML_DIR="$work/mem"
"$here/../device-run.sh" "$bin"
