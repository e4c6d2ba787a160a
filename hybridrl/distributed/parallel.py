"""Data parallelism on PyTorch's own engines: DDP and FSDP2, launched by ``accelerate launch``.

The loop stays the one-process loop; this module gives it the few calls that make several
processes compute *exactly* the one-process update of the global batch:

- :func:`init_parallel` — the process group from the launcher's environment (accelerate's
  ``PartialState``: gloo on CPU, NCCL on GPU) and the mode: ``none``, ``ddp``
  (``torch.nn.parallel.DistributedDataParallel``) or ``fsdp2``
  (``torch.distributed.fsdp.fully_shard`` per decoder layer, then the root).
  ``auto`` reads accelerate's config (``distributed_type: FSDP`` with ``fsdp_version: 2``
  → fsdp2; any other multi-process launch → ddp; one process → none).
- :meth:`Parallel.wrap` / :meth:`Parallel.wrap_frozen` — the policy and the frozen reference.
  Gradients are **summed** over ranks (not averaged: DDP gets a sum comm hook, FSDP2 a
  gradient divide factor of 1), because the loss of each rank is already its share of the
  whole-batch loss (global token/sequence counts, summed with :meth:`Parallel.sum`).
- :meth:`Parallel.agree` + :meth:`Parallel.sync` + :func:`padding_loss` — ranks may hold
  different numbers of micro-batches (HPT's gate splits terms unevenly; zero-advantage
  micro-batches are skipped). Every rank runs ``max`` of them (an all-reduce of the count);
  the missing ones are zero-weight padding micro-batches (``0 * loss`` of a real forward, so
  every parameter's hooks fire and FSDP2's all-gathers stay in lockstep). Only the last
  backward synchronises gradients (DDP ``no_sync``, FSDP2 ``set_requires_gradient_sync``).
- :meth:`Parallel.reduce_replicated` — parameters outside the engine (SuperRL's learnable
  loss weights, the PPO value head: a few hundred numbers, replicated) get their gradients
  summed once, after the last backward.
- :meth:`Parallel.clip_grad_norm_` — the norm over all shards (DTensor-aware).
- :meth:`Parallel.gathered` — full weights for HF ``generate`` (FSDP2: every group unsharded
  once, no resharding until the block ends, so generation runs no collective and ranks may
  generate different numbers of tokens); :class:`RolloutCopy` is the alternative that keeps
  an unsharded copy and refreshes it with :meth:`Parallel.full_state_dict`.
- :meth:`Parallel.full_state_dict` — HF parameter names, full tensors: for the HF export and
  for weight syncs to other engines (vLLM).

Sharded checkpoints (``torch.distributed.checkpoint``) are in :mod:`hybridrl.distributed.sharded`.
"""

from __future__ import annotations

import contextlib
import copy
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn

MODES = ("none", "ddp", "fsdp2")


def resolve_mode(requested: str, world: int, env: dict[str, str] | None = None) -> str:
    """The data-parallel mode: ``requested`` unless it is ``auto``.

    ``auto``: one process → ``none``; accelerate's FSDP launch (``ACCELERATE_USE_FSDP=true``,
    ``FSDP_VERSION=2``) → ``fsdp2``; any other multi-process launch → ``ddp``.
    """
    env = os.environ if env is None else env
    if requested == "auto":
        if world <= 1:
            return "none"
        if str(env.get("ACCELERATE_USE_FSDP", "false")).lower() == "true":
            if str(env.get("FSDP_VERSION", "1")) != "2":
                raise ValueError("accelerate's FSDP config selects FSDP1; hybridrl runs FSDP2: set "
                                 "`fsdp_version: 2` under fsdp_config (examples/accelerate/*fsdp2*.yaml)")
            return "fsdp2"
        return "ddp"
    if requested not in MODES:
        raise ValueError(f"parallel: unknown mode {requested!r}; choose auto, {', '.join(MODES)}")
    if requested == "none" and world > 1:
        raise ValueError(f"parallel=none with {world} processes: choose ddp or fsdp2 (or auto)")
    return requested


