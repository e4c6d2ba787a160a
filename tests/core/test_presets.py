"""Presets: hand values for every preset, gradient identities, micro-batch invariance."""

import math

import pytest
import torch

from hybridrl.core.advantages import ADVANTAGES, grpo_advantages
from hybridrl.core.aggregation import AGG_MODES, agg_loss
from hybridrl.core.presets import PRESETS, Preset, get_preset, term_loss

REQUIRED = {"sft", "reinforce", "rloo", "ppo", "grpo", "dr_grpo", "dapo", "gspo", "cispo",
            "luffy_off_policy", "srft", "srft_sft"}


def test_registry_and_errors():
    assert REQUIRED <= set(PRESETS)
    for p in PRESETS.values():
        assert p.advantage in (*ADVANTAGES, "constant", "gae", "given")
        assert p.agg_mode in AGG_MODES
        assert p.doc
    with pytest.raises(ValueError, match="dr_grpo"):  # lists the valid names
        get_preset("grpoo")
    assert get_preset(PRESETS["grpo"]) is PRESETS["grpo"]
    with pytest.raises(ValueError, match="agg_mode"):
        Preset("x", "rollout", None, "ppo", "grpo", "mean", "doc")


def test_paper_aggregation_modes():
    assert PRESETS["sft"].agg_mode == "token-mean"
    assert PRESETS["grpo"].agg_mode == "token-mean"
    assert PRESETS["dr_grpo"].agg_mode == "seq-mean-token-sum-norm"
    assert PRESETS["dapo"].agg_mode == "token-mean"
    assert PRESETS["gspo"].agg_mode == "seq-mean-token-mean"


# One sequence of two tokens: logp = [-0.5, -1.0], old = [-0.6, -1.3]
#   log ratios [0.1, 0.3] -> r = [1.1051709, 1.3498588];  π = [e^-0.5, e^-1] = [0.6065307, 0.3678794]
#   token entropies [1, 3] -> H = 2
LOGP = [[-0.5, -1.0]]
OLD = [[-0.6, -1.3]]
CASES = [
    # name, advantages, expected per-token loss, expected aggregated loss (max_len = 4)
    ("sft", None, [0.5, 1.0], 0.75),  # -logp ; token-mean (0.5+1)/2
    ("reinforce", [1.0], [0.5, 1.0], 1.5),  # -A logp ; token sum / 1 seq
    ("rloo", [-0.5], [-0.25, -0.5], -0.75),  # -(-0.5)(-0.5) = -0.25 ; sum
    ("ppo", [1.0], [-1.1051709, -1.2], -1.1525855),  # r2 clipped to 1.2 ; mean
    ("grpo", [1.0], [-1.1051709, -1.2], -1.1525855),
    # luffy on-policy: unclipped (official loss_remove_clip) ; Σ / max_len 4 / 1 seq
    #   -(1.1051709 + 1.3498588) / 4 = -2.4550297 / 4
    ("luffy_on_policy", [1.0], [-1.1051709, -1.3498588], -0.6137574),
    # hpt official RL: same unclipped surrogate, Σ / max_len without / #seqs (1 seq here)
    ("hpt_rl_official", [1.0], [-1.1051709, -1.3498588], -0.6137574),
    # grpo_dual with A = -1: ppo gives max(1.1051709, 0.9 -> clipped? r in [0.8, 1.2]: r1 = 1.105 in
    #   range -> 1.1051709 ; r2 = 1.3498588 > 1.2 -> max(1.3498588, 1.2) = 1.3498588) ; both < cap 3
    ("grpo_dual", [-1.0], [1.1051709, 1.3498588], 1.2275149),
    ("dr_grpo", [1.0], [-1.1051709, -1.2], -0.5762927),  # -2.3051709 / max_len 4 / 1 seq
    ("dapo", [1.0], [-1.1051709, -1.28], -1.1925855),  # eps_high 0.28: r2 -> 1.28
    # gspo: s = e^0.2 = 1.2214028 -> clip to 1 + 4e-4 on both tokens
    ("gspo", [1.0], [-1.0004, -1.0004], -1.0004),
    # cispo: w = clip(r, 0, 1.2) = [1.1051709, 1.2] ; -w A logp = [0.5525855, 1.2]
    ("cispo", [1.0], [0.5525855, 1.2], 0.8762927),
    # luffy: f(π) = π/(π+0.1) = [0.8584633, 0.7862697] ; -A f ; Σ / max_len 4 / 1 seq
    #   = -1.6447330 / 4
    ("luffy_off_policy", [1.0], [-0.8584633, -0.7862697], -0.4111833),
    ("hpt_off_official", [1.0], [-0.8584633, -0.7862697], -0.4111833),
    # srft offline (official p_div_p_0.1 shaping): the same as LUFFY's off-policy term
    ("srft_off_policy", [1.0], [-0.8584633, -0.7862697], -0.4111833),
    # srft positive: H_0 = (1+3)/2 = 2, w = 0.1 e^2 = 0.7389056 ; -w logp = [0.3694528, 0.7389056]
    #   Σ / max_len 4 / 1 seq = 1.1083584 / 4
    ("srft", [1.0], [0.3694528, 0.7389056], 0.2770896),
    # srft negative: w = -1 ; -(-1) logp = logp ; -1.5 / 4
    ("srft", [0.0], [-0.5, -1.0], -0.375),
    # srft_sft: w = 0.5 e^-2 = 0.0676676 ; -w logp = [0.0338338, 0.0676676]
    ("srft_sft", None, [0.0338338, 0.0676676], 0.0507507),
    # hpt official SFT: -logp ; one sequence's token mean (0.5+1)/2, summed over 1 sequence
    ("hpt_sft_official", None, [0.5, 1.0], 0.75),
]


