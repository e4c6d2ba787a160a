"""hybridrl's verl plugin (hybridrl.integrations.verl) against the real verl, on CPU (no Ray, no GPU).

Skipped when verl is not installed (`make test-verl` installs it in its own venv).

1. ``import verl`` alone (a fresh process) loads the plugin through the ``verl.plugins`` entry
   point: ``get_policy_loss_fn(name)`` returns our function for every registered name.
2. For every registered policy loss and every verl ``loss_agg_mode``, on random ragged batches
   called with verl's own keyword signature, value and gradient equal hybridrl's per-token loss
   (``term_loss``) reduced by verl's own ``agg_loss`` with the same global batch counts.
3. Cross-checks against verl's own code: ``hybridrl_grpo_dual`` is verl's ``vanilla`` loss,
   ``hybridrl_dr_grpo`` advantages are verl's GRPO without std.
4. The set_loss_fn hybrid loss on an HPT plan equals the per-term sum written out, and summing
   its micro-batches gives the whole batch.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("verl")
from omegaconf import OmegaConf  # noqa: E402
from verl.trainer.ppo import core_algos  # noqa: E402

from hybridrl.core.aggregation import agg_loss as hy_agg  # noqa: E402
from hybridrl.core.presets import get_preset, term_loss  # noqa: E402
from hybridrl.integrations import verl as hv  # noqa: E402

MODES = hv.VERL_AGG_MODES
TOL = 1e-6


def ragged_batch(seed: int, b: int = 6, t: int = 9, dtype=torch.float64):
    """float64 (so that the comparison sees the formulas, not float32 summation order; in float32
    the two reductions differ by up to 4e-6 on token-sum), old/new log-probs near each other (ratios inside and outside the clip range), ragged masks
    (one row empty), per-sequence advantages of both signs broadcast over tokens as verl does."""
    g = torch.Generator().manual_seed(seed)
    old = (-torch.rand(b, t, generator=g) * 3 - 0.05).to(dtype)
    new = (old + 0.4 * torch.randn(b, t, generator=g).to(dtype)).clamp(max=-1e-3).requires_grad_(True)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    lengths[2] = 0  # a fully masked row
    mask = (torch.arange(t)[None, :] < lengths[:, None]).to(dtype)
    adv = torch.randn(b, 1, generator=g).to(dtype).expand(b, t).contiguous()
    is_w = torch.rand(b, t, generator=g).to(dtype) + 0.5
    return old, new, adv, mask, is_w


def config(dp_size=2, tokens=None, seqs=None, scale=None):
    return OmegaConf.create({"clip_ratio": 0.2, "clip_ratio_low": 0.2, "clip_ratio_high": 0.28, "clip_ratio_c": 3.0,
                             "global_batch_info": {"dp_size": dp_size, "batch_num_tokens": tokens,
                                                   "global_batch_size": seqs, "loss_scale_factor": scale}})


def test_import_verl_alone_registers_every_name():
    names = hv.POLICY_LOSSES + hv.ADV_ESTIMATORS
    code = ("import verl; from verl.trainer.ppo.core_algos import get_policy_loss_fn, get_adv_estimator_fn\n"
            f"for n in {hv.POLICY_LOSSES!r}: assert get_policy_loss_fn(n).__module__ == 'hybridrl.integrations.verl', n\n"
            f"for n in {hv.ADV_ESTIMATORS!r}: assert get_adv_estimator_fn(n).__module__ == "
            "'hybridrl.integrations.verl', n\n"
            "import sys; print('hybridrl.integrations.verl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True"
    assert "hybridrl_luffy_off_policy" in names and "hybridrl_chord_sft" in names and "hybridrl_reinforce" in names


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", hv.POLICY_LOSSES)
def test_registered_loss_equals_hybridrl_loss(name, mode):
    fn = core_algos.get_policy_loss_fn(name)
    worst_v = worst_g = 0.0
    for seed in range(3):
        old, new, adv, mask, is_w = ragged_batch(seed)
        # global counts of a larger batch spread over 2 ranks (as verl's ppo_loss sets them)
        cfg = config(dp_size=2, tokens=float(mask.sum()) * 1.5, seqs=9.0, scale=12.0 if seed else None)
        loss, metrics = fn(old_log_prob=old, log_prob=new, advantages=adv, response_mask=mask, loss_agg_mode=mode,
                           config=cfg, rollout_is_weights=is_w)
        (g_ours,) = torch.autograd.grad(loss, new)
        # hybridrl's per-token loss (same preset, clip range), reduced by verl's own agg_loss
        preset = "sft" if name == "hybridrl_chord_sft" else name[len(hv.PREFIX):]
        p = get_preset(preset)
        weight = None
        if name == "hybridrl_chord_sft":
            prob = new.detach().exp()
            weight = prob * (1 - prob)  # φ(p) = p (1 - p)
        ptl, _ = term_loss(p, new, old, weight if p.advantage == "constant" else adv, mask, eps_low=0.2,
                           eps_high=0.28, dual_clip_c=3.0 if p.clip == "dual" else None)
        ref = core_algos.agg_loss(ptl * is_w, mask, mode, **cfg.global_batch_info)
        (g_ref,) = torch.autograd.grad(ref, new)
        # relative to the loss's size: token-sum of ~100 NLL terms differs by float32 summation order
        worst_v = max(worst_v, abs(float(loss) - float(ref)) / max(1.0, abs(float(ref))))
        worst_g = max(worst_g, float((g_ours - g_ref).abs().max()))
        assert torch.isfinite(loss)
    print(f"\n[verl-equality] {name} {mode}: max|Δloss|/max(1,|loss|)={worst_v:.3g} max|Δgrad|={worst_g:.3g}")
    assert worst_v <= TOL and worst_g <= TOL, (worst_v, worst_g)


@pytest.mark.parametrize("mode", MODES)
def test_grpo_dual_is_verl_vanilla(mode):
    """verl's own PPO loss (dual clip c = 3) against our preset: value and gradient."""
    for seed in range(3):
        old, new, adv, mask, is_w = ragged_batch(seed)
        cfg = config(dp_size=1)
        ours, _ = core_algos.get_policy_loss_fn("hybridrl_grpo_dual")(old, new, adv, mask, mode, cfg, is_w)
        theirs, _ = core_algos.get_policy_loss_fn("vanilla")(old, new, adv, mask, mode, cfg, is_w)
        g1, = torch.autograd.grad(ours, new)
        g2, = torch.autograd.grad(theirs, new)
        assert abs(float(ours) - float(theirs)) <= TOL
        assert float((g1 - g2).abs().max()) <= TOL


