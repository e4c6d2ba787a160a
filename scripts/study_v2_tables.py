"""Tables and figures of docs/results-v2.md (issue #16) from study v2's raw folders.

    python scripts/study_v2_tables.py [docs/results/v2/raw] --figures docs/results/v2 > tables.md

Reads the layout scripts/study_v2.sh writes (and copies to docs/results/v2/raw):

    <root>/<setting>-s<seed>/evals/<method>.json     final greedy eval: one entry per eval set
                                                    (the training task's shared held-out set
                                                    first, then the OOD set), each with n,
                                                    greedy_accuracy, greedy_ci95, rows[{id,
                                                    greedy_correct}]; evals/base.json: base model
    <root>/<setting>-s<seed>/<method>/metrics.jsonl  per training step: reward, sft_fraction,
                                                    sft_prompt_share, sigma_pg/sigma_sft,
                                                    sasr_p, switch_decision, step_time, ...
    <root>/<setting>-s<seed>/<method>/eval.jsonl     in-training held-out accuracy (every
                                                    eval_every steps): {step, greedy_accuracy, n}
    <root>/<setting>-s<seed>/<method>/group_accuracy.jsonl   per-prompt rollout accuracy
    <root>/passk/<setting>-s<seed>-<method>.json     sampled eval of the final model (pass@k)

A run counts as done when its ``evals/<method>.json`` exists; every number comes from those
files, a missing run is shown as "–" and never filled in. Accuracies, rewards, shares and
probabilities are printed as percentages with one decimal.

Paired differences (method − reference, on the same questions): per seed the mean of
d_q = correct_method(q) − correct_ref(q) over the questions q of the set, with a 95% percentile
bootstrap CI over questions (``hybridrl.eval.metrics.bootstrap_ci``, 2000 resamples);
pooled over the seeds both methods have, d_q is first averaged over those seeds and
the bootstrap then resamples questions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hybridrl.eval.metrics import bootstrap_ci, ema  # noqa: E402
from hybridrl.report.runs import load_run, read_json, read_jsonl, superrl_weights  # noqa: E402

SETTINGS = ["sparse", "mixed", "dense"]
METHODS = ["base", "grpo", "sft", "sft_then_rl", "hpt_q", "hpt", "hpt_official", "superrl", "sasr_sum", "sasr",
           "luffy", "chord", "relift", "uft", "auto"]
NAMES = {"base": "base", "grpo": "GRPO", "sft": "SFT", "sft_then_rl": "SFT→GRPO", "hpt": "HPT",
         "superrl": "SuperRL", "sasr": "SASR", "luffy": "LUFFY", "auto": "auto", "dr_grpo": "Dr. GRPO",
         "chord": "CHORD", "relift": "ReLIFT", "uft": "UFT"}
FIX_NAMES = {"hpt": "hpt_q", "sasr": "sasr_sum", "hpt_official": "hpt_official"}
"""Runs of the fidelity re-runs (``--fix``, scripts/study_v2_fix.sh) -> their rows' method keys."""
FIX_LABELS = {"hpt_q": "HPT (one vote)", "sasr_sum": "SASR (Σ SFT)", "hpt_official": "HPT (official)",
              "hpt": "HPT (v2: term mean)", "sasr": "SASR (v2: token mean)"}
"""Row names once the re-runs are merged in: the v2 rows are marked as the earlier defaults."""
FIX_PAIRS = [("hpt_q", "hpt"), ("sasr_sum", "sasr"), ("hpt_official", "hpt_q"), ("hpt_q", "sft"),
             ("hpt_official", "sft")]
"""Paired comparisons of the re-runs: new vs old default, official vs one vote, each vs SFT."""
NEW_METHODS = ["chord", "relift", "uft"]
"""The hybrids of issue #26 (``--new``, scripts/study_v2_new.sh): rows beside v2's, same protocol."""
NEW_PAIRS = [(m, ref) for m in NEW_METHODS for ref in ("hpt_q", "sft")]
"""Their paired comparisons beyond REFS: against HPT with the corrected default, and SFT again
(the question the issue asks: does any of them beat SFT where the papers' hybrids did not?)."""
REFS = ["grpo", "sft_then_rl", "sft"]  # the claim: hybrids beat GRPO and SFT→GRPO, match or beat SFT
"""References of the paired-difference tables."""
SHARE_METHODS = ["hpt", "hpt_q", "hpt_official", "superrl", "sasr", "sasr_sum", "luffy", "chord", "relift"]
KS = [1, 4, 8]
WINDOW = 10
"""Steps averaged for "first → last" reward and the final SFT share."""
EMA_ALPHA = 0.3
DASH = "–"
DIR_RE = re.compile(r"^(?P<setting>.+)-s(?P<seed>\d+)$")
PASSK_RE = re.compile(r"^(?P<setting>.+?)-s(?P<seed>\d+)-(?P<method>.+)$")


# ---------------------------------------------------------------------------------------
# loading


@dataclass
class Run:
    """One (setting, seed, method): its final eval (None until done) and its training logs."""

    setting: str
    seed: int
    method: str
    dir: Path
    final: dict[str, Any] | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    curve: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.final is not None

    @property
    def name(self) -> str:
        return f"{self.setting}-s{self.seed}/{self.method}"


