"""A fake torch for gpu/testdata/alloc.py on a machine without a GPU.

It knows only what alloc.py calls. Allocations on "cuda" are recorded in
$FAKE_NVML_DIR/<pid> (bytes, rewritten atomically), which the fake
libnvidia-ml reads; the first one also adds a 500 MiB CUDA context. Import
takes $FAKE_TORCH_IMPORT_S seconds (default 2), like a real torch import.
"""
import os
import time

__version__ = "0.0-fake"
uint8 = "uint8"
_held = 0
_CONTEXT = 500 << 20

time.sleep(float(os.environ.get("FAKE_TORCH_IMPORT_S", "2")))


def _record(n):
    global _held
    if _held == 0:
        n += _CONTEXT
    _held += n
    d = os.environ["FAKE_NVML_DIR"]
    tmp = os.path.join(d, f".{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(str(_held))
    os.replace(tmp, os.path.join(d, str(os.getpid())))


class device:
    def __init__(self, kind, index=0):
        self.kind, self.index = kind, index


class _Tensor:
    def fill_(self, _v):
        return self


def empty(n, dtype=None, device=None):
    if device is not None and device.kind == "cuda":
        _record(n)
    return _Tensor()


class cuda:
    @staticmethod
    def is_available():
        return True

    @staticmethod
    def device_count():
        return 1

    @staticmethod
    def synchronize(_dev=None):
        pass