def init_parallel(mode: str = "auto") -> "Parallel":
    """Join the launcher's process group (if any) and return the run's :class:`Parallel`.

    ``accelerate launch`` (or torchrun) sets ``WORLD_SIZE``/``RANK``/``MASTER_ADDR``; accelerate's
    ``PartialState`` then initialises the default group (NCCL where CUDA is available, else gloo).
    ``ddp``/``fsdp2`` on a single process (no launcher) get a one-rank group, so the engines can
    be exercised alone (e.g. FSDP2 on one GPU).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        from accelerate import PartialState

        PartialState()
    mode = resolve_mode(mode, world)
    if mode != "none" and not dist.is_initialized():
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo",
                                init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    on = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if on else 0
    world = dist.get_world_size() if on else 1
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", rank % max(1, torch.cuda.device_count())))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    reshard = os.environ.get("FSDP_RESHARD_AFTER_FORWARD", "true").lower() not in ("false", "0", "no")
    return Parallel(mode=mode, rank=rank, world=world, device=device, reshard_after_forward=reshard)


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The transformer blocks of an HF model (or a PEFT wrapper of one): the modules whose class
    is listed in the model's ``_no_split_modules`` (``LlamaDecoderLayer``, ``Qwen2DecoderLayer``...)."""
    names: set[str] = set()
    for m in model.modules():
        names.update(getattr(m, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise ValueError(f"fsdp2: no decoder layers found in {type(model).__name__} "
                         "(the model class lists none in _no_split_modules)")
    return layers


def _sum_hook(process_group, bucket):
    """DDP comm hook: all-reduce SUM (the default hook divides by the world size)."""
    group = process_group if process_group is not None else dist.group.WORLD
    fut = dist.all_reduce(bucket.buffer(), group=group, async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def _fsdp_modules(model: nn.Module) -> list[nn.Module]:
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]


@dataclass
class Parallel:
    """The run's data-parallel context. ``mode`` is ``none``, ``ddp`` or ``fsdp2``."""

    mode: str
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    reshard_after_forward: bool = True
    """FSDP2: free the gathered weights of a layer after its forward (re-gathered in backward);
    accelerate's ``fsdp_reshard_after_forward``. False keeps them until the backward (faster,
    more memory)."""

    @property
    def on(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    # -- scalar collectives ------------------------------------------------------------
    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64): global token/sequence counts, logged sums."""
        if not self.on:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def agree(self, count: int) -> int:
        """The largest ``count`` over ranks: how many micro-batches every rank runs."""
        if not self.on:
            return int(count)
        t = torch.tensor([int(count)], dtype=torch.int64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def agree_each(self, counts: list[int]) -> list[int]:
        """Element-wise max over ranks of a list of counts (one all-reduce)."""
        if not self.on or not counts:
            return [int(c) for c in counts]
        t = torch.tensor([int(c) for c in counts], dtype=torch.int64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [int(x) for x in t.tolist()]

    def barrier(self) -> None:
        if self.on:
            dist.barrier()

    # -- wrapping ----------------------------------------------------------------------
    def wrap(self, model: nn.Module, *, bf16: bool = False, from_rank0: bool = False) -> nn.Module:
        """Hand the trainable policy to the engine. Returns the module the loop trains through
        (DDP: a wrapper whose ``.module`` is the model; FSDP2: the model itself, sharded in place).

        FSDP2: ``fully_shard`` on every decoder layer, then on the root (embeddings, final norm,
        LM head); with ``bf16`` a ``MixedPrecisionPolicy`` computes in bf16 and reduces in fp32
        (the sharded fp32 parameters are what AdamW updates). ``from_rank0``: only rank 0 holds
        real weights, the other ranks' model is on the meta device (:meth:`shard_from_rank0`).
        """
        if self.mode == "none":
            return model
        if self.mode == "ddp":
            from torch.nn.parallel import DistributedDataParallel as DDP

            if not any(p.requires_grad for p in model.parameters()):
                return model
            ddp = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                      # buffers (RoPE tables) are identical on every rank; broadcasting them would
                      # add a collective to every forward, including forward-only passes
                      broadcast_buffers=False)
            ddp.register_comm_hook(None, _sum_hook)
            if hasattr(model, "config"):
                ddp.config = model.config  # read by sequence_logprobs (pad id) like the plain model's
            return ddp
        shard = lambda: self._fully_shard(model, bf16=bf16, reshard_after_forward=self.reshard_after_forward)  # noqa: E731
        self.shard_from_rank0(model, shard) if from_rank0 else shard()
        for m in _fsdp_modules(model):
            # sum, as DDP above; with a plain SUM collective (gloo has no PREMUL_SUM)
            m.set_gradient_divide_factor(1.0)
            m.set_force_sum_reduction_for_comms(True)
        return model

    def wrap_frozen(self, model: nn.Module, *, bf16: bool = False, from_rank0: bool = False) -> nn.Module:
        """The frozen reference model: sharded like the policy under FSDP2 (its forward passes
        then follow the same lockstep), replicated otherwise. ``from_rank0`` as in :meth:`wrap`."""
        if self.mode != "fsdp2":
            return model
        for p in model.parameters():
            p.requires_grad_(False)
        shard = lambda: self._fully_shard(model, bf16=bf16, reshard_after_forward=True)  # noqa: E731
        self.shard_from_rank0(model, shard) if from_rank0 else shard()
        return model

    def shard_from_rank0(self, model: nn.Module, shard: Callable[[], None]) -> None:
        """Shard a model that only rank 0 holds (``rank0_loading``).

        Rank 0 loaded the real weights; every other rank built the same model on the meta device
        (shapes, no storage: :func:`hybridrl.models.loading.meta_model_like`), so no rank but the
        first ever holds a full copy. ``shard()`` (``fully_shard``) runs on every rank — on meta
        parameters it only records shapes — then the other ranks allocate their shards
        (``to_empty``) and rank 0 broadcasts its full tensors one at a time, each rank keeping its
        shard (``set_model_state_dict(full_state_dict=True, broadcast_from_rank0=True)``, as
        torchtune and accelerate's ``cpu_ram_efficient_loading`` do). Buffers that are not in the
        state dict (RoPE's ``inv_freq``) are broadcast as well. Rank 0's peak: its full model (as
        before) plus its shard; the others': one shard plus one tensor in flight.
        """
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        full = model.state_dict() if self.main else {}  # references to rank 0's full tensors
        shard()
        if not self.main:
            model.to_empty(device=self.device)
        set_model_state_dict(model, full, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
        del full
        with torch.no_grad():
            for buf in model.buffers():
                dist.broadcast(buf, src=0)

    def _fully_shard(self, model: nn.Module, *, bf16: bool, reshard_after_forward: bool) -> None:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        kw: dict[str, Any] = {"reshard_after_forward": reshard_after_forward}
        if bf16:
            kw["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        for layer in decoder_layers(model):
            fully_shard(layer, **kw)
        # a LoRA (peft) model: the FSDP root is the transformers model inside the PeftModel. Its
        # generate() calls the inner model directly, so a root on the wrapper is bypassed there and
        # the layers initialise as roots of their own ("FSDP requires running forward through the
        # root module first" at the first training forward); every path runs the inner model
        root = model.get_base_model() if hasattr(model, "peft_config") and hasattr(model, "get_base_model") else model
        fully_shard(root, **kw)

    def unwrap(self, model: nn.Module) -> nn.Module:
        """The HF model inside the engine's wrapper (the same object under FSDP2 and none)."""
        return model.module if self.mode == "ddp" and hasattr(model, "module") else model

    # -- accumulation ------------------------------------------------------------------
    @contextlib.contextmanager
    def sync(self, model: nn.Module, enabled: bool) -> Iterator[None]:
        """Around one backward: gradients are reduced over ranks only when ``enabled`` (the last
        micro-batch); the others accumulate locally (DDP ``no_sync``, FSDP2
        ``set_requires_gradient_sync(False)``)."""
        if self.mode == "ddp" and not enabled and hasattr(model, "no_sync"):
            with model.no_sync():
                yield
            return
        if self.mode == "fsdp2":
            mods = _fsdp_modules(model)
            for m in mods:
                m.set_requires_gradient_sync(enabled, recurse=False)
            try:
                yield
            finally:
                for m in mods:
                    m.set_requires_gradient_sync(True, recurse=False)
            return
        yield

    def reduce_replicated(self, params: list[nn.Parameter]) -> None:
        """Sum the gradients of replicated parameters that no engine owns (learnable loss weights,
        the value head), once, after the last backward. A missing gradient counts as zero."""
        if not self.on or not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.detach().reshape(-1).to(torch.float64) for g in grads]).to(self.device)
        dist.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[offset: offset + n].view_as(p).to(device=p.device, dtype=p.dtype)
            offset += n

    def clip_grad_norm_(self, params: list[nn.Parameter], max_norm: float) -> float:
        """``torch.nn.utils.clip_grad_norm_`` over the whole (sharded) gradient; returns the norm
        before clipping. FSDP2 gradients are DTensors: the norm of each shard is combined over
        ranks by DTensor, and the result is made a plain number with ``full_tensor``."""
        total = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else float("inf"))
        if hasattr(total, "full_tensor"):
            total = total.full_tensor()
        return float(total)

    # -- full weights ------------------------------------------------------------------
    @contextlib.contextmanager
    def gathered(self, model: nn.Module) -> Iterator[nn.Module]:
        """Full weights for generation: yields the module to call ``generate`` on.

        FSDP2: every parameter group is all-gathered once and kept unsharded (``reshard_after_forward``
        off) until the block ends, so decoding runs no collective — ranks may stop at different
        lengths. Peak memory inside the block: one full copy of the weights (the compute dtype).
        """
        if self.mode != "fsdp2":
            yield self.unwrap(model)
            return
        mods = _fsdp_modules(model)
        for m in mods:
            m.set_reshard_after_forward(False, recurse=False)
        for m in mods:
            m.unshard()
        # HF generate sees torch's FSDP marker and would then all-reduce a "finished" flag after
        # every token (synced_gpus, for sharded decoding); with gathered weights nothing is sharded
        flag = model.__dict__.get("_is_fsdp_managed_module")
        model._is_fsdp_managed_module = False
        try:
            yield model
        finally:
            model._is_fsdp_managed_module = flag
            for m in mods:
                m.reshard()
                m.set_reshard_after_forward(self.reshard_after_forward, recurse=False)

    def full_state_dict(self, model: nn.Module, *, rank0_only: bool = False) -> dict[str, torch.Tensor]:
        """HF-named full tensors of ``model`` (every rank, or only rank 0 on CPU with ``rank0_only``;
        the others then get ``{}``). Every rank must call it (FSDP2 all-gathers each tensor)."""
        if self.mode != "fsdp2":
            if rank0_only and not self.main:
                return {}
            sd = self.unwrap(model).state_dict()
            return {k: v.detach().cpu() for k, v in sd.items()} if rank0_only else dict(sd)
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=rank0_only))

    def copy_weights(self, src: nn.Module, dst: nn.Module) -> None:
        """dst ← src for two models sharded alike (the SFT→RL reference reset)."""
        with torch.no_grad():
            s, d = self.unwrap(src).state_dict(), self.unwrap(dst).state_dict()
            for k, v in d.items():
                v.copy_(s[k])

    def export_hf(self, model: nn.Module, folder, tokenizer=None) -> None:
        """A consolidated HF folder (``from_pretrained`` loads it), written by rank 0."""
        sd = self.full_state_dict(model, rank0_only=True)
        if self.main:
            inner = self.unwrap(model)
            if hasattr(inner, "peft_config"):
                from peft import get_peft_model_state_dict

                # PEFT saves the adapter only: its keys without the ".default" adapter name
                sd = get_peft_model_state_dict(inner, state_dict=sd)
            inner.save_pretrained(folder, state_dict=sd, safe_serialization=True)
            if tokenizer is not None:
                tokenizer.save_pretrained(folder)
        self.barrier()