@dataclass
class Study:
    root: Path
    runs: dict[tuple[str, int, str], Run]
    passk: dict[tuple[str, int, str], dict[str, Any]]
    names: dict[str, str] = field(default_factory=lambda: dict(NAMES))
    """Row names by method key (the fidelity re-runs rename the v2 rows they replace)."""

    @property
    def settings(self) -> list[str]:
        found = {k[0] for k in self.runs} | {k[0] for k in self.passk}
        return [s for s in SETTINGS if s in found] + sorted(found - set(SETTINGS))

    @property
    def seeds(self) -> list[int]:
        return sorted({k[1] for k in self.runs} | {k[1] for k in self.passk})

    def methods(self, setting: str, *, base: bool = True) -> list[str]:
        found = {k[2] for k in self.runs if k[0] == setting}
        if not base:
            found.discard("base")
        return order(found)

    def get(self, setting: str, seed: int, method: str) -> Run | None:
        """The run if it is done (final eval present), else None."""
        r = self.runs.get((setting, seed, method))
        return r if r is not None and r.done else None

    def done(self, setting: str, method: str) -> list[Run]:
        return [r for s in self.seeds if (r := self.get(setting, s, method)) is not None]


def order(methods) -> list[str]:
    return sorted(methods, key=lambda m: (METHODS.index(m) if m in METHODS else len(METHODS), m))


def merge_fix(study: Study, fix: Study) -> Study:
    """``study`` with the fidelity re-runs of ``fix`` added under :data:`FIX_NAMES` (the v2
    rows stay; their names say they used the earlier defaults)."""
    for (setting, seed, m), run in fix.runs.items():
        new = FIX_NAMES.get(m, m)
        run.method = new
        study.runs[(setting, seed, new)] = run
    for (setting, seed, m), e in fix.passk.items():
        study.passk[(setting, seed, FIX_NAMES.get(m, m))] = e
    if fix.runs:
        study.names.update(FIX_LABELS)
    return study


def merge_new(study: Study, new: Study) -> Study:
    """``study`` with the runs of ``new`` (the new hybrids) added under their own method keys."""
    study.runs.update(new.runs)
    study.passk.update(new.passk)
    return study


