"""Evaluation speed: greedy answers to N questions with HF generate (today's ``hybridrl eval``: batches
of 16) vs the vLLM engine (all questions in one call), side by side in one process; and the
sampling log-prob mismatch of vLLM against our training forward, fp32 and bf16.

    make install-vllm
    OMP_NUM_THREADS=1 .venv-vllm/bin/python benchmarks/eval_speed.py --questions 200 --tokens 64 \\
        --variants float32:0.5,float32:2,bfloat16:2 --out benchmarks/results/eval_speed_q200.json

Same model (packaged SmolLM2-135M-Instruct), same prompts (chain_sum, chat template), greedy, no
EOS suppression (answers stop where the model stops, as in a real evaluation). Reports seconds,
completion tokens/s, accuracy and how many greedy answers are token-for-token identical across the
two engines. ``--variants`` times several vLLM engines in turn (dtype, KV-cache GiB, max_num_seqs,
chunked prefill). The mismatch part (on unless ``--no-mismatch``) then samples
``--mismatch-prompts`` x 8 completions x 64 tokens at T=1 with vLLM fp32 and vLLM bf16 and compares
their log-probs with ``sequence_logprobs``, in fp32 and under bf16 autocast (the training forward of
a bf16=false / bf16=true run): mean and max |Δ log p| over the sampled tokens.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--hf-batch", type=int, default=16, help="HF generate batch (hybridrl eval's default)")
    ap.add_argument("--variants", default="float32:0.5",
                    help="vLLM engines to time, comma-separated DTYPE:KV_GIB[:MAX_NUM_SEQS[:chunked|nochunk]] "
                         "(e.g. float32:0.5,float32:2,bfloat16:2:256); the first is the one compared answer by answer")
    ap.add_argument("--no-mismatch", action="store_true")
    ap.add_argument("--mismatch-prompts", type=int, default=4)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    import torch

    from hybridrl.data.tasks import build_task
    from hybridrl.data.templates import format_prompt
    from hybridrl.models.loading import load_model_and_tokenizer
    from hybridrl.rewards.scoring import score_completions
    from hybridrl.rollout.correction import logprob_mismatch
    from hybridrl.rollout.generator import HFGenerator
    from hybridrl.rollout.logprobs import sequence_logprobs
    from hybridrl.rollout.types import SamplingParams
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    model, tok = load_model_and_tokenizer("smollm2-135m")
    model.eval()
    rows = build_task("chain_sum", size=a.questions, seed=0, split="test")
    prompts = [tok(format_prompt(r, "chat", tok), add_special_tokens=False)["input_ids"] for r in rows]
    greedy = SamplingParams(n=1, max_new_tokens=a.tokens, greedy=True, return_logprobs=False)
    res: dict = {"model": "SmolLM2-135M-Instruct", "questions": a.questions, "max_new_tokens": a.tokens,
                 "threads": torch.get_num_threads(), "load_avg_start": os.getloadavg()}

    def run(name, gen, batch):
        t0 = time.perf_counter()
        texts, ids = [], []
        for i in range(0, len(prompts), batch):
            out = gen.generate(prompts[i:i + batch], greedy)
            texts += out.texts
            ids += [row[m > 0].tolist() for row, m in zip(out.completion_ids, out.completion_mask)]
        seconds = time.perf_counter() - t0
        results, _ = score_completions(texts, rows, timeout_s=2.0)
        tokens = sum(len(x) for x in ids)
        r = {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
             "accuracy": sum(bool(x.correct) for x in results) / len(rows)}
        print(f"{name}: {seconds:.1f} s for {len(rows)} questions, {tokens} tokens, {r['tokens_per_s']:.0f} tok/s, "
              f"accuracy {r['accuracy']:.3f}", flush=True)
        return r, ids

    res["hf"], hf_ids = run(f"HF generate (batch {a.hf_batch})", HFGenerator(model, tok), a.hf_batch)
    res["vllm_variants"] = {}
    vgen = None
    for k, variant in enumerate(a.variants.split(",")):
        dtype, kv, *rest = variant.split(":")
        extra: dict = {}
        if rest and rest[0]:
            extra["max_num_seqs"] = int(rest[0])
        if len(rest) > 1:
            extra["enable_chunked_prefill"] = rest[1] == "chunked"
        if vgen is not None:
            vgen.close()
            del vgen
            gc.collect()
        t0 = time.perf_counter()
        vgen = VLLMGenerator(model, tok, dtype=dtype, kv_cache_gib=float(kv), **extra)
        start_s = time.perf_counter() - t0
        print(f"vLLM {variant} engine start: {start_s:.1f} s", flush=True)
        r, ids = run(f"vLLM {variant} (one call)", vgen, len(prompts))
        r.update(start_s=start_s, speedup_over_hf=res["hf"]["seconds"] / r["seconds"],
                 speedup_incl_start=res["hf"]["seconds"] / (r["seconds"] + start_s),
                 identical_greedy_answers=sum(x == y for x, y in zip(hf_ids, ids)) / len(rows),
                 load_avg_after=os.getloadavg())
        res["vllm_variants"][variant] = r
        print(f"  {variant}: speed-up {r['speedup_over_hf']:.2f}x ({r['speedup_incl_start']:.2f}x counting the "
              f"engine start); identical greedy answers {r['identical_greedy_answers']:.3f}; load "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        if k == 0:  # the summary keys of earlier versions of this file
            res.update(vllm=r, vllm_start_s=start_s, speedup_vllm_over_hf=r["speedup_over_hf"],
                       speedup_incl_start=r["speedup_incl_start"],
                       identical_greedy_answers=r["identical_greedy_answers"])
        if a.out:
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            Path(a.out).write_text(json.dumps(res, indent=2))

    if not a.no_mismatch:
        sample = SamplingParams(n=8, max_new_tokens=64, temperature=1.0, seed=0)
        sub = prompts[: a.mismatch_prompts]
        res["mismatch"] = {}
        # the engine still loaded first: one engine start fewer
        for dtype in sorted(("float32", "bfloat16"), key=lambda d: vgen is None or vgen.dtype != d):
            if vgen is None or vgen.dtype != dtype:
                if vgen is not None:
                    vgen.close()
                    del vgen
                    gc.collect()
                vgen = VLLMGenerator(model, tok, dtype=dtype, kv_cache_gib=0.5)
            vgen.on_policy_updated(model)
            batch = vgen.generate(sub, sample)
            # the training forward of a bf16=false run (fp32) and of a bf16=true run (bf16 autocast)
            for forward in ("fp32", "bf16_autocast"):
                with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=forward != "fp32"):
                    ref = sequence_logprobs(model, batch.prompt_ids, batch.prompt_index, batch.completion_ids,
                                            batch.completion_mask)["logprobs"]
                m = logprob_mismatch(ref, batch.logprobs, batch.completion_mask)
                res["mismatch"][f"vllm_{dtype}_vs_{forward}_forward"] = m
                print(f"log-prob mismatch vLLM {dtype} vs our {forward} forward: mean |Δ| {m['mean']:.2e}, "
                      f"max |Δ| {m['max']:.2e} over {int(m['tokens'])} tokens", flush=True)
            res["load_avg_after_mismatch"] = os.getloadavg()
    res["load_avg_end"] = os.getloadavg()
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=2))
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
