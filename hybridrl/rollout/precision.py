"""Rollouts at a lower precision than training (``rollout_dtype``): a copy of the policy's
weights in bf16 or int8 that the HF engine samples from, refreshed after every optimizer step.

Decoding on a CPU reads every weight once per new token, so it is bound by memory traffic:
weights in int8 (a quarter of fp32's bytes) or bf16 (half) decode faster. The field samples at a
lower precision than it trains (FP8 rollouts in verl and slime) and corrects the mismatch with
truncated importance sampling: the trainer turns ``vllm_importance_sampling_correction`` on
whenever the rollout precision differs from training, and logs the per-step log-prob mismatch
(``pg/rollout_logprob_diff_mean/_max``).

- ``fp32``: sample from the training weights themselves (no copy).
- ``bf16``: a bf16 copy (``module.to(torch.bfloat16)``).
- ``int8``: dynamic int8 quantisation of every ``nn.Linear`` (weights int8 per tensor,
  activations quantised on the fly; ``torch.ao.quantization.quantize_dynamic``), CPU only.
- ``auto``: bf16 where it is native (a CUDA GPU, or a CPU with AVX-512 BF16 / AMX), else int8 on
  a CPU whose quantised kernels are available, else fp32.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

DTYPES = ("auto", "fp32", "bf16", "int8")


def choose_rollout_dtype(requested: str, *, cuda: bool, native_bf16: bool, int8_engines: list[str]) -> tuple[str, str]:
    """(``fp32`` | ``bf16`` | ``int8``, why) for a requested ``rollout_dtype``.

    Args:
        cuda: the policy is on a CUDA device (int8 dynamic quantisation is CPU-only).
        native_bf16: bf16 arithmetic is native here (``rollout.machine.native_bf16``).
        int8_engines: ``torch.backends.quantized.supported_engines``.
    """
    if requested not in DTYPES:
        raise ValueError(f"rollout_dtype: unknown {requested!r}; choose one of {', '.join(DTYPES)}")
    has_int8 = bool({"x86", "fbgemm", "onednn"} & set(int8_engines))
    if requested == "int8" and cuda:
        raise ValueError("rollout_dtype=int8 is CPU-only (dynamic int8 quantisation); use bf16 on a GPU")
    if requested == "int8" and not has_int8:
        raise ValueError("rollout_dtype=int8: this torch build has no x86/fbgemm quantised kernels; use fp32 or bf16")
    if requested != "auto":
        return requested, "as asked"
    if native_bf16:
        return "bf16", "bf16 is native here"
    if not cuda and has_int8:
        return "int8", "no native bf16; int8 kernels available"
    return "fp32", "neither native bf16 nor int8 kernels"


def _quantize(module: nn.Module) -> nn.Module:
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8, inplace=False)


def _requantize(module: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    """Re-quantise every dynamic int8 Linear of ``module`` in place from the float weights in
    ``sd``, exactly as ``quantize_dynamic`` did (its default weight observer: per-tensor symmetric
    min/max, qint8)."""
    from torch.ao.nn.quantized.dynamic import Linear as QLinear
    from torch.ao.nn.quantized.modules.utils import _quantize_weight
    from torch.ao.quantization import default_dynamic_qconfig

    for name, m in module.named_modules():
        if not isinstance(m, QLinear):
            continue
        w = sd.get(f"{name}.weight")
        if w is None:  # not in the state dict: keep the layer as it is
            continue
        obs = default_dynamic_qconfig.weight()
        w = w.detach().float()
        obs(w)
        b = sd.get(f"{name}.bias")
        m.set_weight_bias(_quantize_weight(w, obs), None if b is None else b.detach().float())


class RolloutWeights:
    """The policy's weights at the rollout precision.

    ``module`` is what the engine generates with; :meth:`refresh` copies the current training
    weights in (and re-quantises for int8). ``last_refresh_s`` times the last refresh.
    """

    def __init__(self, model: nn.Module, dtype: str):
        if dtype not in ("bf16", "int8"):
            raise ValueError(f"RolloutWeights: dtype must be bf16 or int8, got {dtype!r}")
        self.dtype = dtype
        with torch.no_grad():
            # bf16: a float copy at bf16; int8: quantize_dynamic copies the model once, and every
            # refresh re-quantises its Linear layers in place (a fresh copy per step grew the process
            # by ~100 MB a step on SmolLM2: 8 GB at step 30 of a 40-step run)
            self.module: nn.Module = copy.deepcopy(model).to(torch.bfloat16) if dtype == "bf16" else _quantize(model)
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.module.eval()
        self.last_refresh_s = 0.0
        self.refreshes = 0

    @torch.no_grad()
    def refresh(self, source: nn.Module | Callable[[], dict[str, torch.Tensor]]) -> nn.Module:
        """Copy the training weights (a model, or a callable returning its full state dict) into
        the rollout copy; int8 re-quantises it. Returns the module to generate with."""
        t0 = time.perf_counter()
        sd = source() if callable(source) and not isinstance(source, nn.Module) else source.state_dict()
        own = self.module.state_dict()  # float tensors (int8: all but the quantised Linears)
        for k, v in sd.items():
            if k in own and isinstance(own[k], torch.Tensor) and own[k].is_floating_point():
                own[k].copy_(v.to(device=own[k].device, dtype=own[k].dtype))
        if self.dtype == "int8":
            _requantize(self.module, sd)
        self.last_refresh_s = time.perf_counter() - t0
        self.refreshes += 1
        return self.module

