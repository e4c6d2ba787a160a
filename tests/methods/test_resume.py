"""Every controller resumes exactly: 6 scripted steps == 3 steps + checkpoint + 3 steps.

The mini loop (``run_steps``) calls needs -> plan -> the update's weighting -> observe ->
metrics in the loop's order, trains learnable weights with SGD on scripted term losses,
and feeds grad norms that vary by step; the state goes through torch.save/load.
"""

import pytest

from hybridrl.core.presets import PRESETS
from hybridrl.methods.auto import AutoController
from hybridrl.methods.hpt import HPTController
from hybridrl.methods.luffy import LUFFYController
from hybridrl.methods.sasr import SASRController, SSRController, SSRCosineController, StaticHybridController
from hybridrl.methods.srft import SRFTController
from hybridrl.methods.superrl import SuperRLController
from methods_test_helpers import checkpoint_roundtrip, make_config, run_steps

PROBE = dict(superrl_k=2, superrl_m=2, superrl_increase_threshold=2, superrl_avg_threshold=0.9)

CASES = {
    "hpt": (HPTController, dict(hpt_remove_sft_solved=True)),
    "hpt_linear_mix": (HPTController, dict(hpt_alpha_fn="linear", hpt_variant="mix")),
    "superrl": (SuperRLController, PROBE),
    "superrl_theta": (SuperRLController, dict(superrl_variant="theta", **PROBE)),
    "superrl_per_step": (SuperRLController, dict(superrl_variant="per_step", **PROBE)),
    "superrl_dense": (SuperRLController, dict(PROBE, superrl_avg_threshold=0.0)),
    "sasr": (SASRController, dict(sasr_warmup_steps=2, sasr_gamma=0.5)),
    "ssr": (SSRController, {}),
    "ssr_cosine": (SSRCosineController, dict(ssr_cosine_upper=0.7, ssr_cosine_lower=0.2)),
    "static_hybrid": (StaticHybridController, dict(static_hybrid_sft=1, static_hybrid_rl=1, static_hybrid_repeat=True)),
    "luffy": (LUFFYController, dict(luffy_n_off=2)),
    "srft": (SRFTController, {}),
    "auto_hpt": (AutoController, PROBE),
    "auto_superrl": (AutoController, dict(auto_sparse_method="superrl", **PROBE)),
    "auto_sasr": (AutoController, dict(auto_sparse_method="sasr", sasr_warmup_steps=1, **PROBE)),
    "auto_dense": (AutoController, dict(PROBE, superrl_avg_threshold=0.0)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_resume_is_identical(name):
    cls, opts = CASES[name]
    cfg = make_config(**opts)
    straight = run_steps(cls(cfg), cfg, range(6))
    first = cls(cfg)
    head = run_steps(first, cfg, range(3))
    resumed = cls(cfg)
    resumed.load_state_dict(checkpoint_roundtrip(first.state_dict()))
    tail = run_steps(resumed, cfg, range(3, 6))
    assert head + tail == straight
    # every preset a plan names exists in the estimator
    for _, plan, *_ in straight:
        for _, terms in plan:
            assert all(t[1] in PRESETS for t in terms)


@pytest.mark.parametrize("name", ["sasr", "ssr_cosine", "superrl", "auto_superrl"])
def test_script_is_not_trivial(name):
    """The resume test would pass vacuously if nothing changed between steps."""
    cls, opts = CASES[name]
    cfg = make_config(**opts)
    log = run_steps(cls(cfg), cfg, range(6))
    kinds = [tuple(u[0] for u in plan) for _, plan, *_ in log]
    assert len(set(kinds)) > 1
    if "superrl" in name:
        weights = [w for _, _, ws, _, _ in log for w in ws if w]
        assert len({tuple(sorted(w.items())) for w in weights}) > 1  # the sigmas moved