def test_verl_agg_matches_hand_values():
    # loss 1 on each real token; rows of 2 and 3 tokens, T = 4; dp 2, global 10 tokens / 4 seqs
    lm, m = torch.ones(2, 4), torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]]).float()
    assert float(hv.verl_agg(lm, m, "token-mean", 2, 10, 4)) == pytest.approx(5 / 10 * 2)
    assert float(hv.verl_agg(lm, m, "token-sum", 2)) == pytest.approx(5 * 2)
    assert float(hv.verl_agg(lm, m, "seq-mean-token-sum", 2, 10, 4)) == pytest.approx(5 / 4 * 2)
    assert float(hv.verl_agg(lm, m, "seq-mean-token-mean", 2, 10, 4)) == pytest.approx(2 / 4 * 2)
    assert float(hv.verl_agg(lm, m, "seq-mean-token-sum-norm", 2, 10, 4, 8)) == pytest.approx(5 / 4 / 8 * 2)


def test_advantage_estimators_match_verl():
    scores = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.5, 1.0])
    index = np.array(["a", "a", "a", "b", "b", "b", "c", "c"], dtype=object)
    mask = torch.ones(8, 5)
    mask[1, 3:] = 0
    rewards = torch.zeros(8, 5)
    rewards[torch.arange(8), mask.sum(-1).long() - 1] = scores  # outcome reward at the last token
    ours, _ = core_algos.get_adv_estimator_fn("hybridrl_dr_grpo")(rewards, mask, index=index)
    theirs, _ = core_algos.compute_grpo_outcome_advantage(rewards, mask, index, norm_adv_by_std_in_grpo=False)
    assert float((ours - theirs).abs().max()) <= TOL
    ours, _ = core_algos.get_adv_estimator_fn("hybridrl_grpo")(rewards, mask, index=index)
    theirs, _ = core_algos.compute_grpo_outcome_advantage(rewards, mask, index)
    assert float((ours - theirs).abs().max()) <= 1e-5  # both (R - mean) / (std + 1e-6), float32
    ours, _ = core_algos.get_adv_estimator_fn("hybridrl_reinforce")(rewards, mask, index=index)
    assert ours[:, 0].tolist() == [1, -1, 1, 1, -1, -1, -1, 1]  # ±1 at threshold 0.5 (0.5 -> -1)


