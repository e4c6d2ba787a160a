"""Per-rank peak host memory of an FSDP2 run's set-up, with and without ``rank0_loading`` (#28 item 7).

Launches ``accelerate launch`` with 2 CPU processes (gloo, examples/accelerate/cpu_fsdp2_2proc.yaml)
twice: ``rank0_loading=false`` (every rank loads the whole fp32 model, then shards it) and
``rank0_loading=true`` (rank 0 loads; rank 1 builds the model on the meta device and receives its
shards by broadcast). Each rank builds the real trainer (``hybridrl.training.loop.trainer.Trainer``: data,
policy, KL reference (``beta`` > 0), AdamW, HF rollout engine) and reports its peak RSS
(``VmHWM``) and RSS at the end of the set-up, its RSS before the model was loaded (imports, data),
and a checksum of the full weights and reference (both settings must load the same weights).

    .venv/bin/python benchmarks/rank_rss.py --model smollm2-135m --out benchmarks/results/rank_rss.json

Memory does not depend on CPU load, so the figures hold on a busy machine (unlike timings).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples/accelerate/cpu_fsdp2_2proc.yaml"


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def worker(args) -> None:
    """One rank: the trainer's set-up, then its memory and a checksum of the weights."""
    import torch

    from hybridrl.config import TrainConfig
    from hybridrl.training.loop.trainer import Trainer
    from hybridrl.training.loop import setup as setup_mod

    before = {}
    real = setup_mod.setup_model

    def spy(*a, **k):  # RSS just before the model is loaded (imports and data done)
        before["rss_kib"] = _status_kib("VmRSS")
        return real(*a, **k)

    import hybridrl.training.loop.trainer as loop_mod

    loop_mod.setup_model = spy
    cfg = TrainConfig(method="grpo", model=args.model, task="chain_sum", steps=1, train_size=16, eval_size=0,
                      prompts_per_step=2, group_size=2, max_new_tokens=8, beta=0.1, bf16=False,
                      rollout_engine="hf", progress=False, output_dir=args.run_dir,
                      rank0_loading=args.rank0_loading == "true")
    t = Trainer(cfg)
    peak, after = _status_kib("VmHWM"), _status_kib("VmRSS")  # before the checksum's gathers below
    full = t.dist.full_state_dict(t.model)
    ref = t.dist.full_state_dict(t.ref_model)
    checksum = float(sum(v.double().abs().sum() for v in full.values()))
    ref_checksum = float(sum(v.double().abs().sum() for v in ref.values()))
    rank = t.dist.rank
    out = {"rank": rank, "rank0_loading": cfg.rank0_loading, "peak_rss_mib": peak / 1024,
           "rss_before_load_mib": before.get("rss_kib", 0) / 1024, "rss_after_setup_mib": after / 1024,
           "weights_checksum": checksum, "ref_checksum": ref_checksum,
           "params": int(sum(v.numel() for v in full.values())), "torch": torch.__version__}
    Path(args.result).with_suffix(f".rank{rank}.json").write_text(json.dumps(out))


def launch(model: str, rank0_loading: bool, tmp: Path, threads: int) -> list[dict]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tag = "on" if rank0_loading else "off"
    result = tmp / f"rss-{tag}"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG),
           "--main_process_port", str(port), __file__, "--worker", "--model", model,
           "--rank0-loading", "true" if rank0_loading else "false", "--result", str(result),
           "--run-dir", str(tmp / f"run-{tag}")]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if r.returncode != 0:
        sys.exit(f"rank_rss: the {tag} launch failed:\n{r.stderr[-3000:]}")
    return [json.loads(result.with_suffix(f".rank{k}.json").read_text()) for k in range(2)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--out", default=None, help="JSON file for the results")
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads per rank")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rank0-loading", default="true", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory(prefix="hybridrl-rss-") as d:
        runs = {"off": launch(args.model, False, Path(d), args.threads),
                "on": launch(args.model, True, Path(d), args.threads)}
    same = all(runs["off"][0][k] == runs["on"][0][k] for k in ("weights_checksum", "ref_checksum"))
    print(f"{'rank0_loading':>13} {'rank':>4} {'peak RSS MiB':>12} {'before load':>11} {'after set-up':>12}")
    for tag, ranks in runs.items():
        for r in ranks:
            print(f"{tag:>13} {r['rank']:>4} {r['peak_rss_mib']:>12.0f} {r['rss_before_load_mib']:>11.0f} "
                  f"{r['rss_after_setup_mib']:>12.0f}")
    print(f"same weights and reference (checksums) with and without: {same}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({
            "command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": {
                "cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()},
            "model": args.model, "world": 2, "engine": "fsdp2 (gloo, CPU)", "runs": runs, "same_weights": same},
            indent=1) + "\n")
    if not same:
        sys.exit(1)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
