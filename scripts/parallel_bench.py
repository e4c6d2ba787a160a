"""Step time and peak memory of the data-parallel modes (issue #13), self-contained.

Imports only torch, transformers and ``hybridrl/distributed/parallel.py`` (loaded by path, so the rest of
the package and its dependencies need not be installed: a bare GPU machine is enough). The model is
a randomly initialised Llama built in code; the data are random tokens; the loss is the token-mean
NLL, accumulated over micro-batches with gradient sync only on the last one, then gradient
clipping and fused AdamW — the update path of the training loop.

Modes (each in fresh processes, so peak memory is per mode):
  legacy  the old path: a plain model, all backward passes, then every gradient flattened into one
          fp32 buffer and all-reduced by hand (Dist.sum_grads before #13)
  none    one plain model, no engine (world 1 only)
  ddp     torch DDP through hybridrl.distributed.parallel
  fsdp2   fully_shard per decoder layer + root through hybridrl.distributed.parallel

  python scripts/parallel_bench.py --model tiny --modes legacy,ddp,fsdp2 --nproc 2 --out /tmp/b.json   # CPU
  python scripts/parallel_bench.py --model llama-0.5b --modes none,ddp,fsdp2 --nproc 1 --bf16 --out $OUT/gpu.json

Figures per mode and rank: mean step time of the steps after the first, peak memory
(``torch.cuda.max_memory_allocated`` on GPU; peak RSS on CPU, and the RSS before the model was
built), parameter count, and for fsdp2 the time to generate with gathered weights.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import socket
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[1]

MODELS = {
    # hidden, intermediate, layers, heads, kv heads, vocab, tied
    "tiny": (64, 128, 2, 4, 2, 128, False),
    # Qwen2.5-0.5B's shape as a Llama: 494M parameters
    "llama-0.5b": (896, 4864, 24, 14, 2, 151936, True),
    # Qwen2.5-1.5B's shape: 1.54B parameters
    "llama-1.5b": (1536, 8960, 28, 12, 2, 151936, True),
}


def load_parallel():
    spec = importlib.util.spec_from_file_location("hybridrl_parallel", ROOT / "hybridrl" / "distributed" / "parallel.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["hybridrl_parallel"] = mod
    spec.loader.exec_module(mod)
    return mod


def build_model(name: str, device: torch.device):
    if name == "smollm2":  # the packaged SmolLM2-135M (needs the hybridrl package, CPU here)
        sys.path.insert(0, str(ROOT))
        from hybridrl.models.loading import load_model_and_tokenizer

        return load_model_and_tokenizer("smollm2-135m", seed=0)[0].to(device)
    from transformers import LlamaConfig, LlamaForCausalLM

    h, i, n, heads, kv, vocab, tied = MODELS[name]
    cfg = LlamaConfig(hidden_size=h, intermediate_size=i, num_hidden_layers=n, num_attention_heads=heads,
                      num_key_value_heads=kv, vocab_size=vocab, tie_word_embeddings=tied,
                      max_position_embeddings=4096, pad_token_id=0)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(cfg)
    return model.float()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KB


def _status_mb(field: str) -> float:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) so the training phase is measured alone, not the
    model load's transients; returns the RSS now."""
    import gc

    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status_mb("VmRSS")


