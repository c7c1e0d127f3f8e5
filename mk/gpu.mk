# Package gpu: the real-GPU test binary (cgo: go-nvml dlopens libnvidia-ml).

.PHONY: gpu-test-bin
gpu-test-bin: ## build gpu.test for a GPU host; run it there with gpu/testdata/device-run.sh
	CGO_ENABLED=1 $(GO) test -c -o gpu.test ./gpu

.PHONY: gpu-fake-run
gpu-fake-run: gpu-test-bin ## run the real-GPU tests here against a fake libnvidia-ml and a fake torch
	./gpu/testdata/fakegpu/run.sh ./gpu.test