@pytest.mark.parametrize("balance", ["question", "term_mean"])
def test_hybrid_loss_fn_on_an_hpt_plan(balance):
    """HPT's plan for 2 prompts x 4 rollouts (prompt 0 all wrong -> SFT on its demonstration,
    prompt 1 mixed -> Dr. GRPO) as one verl batch of 4 rollouts + 1 demonstration."""
    from hybridrl.schema import Row
    from hybridrl.methods.base import StepContext, StepData
    from hybridrl.methods.hpt import HPTController
    from hybridrl.rollout.types import RolloutBatch
    from hybridrl.config import TrainConfig

    cfg = TrainConfig(method="hpt", group_size=4, prompts_per_step=2, output_dir="unused", hpt_balance=balance)
    ctrl = HPTController(cfg)
    rows = [Row(prompt="q0", answer=["1"], demonstration="d0"), Row(prompt="q1", answer=["2"], demonstration="d1")]
    rewards = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    rb = RolloutBatch([[1], [2]], torch.arange(8) // 4, torch.zeros(8, 3, dtype=torch.long), torch.ones(8, 3),
                      torch.zeros(8, 3), [], [])
    update = ctrl.plan(StepContext(0, 1, 0, 1), StepData(rows, rb, rewards, rewards > 0.5))[0]
    assert [(t.name, t.indices.tolist()) for t in update.terms] == [("pg", [4, 5, 6, 7]), ("sft", [0])]
    order = [(0, k) for k in range(4)] + [(1, 0)]  # the verl batch: 4 rollouts, then the demonstration
    old, new, _, mask, _ = ragged_batch(7, b=5, t=6)
    mask[2] = 1.0  # no empty row here
    max_len = 6
    fields = hv.hybrid_batch_fields(update, order, max_len)
    hv.fill_norm_counts(fields, mask, [t.norm_group for t in update.terms])
    specs = [hv.TermSpec(t.preset, ctrl.weighting_of(update).weight(t.name)) for t in update.terms]
    loss_fn = hv.make_hybrid_loss_fn(specs)
    data = {"response_mask": mask, "old_log_probs": old, "dp_size": 1, **fields}
    loss, _ = loss_fn(OmegaConf.create({"clip_ratio": 0.2}), {"log_probs": new}, data)
    g, = torch.autograd.grad(loss, new)

    # written out: Dr. GRPO over the 4 kept rollouts (R = [1, 0, 1, 1], A = R - 0.75), PPO clip 0.2,
    # Σ tokens / max_len / 4 sequences; plus SFT: token-mean NLL of the demonstration (weight 1)
    a = torch.tensor([0.25, -0.75, 0.25, 0.25], dtype=new.dtype)[:, None]
    ratio = torch.exp(new[:4] - old[:4])
    pg = torch.maximum(-a * ratio, -a * ratio.clamp(0.8, 1.2))
    if balance == "term_mean":
        expected = (pg * mask[:4]).sum() / max_len / 4 + (-new[4] * mask[4]).sum() / mask[4].sum()
    else:  # one vote per question: (1/2)[Dr. GRPO of prompt 1 (Σ/max_len/4) + Σ NLL of τ*_0 / max_len]
        expected = ((pg * mask[:4]).sum() / max_len / 4 + (-new[4] * mask[4]).sum() / max_len) / 2
    g_exp, = torch.autograd.grad(expected, new)
    assert abs(float(loss) - float(expected)) <= TOL and float((g - g_exp).abs().max()) <= TOL

    # two micro-batches (rows 0-2, rows 3-4) with the same global counts sum to the whole
    parts = []
    for rows_ in (slice(0, 3), slice(3, 5)):
        sub = {k: (v[rows_] if torch.is_tensor(v) and v.dim() else v) for k, v in data.items()}
        parts.append(loss_fn(OmegaConf.create({"clip_ratio": 0.2}), {"log_probs": new[rows_]}, sub)[0])
    assert abs(float(sum(parts)) - float(loss)) <= TOL
    assert hy_agg  # the one aggregation both paths use


EXAMPLES = sorted((__import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / "verl").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configs_fit_verls_config(path):
    """Every key of an example exists in verl's own PPO config (struct merge), and its loss and
    advantage estimator are registered (the configs are not run: verl's trainer needs GPUs)."""
    import importlib.resources

    base = OmegaConf.load(importlib.resources.files("verl.trainer.config") / "_generated_ppo_trainer.yaml")
    ours = OmegaConf.load(path)
    for key in ("hydra", "defaults"):
        ours.pop(key)
    OmegaConf.set_struct(base, True)
    merged = OmegaConf.merge(base, ours)  # raises on a key verl does not have
    core_algos.get_policy_loss_fn(merged.actor_rollout_ref.actor.policy_loss.loss_mode)
    if merged.algorithm.adv_estimator.startswith(hv.PREFIX):
        core_algos.get_adv_estimator_fn(merged.algorithm.adv_estimator)
    assert merged.actor_rollout_ref.actor.loss_agg_mode in MODES
