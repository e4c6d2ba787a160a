"""Markdown table of ``step_time.py`` results (one or more JSON files, e.g. the hybridrl and the TRL
halves of one session): seconds per step, generate/update split, tokens/s, set-up, peak RSS and the
1-minute load average before -> after each side, and each side's step time over TRL's default
(the fp32 ``trl`` side of the same P x G x L, when one of the files has it).

    python benchmarks/table.py benchmarks/results/step_time_fp32_side_by_side.json \\
        benchmarks/results/step_time_fp32_trl_vllm.json > benchmarks/results/step_time_table.md
"""

from __future__ import annotations

import json
import sys

LABEL = {"hf": "hybridrl + HF generate", "vllm": "hybridrl + vLLM (colocated)",
         "hf_after_vllm": "hybridrl + HF, after vLLM was loaded in the process",
         "trl": "TRL 1.16 GRPOTrainer (default: HF generate)",
         "trl_vllm": "TRL 1.16, use_vllm=True, vllm_mode=colocate (as shipped)",
         "trl_vllm_patched": "TRL 1.16 colocate, weight sync replaced by vLLM reload_weights",
         "hf_bf16": "hybridrl + HF generate, bf16 rollout copy", "hf_int8": "hybridrl + HF generate, int8 rollout copy"}


def trl_default(files: list[str]) -> dict[str, float]:
    """P x G x L -> TRL's default (fp32) s/step among ``files``."""
    out = {}
    for f in files:
        d = json.load(open(f))
        for key, r in d["runs"].items():
            name, p = key.split("/")
            if name == "trl" and not d["bf16"] and "step_s" in r:
                out[f"{p[1:]} x {d['group']} x {d['length']}"] = r["step_s"]
    return out


def rows(files: list[str]) -> list[str]:
    out = ["| P x G x L | dtype | side | s/step | / TRL default | generate s | update s | sync s | tok/s | set-up s "
           "| peak RSS GiB | load 1-min before -> after |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ref = trl_default(files)
    for f in files:
        d = json.load(open(f))
        dtype = "bf16" if d["bf16"] else "fp32"
        for key, r in d["runs"].items():
            name, p = key.split("/")
            shape = f"{p[1:]} x {d['group']} x {d['length']}"
            if "error" in r:
                out.append(f"| {shape} | {dtype} | {LABEL.get(name, name)} | fails: `{r['error'][:90]}` "
                           "| | | | | | | | |")
                continue
            b = r.get("breakdown_s", {})
            fmt = lambda k: f"{b[k]:.1f}" if k in b else ""  # noqa: E731
            load = r.get("load_avg_before_after", ["?", "?"])
            ratio = f"{r['step_s'] / ref[shape]:.2f}" if shape in ref else ""
            out.append(f"| {shape} | {dtype} | {LABEL.get(name, name)} | {r['step_s']:.1f} | {ratio} | {fmt('time/generate')} "
                       f"| {fmt('time/update')} | {fmt('time/weight_sync')} | {r['tokens_per_s']:.0f} "
                       f"| {r.get('setup_s', float('nan')):.1f} | {r['peak_rss_gib']:.1f} "
                       f"| {load[0]:.1f} -> {load[1]:.1f} |")
    return out


if __name__ == "__main__":
    print("\n".join(rows(sys.argv[1:])))