@pytest.mark.parametrize("name,adv,expected,expected_agg", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_preset_hand_values(name, adv, expected, expected_agg):
    p = PRESETS[name]
    logp = torch.tensor(LOGP, dtype=torch.float64, requires_grad=True)
    old = torch.tensor(OLD, dtype=torch.float64)
    mask = torch.ones(1, 2)
    a = None if adv is None else torch.tensor(adv, dtype=torch.float64)
    loss, metrics = term_loss(name, logp, old, a, mask, entropy=torch.tensor([[1.0, 3.0]]))
    assert torch.allclose(loss, torch.tensor([expected], dtype=torch.float64), atol=1e-6, rtol=0)
    total = agg_loss(loss, mask, p.agg_mode, max_len=4)
    assert total.item() == pytest.approx(expected_agg, abs=1e-6)
    assert all(not v.requires_grad for v in metrics.values())


def test_missing_inputs_raise():
    lp, mask = torch.zeros(1, 2), torch.ones(1, 2)
    with pytest.raises(ValueError, match="advantages"):
        term_loss("grpo", lp, lp, None, mask)
    with pytest.raises(ValueError, match="entropy"):
        term_loss("srft_sft", lp, None, None, mask)


# ---------------------------------------------------------------- gradient identities
def _policy(seed, n=4, t=6, v=11):
    """Logits as parameters; returns (params, logp fn, mask)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, t, v, generator=g, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, v, (n, t), generator=g)
    mask = torch.arange(t)[None] < torch.tensor([6, 2, 4, 5][:n])[:, None]

    def logp_of(lg):
        return torch.log_softmax(lg, -1).gather(-1, tokens[..., None]).squeeze(-1)

    return logits, logp_of, mask


@pytest.mark.parametrize("seed", range(3))
def test_sft_gradient_equals_token_mean_nll(seed):
    logits, logp_of, mask = _policy(seed)
    loss, _ = term_loss("sft", logp_of(logits), None, None, mask)
    (g,) = torch.autograd.grad(agg_loss(loss, mask, "token-mean"), logits)
    nll = -(logp_of(logits) * mask).sum() / mask.sum()  # reference NLL (no garbage here)
    (g_ref,) = torch.autograd.grad(nll, logits)
    assert torch.allclose(g, g_ref, atol=1e-12)
    # and the value is the NLL itself
    assert torch.allclose(agg_loss(loss, mask, "token-mean"), nll, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_grpo_at_ratio_one_equals_reinforce_with_normalised_advantages(seed):
    logits, logp_of, mask = _policy(seed)
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    adv = grpo_advantages(rewards, torch.tensor([0, 0, 1, 1]) if seed else torch.zeros(4, dtype=torch.long))
    logp = logp_of(logits)
    loss, m = term_loss("grpo", logp, logp.detach(), adv, mask)  # on-policy: ratio 1, nothing clipped
    assert m["clipfrac"].item() == 0.0
    (g,) = torch.autograd.grad(agg_loss(loss, mask, "token-mean"), logits)
    pg = -(adv[:, None] * logp_of(logits) * mask).sum() / mask.sum()  # REINFORCE, token-mean
    (g_ref,) = torch.autograd.grad(pg, logits)
    assert torch.allclose(g, g_ref, atol=1e-12)


def test_srft_entropy_carries_no_gradient():
    logits, logp_of, mask = _policy(0)
    ent = torch.rand(4, 6, dtype=torch.float64, requires_grad=True)
    loss, _ = term_loss("srft", logp_of(logits), None, torch.tensor([1.0, 0, 1, 0]), mask, entropy=ent)
    agg_loss(loss, mask, "token-mean").backward()
    assert ent.grad is None


# ---------------------------------------------------------------- micro-batch invariance per preset
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_microbatch_split_equals_whole(name):
    p = PRESETS[name]
    logits, logp_of, mask = _policy(5)
    g = torch.Generator().manual_seed(1)
    old = logp_of(logits).detach() + 0.2 * torch.randn(4, 6, generator=g, dtype=torch.float64)
    adv = None if p.advantage == "constant" else torch.tensor([1.0, 0.0, -0.5, 2.0], dtype=torch.float64)
    ent = torch.tensor(1.3)  # step-level entropy (0-dim) for SRFT: layout independent

    def total(rows_list):
        out = 0.0
        for rows in rows_list:
            loss, _ = term_loss(p, logp_of(logits)[rows], old[rows], None if adv is None else adv[rows],
                                mask[rows], entropy=ent)
            out = out + agg_loss(loss, mask[rows], p.agg_mode, num_tokens=mask.sum(),
                                 num_seqs=(mask.sum(-1) > 0).sum(), max_len=6)
        return out

    whole = total([[0, 1, 2, 3]])
    split = total([[0], [1, 2], [3]])
    (gw,) = torch.autograd.grad(whole, logits)
    (gs,) = torch.autograd.grad(split, logits)
    assert torch.allclose(whole, split, atol=1e-12)
    assert torch.allclose(gw, gs, atol=1e-12)
    assert gw.abs().sum() > 0


# --- edges the mutation run found unpinned -------------------------------------------

def _one_token(preset, log_ratio, adv, entropy=None, **kw):
    """term_loss of one token with log π = -0.5, log π_old = -0.5 - log_ratio: (loss, metrics)."""
    lp = torch.tensor([[-0.5]], dtype=torch.float64)
    old = lp - log_ratio
    return term_loss(preset, lp, old, torch.tensor([adv], dtype=torch.float64), torch.ones(1, 1),
                     entropy=entropy, **kw)


def test_term_loss_passes_the_caller_clip_range():
    # r = e^0.3 = 1.3499, A = 1: GRPO's default ε = 0.2 clips it (1 + 0.2 < 1.35); ε_high = 0.4 does not
    assert _one_token("grpo", 0.3, 1.0)[1]["clipfrac_high"].item() == 1.0
    assert _one_token("grpo", 0.3, 1.0, eps_high=0.4)[1]["clipfrac_high"].item() == 0.0
    # r = e^-0.3 = 0.7408, A = -1: ε_low = 0.2 clips it (0.7408 < 0.8), ε_low = 0.3 does not (< 0.7)
    assert _one_token("grpo", -0.3, -1.0)[1]["clipfrac_low"].item() == 1.0
    assert _one_token("grpo", -0.3, -1.0, eps_low=0.3)[1]["clipfrac_low"].item() == 0.0
    # the preset's own paper value: CISPO ε_low = 1.0 (no lower bound): r = 0.7408 is not truncated
    assert _one_token("cispo", -0.3, -1.0)[1]["clipfrac_low"].item() == 0.0


def test_term_loss_passes_dual_clip_c_and_shaping_gamma():
    # grpo_dual, r = e^1 = 2.718, A = -1: PPO loss = max(2.718, 1.2) = 2.718; c = 2 caps it at
    # -A·c = 2 (dual clipped), the default c = 3 does not
    loss, m = _one_token("grpo_dual", 1.0, -1.0, dual_clip_c=2.0)
    assert loss.item() == pytest.approx(2.0) and m["dual_clipfrac"].item() == 1.0
    loss, m = _one_token("grpo_dual", 1.0, -1.0)
    assert loss.item() == pytest.approx(math.e) and m["dual_clipfrac"].item() == 0.0
    # LUFFY off-policy: r = π = e^-0.5 = 0.60653, f(r) = r / (r + γ); A = 1, loss = -f(r)
    #   γ = 0.1: 0.60653 / 0.70653 = 0.858464; γ = 1: 0.60653 / 1.60653 = 0.377541
    assert _one_token("luffy_off_policy", 0.0, 1.0)[0].item() == pytest.approx(-0.858464, abs=1e-6)
    assert _one_token("luffy_off_policy", 0.0, 1.0, shaping_gamma=1.0)[0].item() == pytest.approx(-0.377541, abs=1e-6)


def test_srft_presets_report_their_mean_weight():
    # srft_sft: w = 0.5·e^-H with H = 2: 0.0676676; srft rollout (A = 1 > 0): 0.1·e^2 = 0.7389056
    ent = torch.full((1, 1), 2.0, dtype=torch.float64)
    _, m = _one_token("srft_sft", 0.0, 1.0, entropy=ent)
    assert m["srft_weight_mean"].item() == pytest.approx(0.0676676, abs=1e-6)
    _, m = _one_token("srft", 0.0, 1.0, entropy=ent)
    assert m["srft_weight_mean"].item() == pytest.approx(0.7389056, abs=1e-6)
    assert "srft_weight_mean" not in _one_token("grpo", 0.0, 1.0)[1]


def test_preset_fields_are_checked_with_their_name():
    ok = dict(denominator="rollout", shaping=None, clip="ppo", advantage="grpo", agg_mode="token-mean")
    Preset("x", **ok, doc="d", weighting=None)  # valid
    Preset("x", **ok, doc="d", weighting="srft_sft")  # valid
    for field, bad in (("denominator", "nope"), ("shaping", "nope"), ("clip", "nope"), ("advantage", "nope"),
                       ("weighting", "nope")):
        kw = {**ok, "doc": "d", field: bad}
        with pytest.raises(ValueError, match=rf"^x: bad {field} 'nope'$"):
            Preset("x", **kw)