def padding_loss(model: nn.Module, pad_token_id: int, device: torch.device,
                 autocast: Callable[[], Any] = contextlib.nullcontext) -> torch.Tensor:
    """A zero-weight micro-batch: ``0 * Σ logits`` of a real 2-token forward.

    Its backward gives every trainable parameter an exactly-zero gradient (the logits are
    finite), so DDP's reducer and FSDP2's reduce-scatter see the same parameters on every rank,
    and FSDP2's all-gathers in forward and backward match a real micro-batch's.
    """
    ids = torch.full((1, 2), int(pad_token_id), dtype=torch.long, device=device)
    with autocast():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
    return out.logits.float().sum() * 0.0


def lockstep(par: Parallel, groups: list[list[Callable[[], Any]]], pad: Callable[[int], Any],
             sync_model: nn.Module | None = None) -> list[list[Any]]:
    """Run groups of passes so that every rank runs the same passes in the same order.

    ``groups`` lists, in an order every rank shares (e.g. the update's terms), this rank's passes
    (closures). Group ``g`` runs ``max over ranks of len(groups[g])`` passes: the local ones, then
    ``pad(g)`` for the missing ones. A pass of group g must run the same collectives on every rank
    (FSDP2: the same modules forward/backward), which the caller's pad mirrors. With
    ``sync_model`` the passes are backward passes: only the very last one over all groups
    synchronises gradients (:meth:`Parallel.sync`), and every rank runs it (a padding one if need
    be). Returns each group's local results.

    The counts are agreed up front (one all-reduce of a vector), because a rank cannot stop in
    the middle of another rank's forward to ask. DDP forward-only passes (no ``sync_model``) run no
    collective, so they are neither counted nor padded.
    """
    local = [len(g) for g in groups]
    engine = par.mode == "fsdp2" or (par.mode == "ddp" and sync_model is not None)
    counts = par.agree_each(local) if engine else local
    total, k = sum(counts), 0
    out: list[list[Any]] = []
    for gi, group in enumerate(groups):
        res = []
        for j in range(counts[gi]):
            last, k = k == total - 1, k + 1
            ctx = par.sync(sync_model, enabled=last) if sync_model is not None else contextlib.nullcontext()
            with ctx:
                if j < len(group):
                    res.append(group[j]())
                else:
                    pad(gi)
        out.append(res)
    return out


