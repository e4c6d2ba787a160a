"""The plain controllers (SFT, the RL presets, SFT→RL) with scripted inputs: what each step
asks the loop for, the plan it returns and the metrics it logs (#18: these were reached only by
the loop-level integration tests, which the mutation run leaves out)."""

import pytest
import torch

from hybridrl.methods.plain import RLController, SFTController, SFTThenRLController, demo_term, rollout_term
from methods_test_helpers import ctx, demo_only, describe, make_batch, make_config, make_rows

# two prompts x 4 rollouts; rewards 1,0,0,0 | 1,1,0,0
CORRECT = [[1, 0, 0, 0], [1, 1, 0, 0]]


def sft_then_rl(sft_steps):
    cfg = make_config()
    cfg.sft_then_rl_sft_steps = sft_steps
    return SFTThenRLController(cfg)


def test_sft_controller_trains_every_demonstration_without_rollouts():
    c = SFTController(make_config())
    needs = c.needs(ctx(0))
    assert needs.rollouts is False and needs.rollouts_per_prompt is None and needs.reset_reference is False
    rows = make_rows(3, demos=[True, False, True])
    # one "sft" update, one term on the rows with a demonstration (0 and 2), advantage None (Â ≡ 1)
    assert describe(c.plan(ctx(0), demo_only(rows))) == [("sft", [("sft", "sft", "demo", [0, 2], None, None, None)])]
    assert c.metrics() == {"sft_fraction": 1.0}


@pytest.mark.parametrize("preset", ["grpo", "dr_grpo", "rloo", "reinforce"])
def test_rl_controller_plans_one_rl_term_with_its_estimator(preset):
    c = RLController(make_config(), preset=preset)
    assert c.preset == preset and c.presets() == {preset}
    [u] = c.plan(ctx(0), make_batch(make_rows(2), CORRECT))
    # group means 1/4 and 2/4
    want = {
        # Dr. GRPO: R - mean: 0.75, -0.25 x3 | 0.5, 0.5, -0.5, -0.5
        "dr_grpo": [0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5],
        # REINFORCE: ±1 by R > 0
        "reinforce": [1.0, -1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0],
        # RLOO: R - mean of the other 3: 1 - 0 = 1, 0 - 1/3 | 1 - 1/3 = 2/3 x2, 0 - 2/3 x2
        "rloo": [1.0, -1 / 3, -1 / 3, -1 / 3, 2 / 3, 2 / 3, -2 / 3, -2 / 3],
        # GRPO: (R - mean) / unbiased std. group 0: var = (0.75² + 3·0.25²) / 3 = 0.75 / 3 = 0.25,
        #   std 0.5 -> 1.5, -0.5 x3; group 1: var = 4·0.5² / 3 = 1/3, std 0.57735 -> ±0.5/0.57735 = ±0.866025
        "grpo": [1.5, -0.5, -0.5, -0.5, 0.866025, 0.866025, -0.866025, -0.866025],
    }[preset]
    assert u.kind == "rl" and [(t.name, t.preset, t.source) for t in u.terms] == [("pg", preset, "rollout")]
    assert u.terms[0].indices.tolist() == list(range(8))
    assert u.terms[0].advantages.tolist() == pytest.approx(want, abs=1e-5)
    assert c.metrics() == {"sft_fraction": 0.0}


def test_rl_controller_defaults_to_the_configured_preset():
    cfg = make_config(rl_preset="rloo")
    c = RLController(cfg)
    assert c.preset == "rloo" and c.config is cfg


def test_rollout_term_for_gae_given_and_selected_samples():
    data = make_batch(make_rows(2), CORRECT, rewards=[[1.0, 0.0, 0.5, 0.0], [0.25, 1.0, 0.0, 0.0]])
    assert rollout_term("pg", "ppo", data).advantages is None  # GAE: the loop computes it from the critic
    assert rollout_term("pg", "srft", data).advantages.tolist() == [1.0, 0.0, 0.5, 0.0, 0.25, 1.0, 0.0, 0.0]
    t = rollout_term("x", "dr_grpo", data, indices=torch.tensor([0, 2, 5]))
    # groups restricted to the selection: {1.0, 0.5} mean 0.75 -> 0.25, -0.25; {1.0} -> 0
    assert (t.name, t.indices.tolist()) == ("x", [0, 2, 5]) and t.advantages.tolist() == [0.25, -0.25, 0.0]


def test_demo_term_on_chosen_rows():
    rows = make_rows(3, demos=[True, False, True])
    t = demo_term(demo_only(rows), rows=[2], preset="srft_sft", name="d")
    assert (t.name, t.preset, t.source, t.indices.tolist()) == ("d", "srft_sft", "demo", [2])
    assert t.indices.dtype.is_floating_point is False


def test_sft_then_rl_switches_at_the_configured_step_and_resets_the_reference_once():
    c = sft_then_rl(2)
    assert c.config.sft_then_rl_sft_steps == 2 and c.sft_steps == 2 and c.preset == "grpo" and c.presets() == {"grpo"}
    rows = make_rows(2, demos=[True, False])
    log = []
    for s in range(4):
        n = c.needs(ctx(s))
        data = make_batch(rows, CORRECT) if n.rollouts else demo_only(rows)
        [u] = c.plan(ctx(s), data)
        log.append((n.rollouts, n.reset_reference, u.kind, [(t.name, t.preset, t.source) for t in u.terms],
                    c.metrics()))
    sft = (False, False, "sft", [("sft", "sft", "demo")], {"sft_fraction": 1.0, "phase": "sft"})
    rl = [("pg", "grpo", "rollout")]
    assert log == [
        sft, sft,
        (True, True, "rl", rl, {"sft_fraction": 0.0, "phase": "rl"}),  # step 2 = sft_steps: reset π_ref
        (True, False, "rl", rl, {"sft_fraction": 0.0, "phase": "rl"}),
    ]


def test_sft_then_rl_before_any_step_and_with_no_sft_steps():
    c = sft_then_rl(0)
    assert c.metrics() == {"sft_fraction": 1.0, "phase": "sft"}  # nothing chosen yet: starts in SFT
    n = c.needs(ctx(0))
    assert n.rollouts is True and n.reset_reference is True  # RL from step 0, reference = the start model
    [u] = c.plan(ctx(0), make_batch(make_rows(2), CORRECT))
    assert u.kind == "rl" and c.metrics()["phase"] == "rl"


def test_presets_default_is_the_preset_attribute_when_it_is_a_name():
    from hybridrl.methods.base import Controller

    c = Controller(make_config())
    assert c.presets() == set()  # no preset attribute
    c.preset = None
    assert c.presets() == set()  # not a preset name
    c.preset = "ppo"
    assert c.presets() == {"ppo"}


def test_controller_metrics_survive_a_checkpoint():
    from hybridrl.methods.base import Controller

    c = Controller(make_config())
    c._metrics = {"a": 1.0}
    state = c.state_dict()
    assert state == {"metrics": {"a": 1.0}}
    d = Controller(make_config())
    d.load_state_dict(state)
    assert d.metrics() == {"a": 1.0}
    d.load_state_dict({})  # a state without metrics
    assert d.metrics() == {}
