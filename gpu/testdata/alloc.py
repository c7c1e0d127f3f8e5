#!/usr/bin/env python3
"""Real-GPU test helper for hostagent's gpu package.

Allocates VRAM on one CUDA device in --steps steps of --mib MiB with --pause
seconds between steps, then holds it until killed or until its stdin closes
(so it never outlives the test binary that started it). Progress goes to
stdout, one line each, flushed: "context", "step N", "holding".
"""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--pause", type=float, default=1.5)
    args = ap.parse_args()

    try:
        import torch
    except Exception as e:  # noqa: BLE001 - report whatever broke the import
        print(f"error: import torch: {e}", file=sys.stderr, flush=True)
        return 3
    if not torch.cuda.is_available():
        print("error: torch.cuda.is_available() is False", file=sys.stderr, flush=True)
        return 3

    dev = torch.device("cuda", 0)  # the test narrows CUDA_VISIBLE_DEVICES
    torch.empty(1, device=dev).fill_(0)  # CUDA context and the fill kernel
    torch.cuda.synchronize(dev)
    print("context", flush=True)

    held = []
    for i in range(args.steps):
        if i > 0:
            time.sleep(args.pause)
        buf = torch.empty(args.mib << 20, dtype=torch.uint8, device=dev)
        buf.fill_(1)
        torch.cuda.synchronize(dev)
        held.append(buf)
        print(f"step {i + 1}", flush=True)
    print("holding", flush=True)

    # Hold until the parent closes stdin (or dies, which closes it too).
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