class RolloutCopy:
    """An unsharded copy of the policy for generation, refreshed after each optimizer step.

    The alternative to :meth:`Parallel.gathered`: it costs one more full copy of the weights for
    the whole run, and one all-gather per tensor per refresh (the same traffic as gathering).
    """

    def __init__(self, model: nn.Module):
        self.module = copy.deepcopy(model)  # before wrapping: a plain HF model
        for p in self.module.parameters():
            p.requires_grad_(False)

    def materialise(self, par: Parallel, model: nn.Module) -> None:
        """A copy taken from a meta model (``rank0_loading`` on ranks > 0): allocate it, take the
        buffers of the (already loaded) policy and its weights. Every rank calls it (a gather)."""
        if any(p.is_meta for p in self.module.parameters()):
            self.module.to_empty(device=par.device)
        with torch.no_grad():
            own = dict(self.module.named_buffers())
            for k, v in par.unwrap(model).named_buffers():
                if k in own:
                    own[k].copy_(v)
        self.refresh(par, model)

    def refresh(self, par: Parallel, model: nn.Module) -> nn.Module:
        sd = par.full_state_dict(model)
        with torch.no_grad():
            own = self.module.state_dict()
            for k, v in sd.items():
                own[k].copy_(v.to(own[k].device))
        return self.module
