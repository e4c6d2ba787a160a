"""The machine's fp32 matrix-multiply peak as PyTorch reaches it (#28 item 4): the yardstick for
the update's achieved FLOP/s (``update/flops_per_s`` in metrics.jsonl, 6 · N · tokens / update time).

Times ``torch.mm`` of square fp32 matrices (n × n, 2n³ FLOPs) and of the shapes SmolLM2-135M's update
multiplies (tokens × 576 by 576 × 1536, its MLP; 576 × 49152, its LM head), best of ``--repeat`` runs
after a warm-up, with the threads given (default: torch's). Prints GFLOP/s per shape and the best.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/matmul_peak.py --out benchmarks/results/matmul_peak.json

A measurement of the machine: run it on a quiet machine (other processes take cores and caches).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path


def gflops(m: int, k: int, n: int, repeat: int, dtype) -> float:
    import torch

    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    out = torch.empty(m, n, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up (allocation, kernel choice)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * m * k * n / best / 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="512,1024,2048", help="square sizes n, comma-separated")
    ap.add_argument("--tokens", type=int, default=4096, help="rows of the SmolLM2-shaped products")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        sizes = [int(x) for x in a.sizes.split(",") if x.strip()]
    except ValueError:
        print(f"matmul_peak: --sizes {a.sizes!r}: give integers, comma-separated", file=sys.stderr)
        return 2
    shapes = [(n, n, n, f"{n}^3") for n in sizes]
    shapes += [(a.tokens, 576, 1536, f"{a.tokens}x576 @ 576x1536 (MLP up)"),
               (a.tokens, 1536, 576, f"{a.tokens}x1536 @ 1536x576 (MLP down)"),
               (min(a.tokens, 1024), 576, 49152, f"{min(a.tokens, 1024)}x576 @ 576x49152 (LM head)")]
    rows = []
    for m, k, n, name in shapes:
        g = gflops(m, k, n, a.repeat, torch.float32)
        rows.append({"shape": name, "m": m, "k": k, "n": n, "gflops": g})
        print(f"{name:>36}: {g:8.1f} GFLOP/s", flush=True)
    peak = max(r["gflops"] for r in rows)
    print(f"fp32 matmul peak: {peak:.1f} GFLOP/s ({torch.get_num_threads()} threads)")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({
            "peak_gflops": peak, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "cpu": _cpu_name(), "cores": os.cpu_count(), "load_avg": os.getloadavg(), "shapes": rows,
            "command": " ".join([Path(sys.executable).name, *sys.argv])}, indent=1) + "\n")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
