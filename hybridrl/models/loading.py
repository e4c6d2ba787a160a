"""Resolve a MODEL name (docs/design.md §5) into a model and a generation-ready tokenizer.

MODEL is one of: ``tiny`` (random, built in code), ``smollm2-135m`` (the packaged real model,
converted once from GGUF), a local HF folder, or a hub id (needs network access).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch

TINY_NAMES = {"tiny"}
SMOLLM2_NAMES = {"smollm2-135m", "smollm2-135m-instruct", "smollm2"}


def load_model_and_tokenizer(
    name: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` for ``name``.

    ``dtype`` is the parameter dtype (keep float32 for training on CPU; use bf16 autocast for
    speed). ``cache_dir`` is the hybridrl cache root (SmolLM2 conversion). ``seed`` only matters
    for ``tiny`` (its random init). The tokenizer pads on the left (for generation) and always
    has a pad token (eos when the checkpoint has none); the model is in train mode.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if str(name).lower() in TINY_NAMES:
        from hybridrl.models.tiny import build_tiny_model, build_tiny_tokenizer

        tokenizer = build_tiny_tokenizer()
        model = build_tiny_model(tokenizer, seed=seed).to(dtype)
        return _finish(model, tokenizer)

    source = _source(name, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    return _finish(model, tokenizer)


def load_tokenizer(name: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None) -> Any:
    """The tokenizer :func:`load_model_and_tokenizer` would return, without the model."""
    if str(name).lower() in TINY_NAMES:
        from hybridrl.models.tiny import build_tiny_tokenizer

        return _finish_tokenizer(build_tiny_tokenizer())
    from transformers import AutoTokenizer

    return _finish_tokenizer(AutoTokenizer.from_pretrained(_source(name, cache_dir)))


def meta_model_like(config: Any, generation_config: Any, tokenizer: Any) -> Any:
    """An empty copy of a model on the meta device: same class, config and generation config as
    the model :func:`load_model_and_tokenizer` loaded elsewhere (another rank), parameters with
    shapes and dtypes but no storage. FSDP2 shards it, then fills it from rank 0's weights
    (:meth:`hybridrl.distributed.parallel.Parallel.wrap` with ``from_rank0``)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(config, "dtype", None) or torch.float32)
    if generation_config is not None:
        model.generation_config = copy.deepcopy(generation_config)
    return _finish(model, tokenizer)[0]


def _source(name: str | os.PathLike, cache_dir: str | os.PathLike | None) -> str:
    """The folder (or hub id) a non-tiny MODEL name loads from."""
    key = str(name)
    if key.lower() in SMOLLM2_NAMES:
        from hybridrl.models.smollm2 import smollm2_folder

        return str(smollm2_folder(cache_dir))
    if Path(key).expanduser().is_dir():
        return str(Path(key).expanduser())
    if _looks_like_path(key):
        raise FileNotFoundError(f"model folder {key!r} does not exist")
    if not _in_hub_cache(key):  # a hub id
        _require_hub(key)
    return key


def load_reference_copy(model: Any) -> Any:
    """A frozen copy of ``model`` for KL-to-reference: eval mode, no gradients, same device/dtype.

    Take it *before* training starts (or after SFT, for SFT→RL: the reference is the SFT model).
    """
    ref = copy.deepcopy(model)
    ref.eval()
    ref.requires_grad_(False)
    return ref


def _finish_tokenizer(tokenizer: Any) -> Any:
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _finish(model: Any, tokenizer: Any) -> tuple[Any, Any]:
    _finish_tokenizer(tokenizer)
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.train()
    return model, tokenizer


def _in_hub_cache(repo_id: str) -> bool:
    """True if the hub model's config is already in the local HF cache (works offline)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id
        return False


def _require_hub(repo_id: str, timeout: float = 3.0) -> None:
    """Fail fast (instead of minutes of HTTP retries) when the hub cannot be reached."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    why = None
    if constants.HF_HUB_OFFLINE:
        why = "HF_HUB_OFFLINE is set"
    else:
        host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
        except OSError as err:
            why = f"{host} is unreachable ({err})"
    if why:
        raise OSError(
            f"cannot load model {repo_id!r}: it is not 'tiny', not 'smollm2-135m', not a local "
            f"folder, and the Hugging Face hub cannot be used: {why}. Download the model where "
            f"there is network and pass its folder."
        )


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name and name.count("/") != 1
