"""Decode speed per rollout precision and engine against the machine's memory-bandwidth bound.

Decoding reads every weight once per new token (per decode step, whatever the batch), so on a
CPU its ceiling is ``batch x bandwidth / bytes of weights read per step``. This script measures

1. the memory bandwidth PyTorch reaches here: ``sum`` of a 1 GiB fp32 tensor (read only) and
   ``copy_`` into another (read + write), best of ``--repeat``, with the threads given;
2. the bytes each precision reads per decode step: every ``Linear`` weight (the LM head included;
   SmolLM2 ties it to the embedding, whose other reads are one row per token) at that precision;
3. decode tok/s: HF ``generate`` on the rollout copy hybridrl samples from
   (:class:`hybridrl.rollout.precision.RolloutWeights`: fp32 = the training weights, bf16, int8),
   and a vLLM engine (fp32, bf16) where vLLM imports; ``--batch`` sequences of ``--tokens`` new
   tokens each (EOS suppressed until then), sampled at T = 1, best of ``--repeat`` after a warm-up.

Prints one table (tok/s, the bound, the share of the bound reached) and writes JSON.

    OMP_NUM_THREADS=2 .venv-vllm/bin/python benchmarks/decode_speed.py --out benchmarks/results/decode_speed.json

A measurement of the machine: run it when nothing else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path


def bandwidth_gbs(repeat: int, gib: float = 1.0) -> dict:
    """GB/s (1e9 bytes) for a read-only reduction and for a copy (bytes read + written)."""
    import torch

    n = int(gib * 2**30 / 4)
    x, y = torch.ones(n), torch.empty(n)
    y.copy_(x)
    x.sum()
    best_sum = best_copy = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        x.sum()
        best_sum = min(best_sum, time.perf_counter() - t0)
        t0 = time.perf_counter()
        y.copy_(x)
        best_copy = min(best_copy, time.perf_counter() - t0)
    nbytes = n * 4
    return {"read_gbs": nbytes / best_sum / 1e9, "copy_gbs": 2 * nbytes / best_copy / 1e9}


def linear_bytes(module) -> int:
    """Bytes of every Linear weight of ``module`` as stored (float, or int8 with its scales)."""
    from torch import nn

    from hybridrl.rollout.precision import Int8Linear

    total = 0
    for m in module.modules():
        if isinstance(m, nn.Linear):
            total += m.weight.numel() * m.weight.element_size()
        elif isinstance(m, Int8Linear):
            total += m.qweight.numel() + m.scales.numel() * m.scales.element_size()
    return total


def hf_decode(model, tokenizer, prompt: str, batch: int, tokens: int, repeat: int) -> float:
    """Best seconds for ``batch`` sampled sequences of exactly ``tokens`` new tokens."""
    import torch

    enc = tokenizer([prompt] * batch, return_tensors="pt", padding=True)
    kw = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        model.generate(**enc, max_new_tokens=8, min_new_tokens=8, **kw)  # warm-up
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = model.generate(**enc, max_new_tokens=tokens, min_new_tokens=tokens, **kw)
            best = min(best, time.perf_counter() - t0)
    assert out.shape[1] - enc["input_ids"].shape[1] == tokens
    return best


def vllm_decode(model_dir: str, dtype: str, prompt: str, batch: int, tokens: int, repeat: int) -> tuple[float, float]:
    """(best seconds, engine start seconds) for one prompt with n = ``batch`` samples."""
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM, SamplingParams

    t0 = time.perf_counter()
    llm = LLM(model=model_dir, dtype=dtype, enforce_eager=True, max_model_len=512, seed=0)
    start = time.perf_counter() - t0
    sp = SamplingParams(n=batch, temperature=1.0, max_tokens=tokens, min_tokens=tokens, ignore_eos=True)
    llm.generate([prompt], SamplingParams(n=batch, max_tokens=8, min_tokens=8, ignore_eos=True), use_tqdm=False)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = llm.generate([prompt], sp, use_tqdm=False)
        best = min(best, time.perf_counter() - t0)
    assert all(len(o.token_ids) == tokens for o in out[0].outputs)
    del llm
    return best, start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dtypes", default="fp32,bf16,int8", help="HF rollout precisions")
    ap.add_argument("--vllm", default="float32,bfloat16", help="vLLM engine dtypes ('' to skip)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch

    from hybridrl.models.loading import _source, load_model_and_tokenizer
    from hybridrl.rollout.machine import native_bf16
    from hybridrl.rollout.precision import RolloutWeights

    bw = bandwidth_gbs(max(3, args.repeat))
    print(f"memory bandwidth: read {bw['read_gbs']:.1f} GB/s, copy {bw['copy_gbs']:.1f} GB/s "
          f"({torch.get_num_threads()} threads)", flush=True)
    model, tok = load_model_and_tokenizer(args.model)
    model.eval()
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is 3 + 4? Answer with a number."}],
                                     tokenize=False, add_generation_prompt=True)
    rows = []

    def add(engine: str, precision: str, nbytes: int, seconds: float, extra: dict | None = None) -> None:
        tps = args.batch * args.tokens / seconds
        bound = args.batch * bw["read_gbs"] * 1e9 / nbytes
        rows.append({"engine": engine, "precision": precision, "weight_bytes_per_step": nbytes, "seconds": seconds,
                     "tokens_per_s": tps, "bound_tokens_per_s": bound, "share_of_bound": tps / bound, **(extra or {})})
        print(f"{engine:5s} {precision:9s} {tps:7.1f} tok/s  bound {bound:7.1f}  ({100 * tps / bound:.0f}%)", flush=True)

    for dt in [d for d in args.dtypes.split(",") if d]:
        gen, t_refresh = model, None
        if dt != "fp32":
            rw = RolloutWeights(model, dt)
            rw.refresh(model)
            t_refresh = rw.last_refresh_s
            gen = rw.module
        add("hf", dt, linear_bytes(gen), hf_decode(gen, tok, prompt, args.batch, args.tokens, args.repeat),
            {"refresh_s": t_refresh})
        del gen
    if args.vllm:
        try:
            import vllm  # noqa: F401
        except ImportError:
            print("vLLM not importable here: vLLM rows skipped")
        else:
            src = _source(args.model, None)
            for dt in args.vllm.split(","):
                secs, start = vllm_decode(src, dt, prompt, args.batch, args.tokens, args.repeat)
                nbytes = linear_bytes(model) // (1 if dt == "float32" else 2)
                add("vllm", dt, nbytes, secs, {"engine_start_s": start})
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    result = {"machine": {"processor": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "threads": torch.get_num_threads(), "native_bf16": native_bf16(),
                          "avx512_vnni": "avx512_vnni" in flags, "avx512f": "avx512f" in flags},
              "batch": args.batch, "tokens": args.tokens, "bandwidth": bw, "rows": rows,
              "load_avg_after": os.getloadavg()}
    print("\n| engine | precision | weight MB read per step | tok/s | bound tok/s | share of bound |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['engine']} | {r['precision']} | {r['weight_bytes_per_step'] / 1e6:.0f} | {r['tokens_per_s']:.1f} | "
              f"{r['bound_tokens_per_s']:.0f} | {100 * r['share_of_bound']:.0f}% |")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
