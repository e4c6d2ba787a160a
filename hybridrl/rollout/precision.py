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
- ``int8``: weight-only int8 (every ``nn.Linear``: int8 weights with one scale per output
  channel, bf16 activations and the rest of the model in bf16; :class:`Int8Linear`), CPU only.
  Dynamic int8 (``quantize_dynamic``: activations quantised per tensor on the fly) was the first
  implementation and is gone: on SmolLM2-135M its sampling log-probs were 1.6 nats per token away
  from the fp32 model's, and in a 40-step GRPO run its samples earned 4.4% reward throughout
  (fp32: 17.5% rising to 58.8%), though the trained fp32 weights still reached 54.0% held-out
  (README, "Rollouts at a lower precision").
- ``auto``: bf16 where it is native (a CUDA GPU, or a CPU with AVX-512 BF16 / AMX), else fp32.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

DTYPES = ("auto", "fp32", "bf16", "int8")


def choose_rollout_dtype(requested: str, *, cuda: bool, native_bf16: bool, int8_kernel: bool = True) -> tuple[str, str]:
    """(``fp32`` | ``bf16`` | ``int8``, why) for a requested ``rollout_dtype``.

    Args:
        cuda: the policy is on a CUDA device (the int8 copy is CPU-only).
        native_bf16: bf16 arithmetic is native here (``rollout.machine.native_bf16``).
        int8_kernel: this torch has ``torch._weight_int8pack_mm`` (:class:`Int8Linear`).
    """
    if requested not in DTYPES:
        raise ValueError(f"rollout_dtype: unknown {requested!r}; choose one of {', '.join(DTYPES)}")
    if requested == "int8" and cuda:
        raise ValueError("rollout_dtype=int8 is CPU-only (weight-only int8 Linear layers); use bf16 on a GPU")
    if requested == "int8" and not int8_kernel:
        raise ValueError("rollout_dtype=int8: this torch build has no torch._weight_int8pack_mm; use fp32 or bf16")
    if requested != "auto":
        return requested, "as asked"
    if native_bf16:
        return "bf16", "bf16 is native here"
    return "fp32", "no native bf16 here"


class Int8Linear(nn.Module):
    """A ``Linear`` with int8 weights, one scale per output channel (symmetric, max-abs / 127), and
    bf16 activations: ``y = (x @ W_q^T) * scale + b`` through ``torch._weight_int8pack_mm``, the
    CPU kernel that reads the int8 weights directly (weight-only quantisation: activations are
    never quantised, which is what keeps the log-probs close to the float model's)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("qweight", torch.empty(self.out_features, self.in_features, dtype=torch.int8))
        self.register_buffer("scales", torch.empty(self.out_features, dtype=torch.bfloat16))
        self.register_buffer("bias", None if linear.bias is None else torch.empty(self.out_features, dtype=torch.bfloat16))
        self.load_float(linear.weight, linear.bias)

    @torch.no_grad()
    def load_float(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        """Quantise ``weight`` (out x in, any float dtype) into this layer, in place: per row, the
        scale is max |w| / 127 rounded *up* to a bf16 value (the kernel's scale dtype), and
        q = round(w / scale), so no weight is clipped and each is within half a step."""
        w = weight.detach().float()
        target = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-30)
        scale = target.to(torch.bfloat16)
        low = scale.float() < target  # rounded down: take the next bf16 up (positive: bits + 1)
        scale[low] = (scale[low].view(torch.int16) + 1).view(torch.bfloat16)
        self.qweight.copy_(torch.round(w / scale.float()[:, None]).clamp_(-127, 127).to(torch.int8))
        self.scales.copy_(scale)
        if bias is not None and self.bias is not None:
            self.bias.copy_(bias.detach().to(torch.bfloat16))

    def dequantized(self) -> torch.Tensor:
        """The float weight this layer multiplies by (for tests and checks)."""
        return self.qweight.float() * self.scales.float()[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).to(torch.bfloat16)
        if self.in_features % 32 == 0 and x2.shape[0] > 0:
            y = torch._weight_int8pack_mm(x2.contiguous(), self.qweight, self.scales)
        else:  # the kernel's blocking wants K % 32 == 0 (smaller K gave NaN or crashed): dequantise
            y = (x2.float() @ self.dequantized().T).to(torch.bfloat16)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)


def _quantize(module: nn.Module) -> nn.Module:
    """A bf16 copy of ``module`` whose every ``nn.Linear`` is an :class:`Int8Linear` (the LM head
    included: tied to the embedding in SmolLM2, the embedding itself stays bf16)."""
    originals = {n: m for n, m in module.named_modules() if isinstance(m, nn.Linear)}
    copied = copy.deepcopy(module).to(torch.bfloat16)
    for name, child in list(copied.named_modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, nn.Linear):  # quantised from the float weights, not the bf16 copy's
                setattr(child, attr, Int8Linear(originals[f"{name}.{attr}" if name else attr]))
    return copied


def _requantize(module: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    """Re-quantise every :class:`Int8Linear` of ``module`` in place from the float weights in ``sd``
    (exactly what :func:`_quantize` makes of them)."""
    for name, m in module.named_modules():
        if not isinstance(m, Int8Linear):
            continue
        w = sd.get(f"{name}.weight")
        if w is None:  # not in the state dict: keep the layer as it is
            continue
        m.load_float(w, sd.get(f"{name}.bias"))


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
            # bf16: a float copy at bf16; int8: one bf16 copy with int8 Linear layers, re-quantised
            # in place by every refresh (a fresh copy per step grew the process by ~100 MB a step
            # on SmolLM2: 8 GB at step 30 of a 40-step run)
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