def load_study(root: Path) -> Study:
    runs: dict[tuple[str, int, str], Run] = {}
    dirs = sorted(p for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
    for d in dirs:
        m = DIR_RE.match(d.name)
        if not m:
            continue
        setting, seed = m["setting"], int(m["seed"])
        methods = {p.stem for p in (d / "evals").glob("*.json")}
        methods |= {p.name for p in d.iterdir() if (p / "metrics.jsonl").exists()}
        for meth in methods:
            run = Run(setting, seed, meth, d / meth, final=read_json(d / "evals" / f"{meth}.json"),
                      metrics=read_jsonl(d / meth / "metrics.jsonl"), curve=read_jsonl(d / meth / "eval.jsonl"),
                      summary=read_json(d / meth / "summary.json"))
            if run.final is not None and not run.final.get("sets"):
                run.final = None  # an eval file without results is not a finished run
            runs[(setting, seed, meth)] = run
    passk: dict[tuple[str, int, str], dict[str, Any]] = {}
    for p in sorted((Path(root) / "passk").glob("*.json")):
        m = PASSK_RE.match(p.stem)
        e = read_json(p)
        if m and e and e.get("sets"):
            passk[(m["setting"], int(m["seed"]), m["method"])] = e
    return Study(Path(root), runs, passk)


# ---------------------------------------------------------------------------------------
# numbers


def pct(v: float | None, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    return f"{100 * v:+.1f}" if signed else f"{100 * v:.1f}"


def mean(xs) -> float | None:
    xs = [float(x) for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def bootstrap(values, *, iters: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap CI of the mean of ``values`` (one value per question), 2000
    resamples: :func:`hybridrl.eval.metrics.bootstrap_ci`."""
    return bootstrap_ci(list(values), iters=iters, alpha=alpha, seed=seed)


def set_names(study: Study, setting: str) -> list[str]:
    """The setting's eval sets in file order (held-out set first, then OOD), at most two."""
    for r in study.runs.values():
        if r.setting == setting and r.done:
            return list(r.final["sets"])[:2]
    return []


def correctness(run: Run | None, s: str) -> dict[str, float]:
    """question id -> 1.0/0.0 (greedy) for set ``s`` of a done run; {} when absent."""
    if run is None:
        return {}
    rows = (run.final["sets"].get(s) or {}).get("rows") or []
    return {str(r.get("id", f"row-{i}")): 1.0 if r.get("greedy_correct") else 0.0 for i, r in enumerate(rows)}


def paired(a: dict[str, float], b: dict[str, float]) -> tuple[float, float, float] | None:
    """(mean of a − b over shared questions, CI low, CI high); None without shared questions."""
    d = [a[q] - b[q] for q in a if q in b]
    if not d:
        return None
    return (sum(d) / len(d), *bootstrap(d))


def pooled(pairs: list[tuple[dict[str, float], dict[str, float]]]) -> tuple[float, float, float] | None:
    """Paired difference pooled over seeds: per question the mean over the seeds of
    (a − b), then mean and bootstrap CI over the questions every seed pair shares."""
    if not pairs:
        return None
    common = set(pairs[0][0])
    for a, b in pairs:
        common &= set(a) & set(b)
    qs = sorted(common)
    if not qs:
        return None
    d = [sum(a[q] - b[q] for a, b in pairs) / len(pairs) for q in qs]
    return (sum(d) / len(d), *bootstrap(d))


def window(records: list[dict[str, Any]], key: str, first: bool, n: int = WINDOW) -> float | None:
    """Mean of ``key`` over its first (or last) ``n`` logged steps; a run shorter than 2n steps
    uses half of its steps each, so the two windows never overlap."""
    vals = [v for r in records if (v := num(r.get(key))) is not None]
    if not vals:
        return None
    n = min(n, max(1, len(vals) // 2))
    return mean(vals[:n] if first else vals[-n:])


def steps_mean(records: list[dict[str, Any]], key: str, lo: int, hi: int) -> float | None:
    """Mean of ``key`` over the records with lo <= step < hi (0-based steps)."""
    return mean(num(r.get(key)) for r in records if lo <= int(r.get("step", -1)) < hi)


def share_key(run: Run) -> str:
    """The sample-level SFT share: ``sft_fraction``, or LUFFY's ``offline_fraction`` (its
    demonstrations are off-policy members of the rollout group)."""
    if any("sft_fraction" in r for r in run.metrics):
        return "sft_fraction"
    return "offline_fraction"


def train_minutes(run: Run) -> float | None:
    t = [v for r in run.metrics if (v := num(r.get("step_time"))) is not None]
    if t:
        return sum(t) / 60
    w = num((run.summary or {}).get("wall_time_s"))
    return None if w is None else w / 60


def fmt(v: float | None, digits: int = 1) -> str:
    return DASH if v is None else f"{v:.{digits}f}"


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# 1. accuracy per setting


def acc_cell(run: Run | None, s: str) -> str:
    if run is None:
        return DASH
    r = run.final["sets"].get(s)
    if not r:
        return DASH
    ci = r.get("greedy_ci95") or [None, None]
    return f"{pct(r['greedy_accuracy'])} [{pct(ci[0])}, {pct(ci[1])}]"


def mean_cell(runs: list[Run], s: str) -> str:
    """Mean over the seeds done; with per-question rows also a CI (bootstrap over questions of
    the seed-mean correctness)."""
    accs = [num((r.final["sets"].get(s) or {}).get("greedy_accuracy")) for r in runs]
    accs = [a for a in accs if a is not None]
    if not accs:
        return DASH
    out = pct(sum(accs) / len(accs))
    cs = [correctness(r, s) for r in runs]
    common = set(cs[0]).intersection(*cs[1:]) if all(cs) else set()
    if len(runs) > 1 and common:
        lo, hi = bootstrap([sum(c[q] for c in cs) / len(cs) for q in sorted(common)])
        out += f" [{pct(lo)}, {pct(hi)}]"
    return out


def accuracy_table(study: Study, setting: str) -> str:
    sets = set_names(study, setting)
    if not sets:
        return f"_{setting}: no finished run yet_\n"
    seeds = study.seeds
    n = {}
    for s in sets:
        n[s] = next((r.final["sets"][s]["n"] for r in study.runs.values()
                     if r.setting == setting and r.done and s in r.final["sets"]), "?")
    labels = ["held-out", "OOD"]
    head = ["method"]
    for lab in labels[:len(sets)]:
        head += [f"{lab} s{seed}" for seed in seeds] + [f"{lab} mean"]
    head += [f"train reward first {WINDOW} → last {WINDOW}", f"SFT share (last {WINDOW})", "train min", "seeds done"]
    rows = []
    for m in study.methods(setting):
        runs = study.done(setting, m)
        if not runs and m == "base":
            continue
        row = [study.names.get(m, m)]
        for s in sets:
            row += [acc_cell(study.get(setting, seed, m), s) for seed in seeds] + [mean_cell(runs, s)]
        trained = [r for r in runs if r.metrics]
        if m == "base" or not trained:
            row += [DASH, DASH, DASH]
        else:
            r0 = mean(window(r.metrics, "reward", True) for r in trained)
            r1 = mean(window(r.metrics, "reward", False) for r in trained)
            sh = mean(window(r.metrics, share_key(r), False) for r in trained)
            row += [f"{pct(r0)} → {pct(r1)}" if r0 is not None else DASH, pct(sh),
                    fmt(mean(train_minutes(r) for r in trained))]
        row.append(", ".join(f"s{seed}" if study.get(setting, seed, m) else DASH for seed in seeds))
        rows.append(row)
    sets_line = "; ".join(f"{lab}: `{s}` (n={n[s]})" for lab, s in zip(labels, sets))
    return f"{sets_line}\n\n" + table(head, rows)


# ---------------------------------------------------------------------------------------
# 2. paired differences


def diff_cell(r: tuple[float, float, float] | None, extra: str = "") -> str:
    if r is None:
        return DASH
    return f"{pct(r[0], True)} [{pct(r[1], True)}, {pct(r[2], True)}]{extra}"


def sign_counts(diffs: list[float | None]) -> str:
    """``": 2+ 0= 1−"``: how many per-seed differences are above, at and below zero (seed-to-seed
    agreement, which the CIs over questions do not show); empty for a single seed."""
    d = [x for x in diffs if x is not None]
    if len(d) < 2:
        return ""
    up, down = sum(x > 1e-12 for x in d), sum(x < -1e-12 for x in d)
    return f": {up}+ {len(d) - up - down}= {down}−"


def runs_table(study: Study) -> str:
    """Which (setting, method) has its final evaluation for which seed."""
    seeds = study.seeds
    rows = []
    for setting in study.settings:
        for m in study.methods(setting):
            cells = ["✓" if study.get(setting, s, m) is not None else DASH for s in seeds]
            rows.append([setting, study.names.get(m, m), *cells, str(cells.count("✓"))])
    return table(["setting", "method", *[f"s{s}" for s in seeds], "seeds done"], rows) if rows else ""


def diff_table(study: Study, setting: str, ref: str) -> str:
    sets = set_names(study, setting)
    if not sets or not study.done(setting, ref):
        return ""
    seeds = study.seeds
    head = [f"method − {study.names.get(ref, ref)}"]
    for lab, s in zip(["held-out", "OOD"], sets):
        head += [f"{lab} s{seed}" for seed in seeds] + [f"{lab} pooled (seeds)"]
    rows = []
    for m in study.methods(setting, base=False):
        if m == ref or not study.done(setting, m):
            continue
        row = [study.names.get(m, m)]
        for s in sets:
            pairs, signs = [], []
            for seed in seeds:
                a, b = study.get(setting, seed, m), study.get(setting, seed, ref)
                ca, cb = correctness(a, s), correctness(b, s)
                if a is None or b is None or not ca or not cb:
                    row.append(DASH)
                    continue
                d = paired(ca, cb)
                row.append(diff_cell(d))
                pairs.append((ca, cb))
                signs.append(d[0] if d is not None else None)
            row.append(diff_cell(pooled(pairs), f" ({len(pairs)}{sign_counts(signs)})") if pairs else DASH)
        rows.append(row)
    return table(head, rows) if rows else ""


# ---------------------------------------------------------------------------------------
# 3. pass@k


def passk_table(study: Study) -> str:
    if not study.passk:
        return ""
    seeds = sorted({k[1] for k in study.passk})
    head = ["setting", "model", "set"] + [f"pass@{k}" for k in KS] + ["pass@8 − pass@1", "seeds"]
    rows = []
    for setting in study.settings:
        methods = order({k[2] for k in study.passk if k[0] == setting})
        for m in methods:
            evals = {seed: study.passk[(setting, seed, m)] for seed in seeds if (setting, seed, m) in study.passk}
            sname = next(iter(next(iter(evals.values()))["sets"]))
            per = {seed: e["sets"].get(sname) or {} for seed, e in evals.items()}
            cells = []
            for k in KS:
                vals = {seed: num(r.get(f"pass@{k}")) for seed, r in per.items()}
                mu = mean(vals.values())
                if mu is not None and len(seeds) > 1:
                    cells.append(f"{pct(mu)} ({' / '.join(pct(vals.get(s)) for s in seeds)})")
                elif mu is not None and len(per) == 1:
                    ci = next(iter(per.values())).get(f"pass@{k}_ci95") or [None, None]
                    cells.append(f"{pct(mu)} [{pct(ci[0])}, {pct(ci[1])}]")
                else:
                    cells.append(pct(mu))
            widths = [num(r.get(f"pass@{KS[-1]}")) - num(r.get(f"pass@{KS[0]}")) for r in per.values()
                      if num(r.get(f"pass@{KS[-1]}")) is not None and num(r.get(f"pass@{KS[0]}")) is not None]
            rows.append([setting, study.names.get(m, m), f"{sname} (n={next(iter(per.values())).get('n', '?')})"] + cells
                        + [pct(mean(widths), True), ", ".join(f"s{s}" if s in evals else DASH for s in seeds)])
    return table(head, rows)


# ---------------------------------------------------------------------------------------
# 4. controllers: Adaptive Switch, SuperRL σ, SASR p, HPT share


def fix_table(study: Study, pairs_of: list[tuple[str, str]] | None = None) -> str:
    """The re-runs against what they replace (or any ``pairs_of``), per setting: pooled paired
    difference on the held-out and OOD sets (seeds both have; sign counts), as the paired tables."""
    rows = []
    for setting in study.settings:
        sets = set_names(study, setting)
        for a, b in (FIX_PAIRS if pairs_of is None else pairs_of):
            if not study.done(setting, a) or not study.done(setting, b):
                continue
            row = [setting, f"{study.names.get(a, a)} − {study.names.get(b, b)}"]
            for s in sets:
                pairs, signs = [], []
                for seed in study.seeds:
                    ra, rb = study.get(setting, seed, a), study.get(setting, seed, b)
                    ca, cb = correctness(ra, s), correctness(rb, s)
                    if ra is None or rb is None or not ca or not cb:
                        continue
                    d = paired(ca, cb)
                    pairs.append((ca, cb))
                    signs.append(d[0] if d is not None else None)
                row.append(diff_cell(pooled(pairs), f" ({len(pairs)}{sign_counts(signs)})") if pairs else DASH)
            rows.append(row + [DASH] * (4 - len(row)))
    return table(["setting", "comparison", "held-out pooled (seeds)", "OOD pooled (seeds)"], rows) if rows else ""


def length_table(study: Study) -> str:
    """How long the rollouts were and how many hit the budget: ``completions/clipped_ratio`` and
    ``completions/mean_length`` over the first and last steps (mean over the seeds done)."""
    rows = []
    for setting in study.settings:
        for m in study.methods(setting, base=False):
            runs = [r for r in study.done(setting, m) if any("completions/clipped_ratio" in x for x in r.metrics)]
            if not runs:
                continue
            c0, c1 = (mean(window(r.metrics, "completions/clipped_ratio", f) for r in runs) for f in (True, False))
            l0, l1 = (mean(window(r.metrics, "completions/mean_length", f) for r in runs) for f in (True, False))
            rows.append([setting, study.names.get(m, m), f"{pct(c0)} → {pct(c1)}", f"{fmt(l0)} → {fmt(l1)}",
                         str(len(runs))])
    if not rows:
        return ""
    return table(["setting", "method", f"rollouts at the budget % (first {WINDOW} → last {WINDOW} steps)",
                  "mean rollout tokens", "seeds"], rows)


BASELINE_OF = {"hpt": "hpt_q"}
"""The baseline row a method is paired with (``--baseline``): HPT with the corrected default."""


def baseline_table(study: Study, base: Study, label: str) -> str:
    """Each method against the same method and seed of ``base`` (another study on the same
    questions, e.g. v2's 64-token runs): per-seed and pooled paired differences."""
    seeds = sorted(set(study.seeds) | set(base.seeds))
    rows = []
    for setting in study.settings:
        sets = set_names(study, setting)
        for m in study.methods(setting, base=False):
            b = BASELINE_OF.get(m, m)
            if not study.done(setting, m) or not base.done(setting, b):
                continue
            row = [setting, f"{study.names.get(m, m)} − {label} {base.names.get(b, b)}"]
            for s in sets:
                pairs, signs, cells = [], [], []
                for seed in seeds:
                    ra, rb = study.get(setting, seed, m), base.get(setting, seed, b)
                    ca, cb = correctness(ra, s), correctness(rb, s)
                    if ra is None or rb is None or not ca or not cb:
                        cells.append(DASH)
                        continue
                    d = paired(ca, cb)
                    cells.append(diff_cell(d))
                    pairs.append((ca, cb))
                    signs.append(d[0] if d is not None else None)
                row += cells + [diff_cell(pooled(pairs), f" ({len(pairs)}{sign_counts(signs)})") if pairs else DASH]
            rows.append(row)
    if not rows:
        return ""
    head = ["setting", "comparison"]
    for lab in ["held-out", "OOD"]:
        head += [f"{lab} s{seed}" for seed in seeds] + [f"{lab} pooled (seeds)"]
    return table(head, [r + [DASH] * (len(head) - len(r)) for r in rows])


def runs_of(study: Study, method: str) -> list[Run]:
    return [study.runs[k] for k in sorted(study.runs, key=lambda k: (study.settings.index(k[0]), k[1]))
            if k[2] == method and study.runs[k].done and study.runs[k].metrics]


def switch_table(study: Study) -> str:
    rows = []
    for r in runs_of(study, "superrl") + runs_of(study, "auto"):
        pre = r.method
        k = next((int(x[f"{pre}/k"]) for x in r.metrics if isinstance(x.get(f"{pre}/k"), int)), None)
        probe = [num(x.get("reward")) for x in r.metrics[:k]] if k else []
        decided = next((x for x in r.metrics if x.get("switch_decision") not in (None, "probing")), None)
        if decided is None:
            rows.append([r.name, ", ".join(pct(p) for p in probe) or DASH, DASH, DASH, "not decided", DASH, DASH])
            continue
        then = decided.get("auto/method") or ("Hybrid Actor" if decided["switch_decision"] == "sparse" else "GRPO")
        rows.append([r.name, ", ".join(pct(p) for p in probe) or DASH, str(decided.get(f"{pre}/increase_num", DASH)),
                     pct(num(decided.get(f"{pre}/recent_avg"))), decided["switch_decision"],
                     str(decided.get("step", DASH)), str(then)])
    if not rows:
        return ""
    return table(["run", "probe rewards % (per step)", "increase_num", "recent_avg %", "decision",
                  "decided at step", "then"], rows)


def sigma_table(study: Study) -> str:
    rows = []
    for r in runs_of(study, "superrl"):
        w = superrl_weights(r.metrics)
        if w is None:
            dec = next((x.get("switch_decision") for x in reversed(r.metrics) if x.get("switch_decision")), DASH)
            rows.append([r.name, f"no Hybrid Actor phase (switch: {dec})", DASH, DASH, DASH])
            continue

        def pair(p):
            return DASH if p[0] is None else f"{p[0]:.3f} → {p[1]:.3f}"

        rows.append([r.name, str(w["hybrid_from"]), pair(w["sigma_pg"]), pair(w["sigma_sft"]), pair(w["ratio"])])
    if not rows:
        return ""
    return table(["run", "Hybrid Actor from step", "σ_pg first → last", "σ_sft first → last",
                  "w_pg / w_sft = (σ_sft/σ_pg)² first → last"], rows)


def sasr_table(study: Study) -> str:
    rows = []
    for r in runs_of(study, "sasr") + runs_of(study, "sasr_sum"):
        sft = [v for x in r.metrics if (v := num(x.get("sft_fraction"))) is not None]
        ps = [v for x in r.metrics if (v := num(x.get("sasr_p"))) is not None]
        n_sft = sum(1 for v in sft if v > 0)
        rows.append([r.name, f"{n_sft} / {len(sft)}", pct(n_sft / len(sft)) if sft else DASH,
                     pct(ps[-1]) if ps else DASH, f"{pct(min(ps))} – {pct(max(ps))}" if ps else DASH])
    if not rows:
        return ""
    return table(["run", "SFT steps / steps", "SFT-step share %", "final p %", "p range %"], rows)


def new_table(study: Study) -> str:
    """What the new hybrids' schedules did: CHORD's μ, ReLIFT's SFT updates and buffer, UFT's
    hint probability and the share of the demonstration given as prefix (steps 1–10 vs 31–40)."""
    rows = []
    for r in runs_of(study, "chord"):
        rows.append([r.name, "μ (SFT weight)", pct(steps_mean(r.metrics, "chord_mu", 0, 10)),
                     pct(steps_mean(r.metrics, "chord_mu", 30, 40)), DASH])
    for r in runs_of(study, "relift"):
        sft = sum(int(num(x.get("relift/sft_step")) or 0) for x in r.metrics)
        buf = sum(int(num(x.get("relift/num_buffered")) or 0) for x in r.metrics)
        rows.append([r.name, "SFT share of samples", pct(steps_mean(r.metrics, "sft_fraction", 0, 10)),
                     pct(steps_mean(r.metrics, "sft_fraction", 30, 40)),
                     f"{sft} SFT updates on {buf} buffered demonstrations"])
    for r in runs_of(study, "uft"):
        rows.append([r.name, "hint probability p_t / prefix share of the demonstration",
                     f"{pct(steps_mean(r.metrics, 'uft_hint_prob', 0, 10))} / "
                     f"{pct(steps_mean(r.metrics, 'prefix_fraction', 0, 10))}",
                     f"{pct(steps_mean(r.metrics, 'uft_hint_prob', 30, 40))} / "
                     f"{pct(steps_mean(r.metrics, 'prefix_fraction', 30, 40))}", DASH])
    if not rows:
        return ""
    return table(["run", "quantity %", "steps 1–10", "steps 31–40", "over the run"], rows)


def hpt_table(study: Study) -> str:
    rows = []
    for r in runs_of(study, "hpt") + runs_of(study, "hpt_q") + runs_of(study, "hpt_official"):
        rows.append([r.name, pct(steps_mean(r.metrics, "sft_fraction", 0, 10)),
                     pct(steps_mean(r.metrics, "sft_fraction", 30, 40)),
                     pct(steps_mean(r.metrics, "sft_prompt_share", 0, 10)),
                     pct(steps_mean(r.metrics, "sft_prompt_share", 30, 40))])
    if not rows:
        return ""
    return table(["run", "SFT share (samples) steps 1–10", "steps 31–40", "SFT prompt share steps 1–10",
                  "steps 31–40"], rows)


# ---------------------------------------------------------------------------------------
# 5. figures


def _plt():
    from hybridrl.report.plots import _plt as plt

    return plt()


def _band(series: list[tuple[list[int], list[float]]]):
    """Mean, min and max over seeds per step (steps any seed has; a seed without a step is left out)."""
    by: dict[int, list[float]] = {}
    for xs, ys in series:
        for x, y in zip(xs, ys):
            by.setdefault(int(x), []).append(float(y))
    steps = sorted(by)
    return steps, [sum(by[s]) / len(by[s]) for s in steps], [min(by[s]) for s in steps], [max(by[s]) for s in steps]


def _method_lines(study: Study, setting: str, get, path: Path, *, title: str, ylabel: str,
                  methods: list[str] | None = None, percent: bool = True) -> Path | None:
    data = {}
    for m in methods or study.methods(setting, base=False):
        series = [s for r in study.done(setting, m) if (s := get(r)) and s[0]]
        if series:
            data[m] = (series, _band(series))
    if not data:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    f = 100 if percent else 1
    for m, (series, (xs, mu, lo, hi)) in data.items():
        line, = ax.plot(xs, [f * v for v in mu], marker="o" if len(xs) < 12 else None, ms=3, lw=1.8,
                        color=f"C{METHODS.index(m) % 10}" if m in METHODS else None,  # one colour per method
                        label=f"{study.names.get(m, m)} ({len(series)} seed{'s' if len(series) > 1 else ''})")
        if len(series) > 1:
            ax.fill_between(xs, [f * v for v in lo], [f * v for v in hi], color=line.get_color(), alpha=0.15)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    from hybridrl.report.plots import _save

    return _save(fig, path)


def _curve(r: Run):
    return ([int(e["step"]) for e in r.curve if num(e.get("greedy_accuracy")) is not None],
            [float(e["greedy_accuracy"]) for e in r.curve if num(e.get("greedy_accuracy")) is not None])


def _reward(r: Run):
    xs = [int(x.get("step", i)) for i, x in enumerate(r.metrics) if num(x.get("reward")) is not None]
    ys = [float(x["reward"]) for x in r.metrics if num(x.get("reward")) is not None]
    return xs, ema(ys, EMA_ALPHA) if ys else []


def _share(r: Run):
    key = share_key(r)
    xs = [int(x.get("step", i)) for i, x in enumerate(r.metrics) if num(x.get(key)) is not None]
    return xs, [float(x[key]) for x in r.metrics if num(x.get(key)) is not None]


def figures(study: Study, out: Path) -> list[tuple[str, Path]]:
    """Write the PNGs; returns (caption, path) of each one written (none is faked)."""
    from hybridrl.report import plots

    made: list[tuple[str, Path]] = []

    def add(caption: str, p: Path | None) -> None:
        if p is not None:
            made.append((caption, p))

    for setting in study.settings:
        add(f"{setting}: held-out accuracy during training (eval.jsonl; mean over seeds, band min–max)",
            _method_lines(study, setting, _curve, out / f"learning_{setting}.png",
                          title=f"{setting}: in-training held-out greedy accuracy (mean over seeds, min–max band)",
                          ylabel="greedy accuracy %"))
        add(f"{setting}: training reward (EMA α={EMA_ALPHA} per run; mean over seeds, band min–max)",
            _method_lines(study, setting, _reward, out / f"reward_{setting}.png",
                          title=f"{setting}: training reward, EMA α={EMA_ALPHA} (mean over seeds, min–max band)",
                          ylabel="mean reward %"))
        add(f"{setting}: SFT share of training samples per step (LUFFY: off-policy share)",
            _method_lines(study, setting, _share, out / f"sft_share_{setting}.png", methods=SHARE_METHODS,
                          title=f"{setting}: SFT share of the step's samples (mean over seeds, min–max band)",
                          ylabel="SFT share %"))
    superrl = {r.name.replace("/superrl", ""): load_run(r.dir) for r in runs_of(study, "superrl")}
    add("SuperRL σ_pg and σ_sft per run", plots.plot_sigmas(superrl, out / "sigma.png") if superrl else None)
    sasr = {r.name.replace("/sasr", ""): load_run(r.dir) for r in runs_of(study, "sasr")}
    add("SASR's probability p of an SFT step per run", plots.plot_sasr_p(sasr, out / "sasr_p.png") if sasr else None)
    for setting in study.settings:
        curves = {}
        for m in order({k[2] for k in study.passk if k[0] == setting}):
            es = [e for (st, _, mm), e in study.passk.items() if st == setting and mm == m]
            sname = next(iter(es[0]["sets"]))
            cs = [(e["sets"].get(sname) or {}).get("pass_curve") or {} for e in es]
            ks = sorted(set.intersection(*(set(c) for c in cs)), key=int) if all(cs) else []
            if ks:
                curves[f"{study.names.get(m, m)} ({len(cs)} seed{'s' if len(cs) > 1 else ''})"] = {
                    "sets": {sname: {"pass_curve": {k: sum(c[k] for c in cs) / len(cs) for k in ks}}}}
        if curves:
            add(f"{setting}: pass@k of the final models (mean over seeds)",
                plots.plot_pass_at_k(curves, out / f"passk_{setting}.png"))
    # per-prompt heatmaps, HPT vs GRPO in the mixed setting, first seed with both
    for seed in study.seeds:
        h, g = study.get("mixed", seed, "hpt"), study.get("mixed", seed, "grpo")
        if h is None or g is None:
            continue
        hr, gr = load_run(h.dir), load_run(g.dir)
        if not hr["group_accuracy"] or not gr["group_accuracy"]:
            continue
        order_ = plots.prompt_order(gr)
        add(f"mixed seed {seed}: per-prompt rollout accuracy, HPT",
            plots.plot_heatmap(hr, out / "heatmap_mixed_hpt.png", f"mixed s{seed}: HPT per-prompt rollout accuracy",
                               order_))
        add(f"mixed seed {seed}: per-prompt rollout accuracy, GRPO",
            plots.plot_heatmap(gr, out / "heatmap_mixed_grpo.png", f"mixed s{seed}: GRPO per-prompt rollout accuracy",
                               order_))
        add(f"mixed seed {seed}: HPT − GRPO per prompt (red: HPT better)",
            plots.plot_heatmap_diff(hr, gr, out / "heatmap_mixed_hpt_minus_grpo.png",
                                    f"mixed s{seed}: HPT − GRPO rollout accuracy per prompt", order_))
        break
    return made


# ---------------------------------------------------------------------------------------
# the page


def render(study: Study, figure_dir: Path | None = None, link_dir: str | None = None,
           baseline: tuple[Study, str] | None = None) -> str:
    out: list[str] = []
    seeds = study.seeds
    n_base = sum(r.done and r.method == "base" for r in study.runs.values())
    n_runs = sum(r.done for r in study.runs.values()) - n_base
    plus = f", plus {n_base} base-model evaluation{'s' if n_base > 1 else ''}" if n_base else ""
    out.append(f"_{n_runs} training runs done under `{study.root}` (final eval present){plus}; "
               f"seeds {', '.join(map(str, seeds))}; \"–\" = not done (never filled in)._\n")
    t = runs_table(study)
    if t:
        out.append("## Runs done\n")
        out.append(t)
    out.append("## Greedy accuracy per setting\n")
    out.append("Per seed: greedy accuracy % [95% bootstrap CI over questions]; mean: over the seeds done "
               "[95% bootstrap CI over questions of the seed-mean correctness]. Training reward: mean of the "
               f"first {WINDOW} and of the last {WINDOW} steps (half each in a run under {2 * WINDOW} steps); SFT share: mean sample-level share of the last "
               f"{WINDOW} steps (LUFFY: its off-policy share); train min: Σ step_time; all means over the seeds done.\n")
    for setting in study.settings:
        out.append(f"### {setting}\n")
        out.append(accuracy_table(study, setting))
    out.append("## Paired differences\n")
    out.append("Points of accuracy, method − reference on the same questions [95% paired bootstrap CI over "
               "questions]; pooled: per-question difference averaged over the seeds both have (count in "
               "parentheses, then how many seeds' own differences are above / at / below zero), then "
               "bootstrapped over questions. The CIs cover the choice of questions, not seed-to-seed "
               "variation: read them with the per-seed columns and the sign counts.\n")
    for setting in study.settings:
        for ref in REFS:
            t = diff_table(study, setting, ref)
            if t:
                out.append(f"### {setting}: method − {study.names[ref]}\n")
                out.append(t)
    t = fix_table(study)
    if t:
        out.append("## Fidelity re-runs against the earlier defaults\n")
        out.append("HPT with one vote per question (`hpt_balance=question`), SASR with eq. 2's token-sum SFT "
                   "(`sasr_sft_loss=sum`) and HPT with the official per-sample weights, against the v2 rows "
                   "they replace (HPT `term_mean`, SASR token mean) and against SFT: pooled paired "
                   "difference in points [95% bootstrap CI over questions] (seeds; above / at / below 0).\n")
        out.append(t)
    if baseline is not None:
        t = baseline_table(study, *baseline)
        if t:
            out.append(f"## Against {baseline[1]}\n")
            out.append(f"Each method against itself in {baseline[1]} (same seed, same questions; HPT against the "
                       "corrected default): paired difference in points [95% bootstrap CI over questions]; pooled "
                       "over the seeds both have (count; above / at / below 0).\n")
            out.append(t)
    t = length_table(study)
    if t:
        out.append("## Rollout lengths and truncation\n")
        out.append("Share of rollouts that hit `max_new_tokens` (`completions/clipped_ratio`) and mean rollout "
                   f"length in tokens, first {WINDOW} → last {WINDOW} steps, mean over the seeds done (SFT "
                   "samples no rollouts; HPT's counts the rollouts of the questions it sends to RL).\n")
        out.append(t)
    t = fix_table(study, NEW_PAIRS)
    if t:
        out.append("## New hybrids (issue #26) against HPT and SFT\n")
        out.append("CHORD, ReLIFT and UFT under this page's protocol (only `method` differs; their schedules "
                   "scaled to 40 steps in the recipes), against HPT with the corrected default (one vote) "
                   "and against SFT: pooled paired difference in points [95% bootstrap CI over questions] "
                   "(seeds; above / at / below 0). Against GRPO and SFT→GRPO: the paired tables above.\n")
        out.append(t)
    t = passk_table(study)
    if t:
        out.append("## pass@k of the final models\n")
        out.append("Unbiased pass@k % from the sampled evals (mean over seeds, per seed in parentheses; one seed: "
                   "[95% bootstrap CI]); pass@8 − pass@1 in points.\n")
        out.append(t)
    out.append("## Controllers\n")
    for title, t in [("Adaptive Switch (SuperRL, auto)", switch_table(study)),
                     ("SuperRL loss weights over the Hybrid Actor phase", sigma_table(study)),
                     ("SASR", sasr_table(study)), ("HPT SFT share early vs late", hpt_table(study)),
                     ("CHORD, ReLIFT, UFT schedules", new_table(study))]:
        if t:
            out.append(f"### {title}\n")
            out.append(t)
    if figure_dir is not None:
        made = figures(study, figure_dir)
        if made:
            out.append("## Figures\n")
            for caption, p in made:
                link = f"{link_dir.rstrip('/')}/{p.name}" if link_dir is not None else str(p)
                out.append(f"{caption}\n\n![{caption}]({link})\n")
    return "\n".join(out)


START, END = "<!-- study_v2_tables:start -->", "<!-- study_v2_tables:end -->"


def splice(page: str, tables: str) -> str:
    """``page`` with the text between the START and END markers replaced by ``tables``, its
    headings demoted one level (the page's own section heading sits above the markers)."""
    if page.count(START) != 1 or page.count(END) != 1 or page.index(START) > page.index(END):
        raise SystemExit(f"the page needs exactly one {START} line before one {END} line")
    body = "\n".join("#" + line if line.startswith("#") else line for line in tables.splitlines())
    head, rest = page.split(START)
    return f"{head}{START}\n\n{body.strip()}\n\n{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="docs/results/v2/raw")
    ap.add_argument("--fix", default=None,
                    help="raw folder of the fidelity re-runs (scripts/study_v2_fix.sh, docs/results/v2/raw-fix): "
                         "their rows are added beside the v2 rows, which are marked as the earlier defaults")
    ap.add_argument("--new", default=None,
                    help="raw folder of the new hybrids' runs (scripts/study_v2_new.sh, docs/results/v2/raw-new): "
                         "CHORD, ReLIFT and UFT rows beside the others")
    ap.add_argument("--baseline", action="append", default=None,
                    help="raw folder(s) of another study on the same questions (e.g. v2's 64-token runs: "
                         "docs/results/v2/raw; repeat with its raw-fix and raw-new, merged as --fix/--new): each "
                         "method is paired with itself there")
    ap.add_argument("--baseline-label", default="v2 (64 tokens)")
    ap.add_argument("--figures", default=None, help="write the PNG figures into this folder")
    ap.add_argument("--link-dir", default=None,
                    help="folder prefix of the figure links in the markdown (default: the --figures path "
                         "relative to docs/, where results-v2.md lives, e.g. results/v2)")
    ap.add_argument("--page", default=None,
                    help="write the tables into this markdown page between its study_v2_tables start/end "
                         "markers (headings one level down) instead of printing them")
    a = ap.parse_args(argv)
    fig = Path(a.figures) if a.figures else None
    link = a.link_dir
    if fig is not None and link is None:
        link = os.path.relpath(fig.resolve(), Path("docs").resolve())
    study = load_study(Path(a.root))
    if a.fix is not None:
        study = merge_fix(study, load_study(Path(a.fix)))
    if a.new is not None:
        study = merge_new(study, load_study(Path(a.new)))
    base = None
    if a.baseline:
        b = load_study(Path(a.baseline[0]))
        for extra in a.baseline[1:]:
            b = merge_fix(b, load_study(Path(extra))) if Path(extra).name == "raw-fix" else \
                merge_new(b, load_study(Path(extra)))
        base = (b, a.baseline_label)
    text = render(study, fig, link, base)
    if a.page is None:
        print(text)
    else:
        page = Path(a.page)
        page.write_text(splice(page.read_text(), text))


if __name__ == "__main__":
    main()
