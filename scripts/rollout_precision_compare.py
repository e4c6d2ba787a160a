"""Does GRPO learn the same from lower-precision rollouts? Study v2's dense seed 0 GRPO run (fp32
training; the committed run sampled its rollouts with vLLM in fp32) against the same run sampling
from an int8 copy of the weights (HF engine), and the first, dynamic-int8 attempt.

Reads the raw run folders (metrics.jsonl) and final evaluations (evals/<name>.json) and prints a
markdown page: training reward per 10 steps, held-out and OOD greedy accuracy with 95% CIs, the
paired difference against the fp32 run [95% paired bootstrap CI over questions], the sampler /
trainer log-prob mismatch and the step time; writes a reward-curve figure.

    python scripts/rollout_precision_compare.py --out docs/results/rollout_precision
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hybridrl.report.runs import read_jsonl  # noqa: E402
from scripts.study_v2_tables import bootstrap, paired as paired_diff  # noqa: E402  (the study tables' CIs)
RUNS = {  # label -> (run folder, eval json)
    "fp32 (vLLM fp32 sampler, committed v2 run)": ("docs/results/v2/raw/dense-s0/grpo", "docs/results/v2/raw/dense-s0/evals/grpo.json"),
    "int8 weight-only (HF)": ("docs/results/v2/raw-new/dense-s0/grpo_int8", "docs/results/v2/raw-new/dense-s0/evals/grpo_int8.json"),
    "int8 dynamic (HF, first attempt)": ("docs/results/v2/raw-new/dense-s0/grpo_int8_dynamic",
                                         "docs/results/v2/raw-new/dense-s0/evals/grpo_int8_dynamic.json"),
}
BASE = "docs/results/v2/raw/dense-s0/evals/base.json"


def correct(eval_json: Path, name: str) -> dict[str, float]:
    rows = json.loads(eval_json.read_text())["sets"][name]["rows"]
    return {r["id"]: float(r["greedy_correct"]) for r in rows}


def pct(v: float) -> str:
    return f"{100 * v:.1f}"


def acc(c: dict[str, float]) -> str:
    v = list(c.values())
    lo, hi = bootstrap(v)
    return f"{pct(sum(v) / len(v))} [{pct(lo)}, {pct(hi)}]"


def paired(a: dict[str, float], b: dict[str, float]) -> str:
    m, lo, hi = paired_diff(dict(sorted(a.items())), b)
    return f"{100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="docs/results/rollout_precision")
    a = ap.parse_args()
    out = ROOT / a.out
    out.mkdir(parents=True, exist_ok=True)
    have = {k: (ROOT / f, ROOT / e) for k, (f, e) in RUNS.items() if (ROOT / e).exists()}
    ref_label = next(iter(RUNS))
    sets = list(json.loads((ROOT / RUNS[ref_label][1]).read_text())["sets"])
    lines = ["| run | train reward % steps 1–10 / 11–20 / 21–30 / 31–40 | "
             + " | ".join(f"{s} greedy % [95% CI] | − fp32 [paired CI]" for s in sets)
             + " | mean / max abs(Δ log p) sampler vs trainer | median step s |",
             "|---|---|" + "---|---|" * len(sets) + "---|---|"]
    base = {s: correct(ROOT / BASE, s) for s in sets}
    lines.append("| base model | – | " + " | ".join(f"{acc(base[s])} | –" for s in sets) + " | – | – |")
    curves = {}
    for label, (folder, ev) in have.items():
        recs = read_jsonl(folder / "metrics.jsonl")
        rw = [r["reward"] for r in recs if r.get("reward") is not None]
        curves[label] = rw
        win = " / ".join(pct(statistics.mean(rw[i:i + 10])) for i in range(0, len(rw), 10))
        cells = []
        for s in sets:
            c = correct(ev, s)
            cells.append(f"{acc(c)} | " + ("–" if label == ref_label else paired(c, correct(have[ref_label][1], s))))
        dm = [r["pg/rollout_logprob_diff_mean"] for r in recs if r.get("pg/rollout_logprob_diff_mean") is not None]
        dx = [r["pg/rollout_logprob_diff_max"] for r in recs if r.get("pg/rollout_logprob_diff_max") is not None]
        mism = f"{statistics.mean(dm):.3g} / {max(dx):.3g}" if dm else "–"
        step = statistics.median(r["step_time"] for r in recs if r.get("step_time"))
        lines.append(f"| {label} | {win} | " + " | ".join(cells) + f" | {mism} | {step:.1f} |")
    table = "\n".join(lines)
    print(table)
    (out / "table.md").write_text(table + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for label, rw in curves.items():
            smooth = [statistics.mean(rw[max(0, i - 4): i + 1]) for i in range(len(rw))]
            ax.plot(range(1, len(rw) + 1), [100 * v for v in smooth], label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("training reward % (mean of the last 5 steps)")
        ax.set_title("GRPO, dense chain_sum:1, seed 0: rollouts at each precision")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "reward.png", dpi=110)
    except ImportError:
        print("(matplotlib missing: no figure)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
