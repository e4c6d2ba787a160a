"""What this machine does natively (read by ``bf16=auto`` and ``rollout_dtype=auto``)."""

from __future__ import annotations

from pathlib import Path


def native_bf16(cpuinfo: str | None = None) -> bool:
    """True where bf16 autocast is native and pays off: a CUDA GPU, or a CPU with AVX-512 BF16
    or AMX (``/proc/cpuinfo`` flags). Elsewhere bf16 is emulated: 2.4x slower than fp32 on an
    AVX2-only EPYC (docs/results.md). ``bf16=auto`` resolves through this one function."""
    if cpuinfo is None:
        import torch

        if torch.cuda.is_available():
            return True
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    return bool(set(cpuinfo.split()) & {"avx512_bf16", "amx_bf16"})