def legacy_sum_grads(params) -> None:
    """The pre-#13 collective (copied here to time it): one flat fp32 copy, all-reduced."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset: offset + n].view_as(p).to(p.dtype)
        offset += n


def worker(rank: int, world: int, port: int, args, mode: str, out_path: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    cuda = torch.cuda.is_available()
    if not cuda:
        torch.set_num_threads(args.threads)
    P = load_parallel()
    rec: dict = {"mode": mode, "rank": rank, "world": world, "model": args.model, "device": "cuda" if cuda else "cpu"}
    try:
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
        device = torch.device("cuda", rank) if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(device)
        par = P.Parallel(mode="none" if mode == "legacy" else mode, rank=rank, world=world, device=device)
        rec["rss_before_model_mb"] = rss_mb()
        model = build_model(args.model, device)
        rec["params"] = sum(p.numel() for p in model.parameters())
        model.config.use_cache = False
        if args.gen_tokens and mode == "fsdp2":
            import copy as _copy

            model_copy = _copy.deepcopy(model)  # before sharding, for the RolloutCopy measurement
        wrapped = par.wrap(model, bf16=args.bf16) if mode in ("ddp", "fsdp2") else model
        params = [p for p in wrapped.parameters() if p.requires_grad]
        if not cuda:
            rec["rss_after_wrap_mb"] = reset_peak_rss()
        opt = torch.optim.AdamW(params, lr=1e-5, fused=True)
        g = torch.Generator().manual_seed(1234 + rank)
        vocab = model.config.vocab_size
        autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if args.bf16 and mode != "fsdp2" \
            else __import__("contextlib").nullcontext
        n_micro = args.batch // args.micro
        times = []
        for step in range(args.steps):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            for k in range(n_micro):
                ids = torch.randint(1, vocab, (args.micro, args.seq), generator=g).to(device)
                with par.sync(wrapped, enabled=(k == n_micro - 1)):
                    with autocast():
                        out = wrapped(input_ids=ids, use_cache=False)
                    logits = out.logits[:, :-1].float()
                    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
                    (loss / n_micro).backward()
                    del out, logits, loss
            if mode == "legacy" and world > 1:
                legacy_sum_grads(params)
            gn = par.clip_grad_norm_(params, 1.0)
            opt.step()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            rec["grad_norm"] = gn
        rec["step_times_s"] = times
        rec["step_time_s"] = sum(times[1:]) / max(1, len(times) - 1)
        rec["tokens_per_step"] = args.batch * args.seq * world
        if args.gen_tokens:
            prompt = torch.randint(1, vocab, (args.micro, 32), generator=g).to(device)
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            with torch.no_grad(), par.gathered(wrapped) as gen:
                with autocast():
                    gen.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=args.gen_tokens,
                                 min_new_tokens=args.gen_tokens, do_sample=True, pad_token_id=0)
            if cuda:
                torch.cuda.synchronize()
            rec["generate_s"] = time.perf_counter() - t0
            rec["generate_tokens"] = args.micro * args.gen_tokens
            if mode == "fsdp2":
                # the alternative: an unsharded copy, refreshed from the shards, generating on its own
                copy = P.RolloutCopy(model_copy)
                t0 = time.perf_counter()
                gen = copy.refresh(par, wrapped)
                rec["copy_refresh_s"] = time.perf_counter() - t0
                with torch.no_grad(), autocast():
                    gen.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=args.gen_tokens,
                                 min_new_tokens=args.gen_tokens, do_sample=True, pad_token_id=0)
                if cuda:
                    torch.cuda.synchronize()
                rec["copy_generate_s"] = time.perf_counter() - t0
                rec["copy_extra_mb"] = sum(p.numel() * p.element_size() for p in copy.module.parameters()) / 2**20
        if cuda:
            rec["peak_allocated_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
            rec["peak_reserved_gb"] = torch.cuda.max_memory_reserved(device) / 2**30
        rec["peak_rss_mb"] = rss_mb()
        if not cuda:
            rec["train_peak_rss_mb"] = _status_mb("VmHWM")  # peak since the reset after wrapping
    except Exception:
        rec["error"] = traceback.format_exc()[-3000:]
    with open(out_path.format(rank), "w") as f:
        json.dump(rec, f)
    if dist.is_initialized():
        dist.destroy_process_group()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny", choices=[*MODELS, "smollm2"])
    ap.add_argument("--modes", default="legacy,ddp,fsdp2")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=4, help="sequences per rank per step")
    ap.add_argument("--micro", type=int, default=2, help="sequences per micro-batch")
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--gen-tokens", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    import tempfile

    import torch.multiprocessing as mp

    results = []
    tmp = tempfile.mkdtemp()
    for mode in args.modes.split(","):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        paths = [os.path.join(tmp, f"{mode}-{r}.json") for r in range(args.nproc)]
        t0 = time.time()
        try:
            mp.spawn(worker, args=(args.nproc, port, args, mode, os.path.join(tmp, mode + "-{}.json")),
                     nprocs=args.nproc, join=True)
        except Exception as e:  # a crashed rank: keep what the others wrote
            results.append({"mode": mode, "error": repr(e)})
        for p in paths:
            if os.path.exists(p):
                results.append(json.load(open(p)))
        print(f"{mode}: {time.time() - t0:.1f}s wall", flush=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    for r in results:
        keys = ("mode", "rank", "params", "step_time_s", "peak_allocated_gb", "peak_rss_mb", "rss_before_model_mb",
                "rss_after_wrap_mb", "train_peak_rss_mb",
                "generate_s", "copy_generate_s", "copy_refresh_s", "error")
        print({k: r.get(k) for k in keys if k in r}, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
