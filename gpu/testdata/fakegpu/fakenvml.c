/*
 * A fake libnvidia-ml.so.1 for running package gpu's real-GPU tests on a
 * machine without a GPU. It implements only what the package calls, with
 * nvml.h's own types (compiled against go-nvml's copy), and one device whose
 * memory is what the fake torch (./torch) records: $FAKE_NVML_DIR/<pid>
 * holds the bytes process <pid> has allocated. A process that has exited
 * holds nothing, as with the real driver.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvml.h"

#define MIB (1024ULL * 1024ULL)

static struct nvmlDevice_st { int unused; } dev0;

static unsigned long long total_bytes(void) {
	const char *s = getenv("FAKE_NVML_TOTAL_MIB");
	return (s ? strtoull(s, NULL, 10) : 81920ULL) * MIB;
}

/* used_by lists live processes with their bytes; returns the count. */
static unsigned int used_by(unsigned int *pids, unsigned long long *bytes, unsigned int max) {
	const char *dir = getenv("FAKE_NVML_DIR");
	unsigned int n = 0;
	DIR *d;
	struct dirent *e;
	if (!dir || !(d = opendir(dir)))
		return 0;
	while ((e = readdir(d))) {
		char path[4096];
		unsigned long pid = strtoul(e->d_name, NULL, 10);
		unsigned long long b = 0;
		FILE *f;
		if (pid == 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fscanf(f, "%llu", &b) != 1)
			b = 0;
		fclose(f);
		if (n < max) {
			pids[n] = (unsigned int)pid;
			bytes[n] = b;
		}
		n++;
	}
	closedir(d);
	return n;
}

static unsigned long long used_bytes(void) {
	unsigned int pids[256];
	unsigned long long bytes[256], sum = 0;
	unsigned int n = used_by(pids, bytes, 256);
	for (unsigned int i = 0; i < n && i < 256; i++)
		sum += bytes[i];
	return sum;
}

nvmlReturn_t nvmlInit_v2(void) { return NVML_SUCCESS; }
nvmlReturn_t nvmlShutdown(void) { return NVML_SUCCESS; }
const char *nvmlErrorString(nvmlReturn_t r) { return r == NVML_SUCCESS ? "Success" : "Fake NVML error"; }

nvmlReturn_t nvmlSystemGetDriverVersion(char *v, unsigned int len) {
	snprintf(v, len, "999.0-fake");
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) {
	*n = 1;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) {
	if (i != 0)
		return NVML_ERROR_INVALID_ARGUMENT;
	d->handle = &dev0;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len) {
	(void)d;
	snprintf(name, len, "Fake GPU");
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len) {
	(void)d;
	snprintf(uuid, len, "GPU-00000000-fake-0000-0000-000000000000");
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
	(void)d;
	m->total = total_bytes();
	m->used = used_bytes();
	m->free = m->used > m->total ? 0 : m->total - m->used;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m) {
	(void)d;
	if (m->version != nvmlMemory_v2)
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	m->total = total_bytes();
	m->reserved = 0;
	m->used = used_bytes();
	m->free = m->used > m->total ? 0 : m->total - m->used;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
	unsigned int pids[256];
	unsigned long long bytes[256];
	unsigned int n = used_by(pids, bytes, 256);
	(void)d;
	if (n > *count) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	for (unsigned int i = 0; i < n; i++) {
		infos[i].pid = pids[i];
		infos[i].usedGpuMemory = bytes[i];
		infos[i].gpuInstanceId = 0xFFFFFFFF;
		infos[i].computeInstanceId = 0xFFFFFFFF;
	}
	*count = n;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
	(void)d;
	(void)infos;
	*count = 0;
	return NVML_SUCCESS;
}
