"""rollout_dtype: a bf16 / int8 copy of the policy for HF generate, refreshed after every step."""

import sys
from pathlib import Path

import pytest
import torch

from hybridrl.rollout.precision import RolloutWeights, choose_rollout_dtype

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "methods"))


@pytest.mark.parametrize("requested, cuda, bf16, engines, expected", [
    ("auto", False, True, ["x86"], "bf16"),     # AVX-512 BF16 / AMX CPU: bf16 is native
    ("auto", False, False, ["x86"], "int8"),    # no native bf16: int8 kernels
    ("auto", False, False, ["fbgemm"], "int8"),
    ("auto", False, False, ["qnnpack"], "fp32"),  # no x86/fbgemm/onednn kernels: stay fp32
    ("auto", True, True, ["x86"], "bf16"),      # a GPU
    ("auto", True, False, ["x86"], "fp32"),     # (a GPU without bf16): int8 dynamic is CPU-only
    ("int8", False, True, ["x86"], "int8"),     # as asked
    ("fp32", False, True, ["x86"], "fp32"),
    ("bf16", False, False, ["x86"], "bf16"),    # asked for, even where emulated
])
def test_auto_picks_the_fastest_safe_precision_for_the_machine(requested, cuda, bf16, engines, expected):
    assert choose_rollout_dtype(requested, cuda=cuda, native_bf16=bf16, int8_engines=engines)[0] == expected


def test_impossible_requests_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="CPU-only"):
        choose_rollout_dtype("int8", cuda=True, native_bf16=True, int8_engines=["x86"])
    with pytest.raises(ValueError, match="no x86/fbgemm"):
        choose_rollout_dtype("int8", cuda=False, native_bf16=False, int8_engines=["qnnpack"])
    with pytest.raises(ValueError, match="unknown 'fp8'"):
        choose_rollout_dtype("fp8", cuda=False, native_bf16=False, int8_engines=["x86"])


def _float_linears(m):
    return {n: p for n, p in m.named_parameters() if n.endswith("weight")}


def _qlinears(m):
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    return {n: x for n, x in m.named_modules() if isinstance(x, QLinear)}


def _fresh_int8(w):
    """What quantize_dynamic makes of the float weight ``w`` (its default observer)."""
    from torch.ao.nn.quantized.modules.utils import _quantize_weight
    from torch.ao.quantization import default_dynamic_qconfig

    obs = default_dynamic_qconfig.weight()
    obs(w.detach().float())
    return _quantize_weight(w.detach().float(), obs)


def test_int8_refresh_equals_a_fresh_quantisation_and_does_not_copy_the_model():
    """Each refresh re-quantises the Linear layers in place: the result is what quantize_dynamic
    makes of the new weights (bit for bit), the other parameters follow, and no new module is
    built (a copy per refresh grew a SmolLM2 run by ~100 MB a step)."""
    from hybridrl.rollout.precision import _quantize

    torch.manual_seed(0)
    src = torch.nn.Sequential(torch.nn.Embedding(10, 8), torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    w = RolloutWeights(src, "int8")
    module, lin = w.module, w.module[1]
    with torch.no_grad():
        for p in src.parameters():
            p.mul_(1.5).add_(0.01)
    w.refresh(src)
    assert w.module is module and w.module[1] is lin  # refreshed in place
    fresh = _quantize(src)
    for i in (1, 3):
        assert torch.equal(w.module[i].weight().int_repr(), fresh[i].weight().int_repr())
        assert w.module[i].weight().q_scale() == fresh[i].weight().q_scale()
        assert torch.equal(w.module[i].bias(), fresh[i].bias())
    assert torch.equal(w.module[0].weight, src[0].weight)  # float layers copied
    x = torch.tensor([[1, 2, 3]])
    assert torch.equal(w.module(x), fresh(x))


def test_int8_copy_is_quantised_and_follows_every_refresh():
    torch.manual_seed(0)
    src = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    w = RolloutWeights(src, "int8")
    q = w.module[0]
    assert type(q).__module__.startswith("torch.ao.nn.quantized")  # a dynamic int8 Linear
    x = torch.randn(3, 8)
    # int8 per-tensor: each weight within half a quantisation step of the fp32 one
    deq = q.weight().dequantize()
    assert float((deq - src[0].weight).abs().max()) <= q.weight().q_scale() / 2 + 1e-7
    assert torch.allclose(w.module(x), src(x), atol=0.05)
    with torch.no_grad():  # an optimizer step moves the training weights
        src[0].weight.add_(1.0)
    before = w.module[0].weight().dequantize()
    w.refresh(src)
    after = w.module[0].weight().dequantize()
    assert float((after - before).abs().mean()) > 0.9  # the copy moved with the training weights
    assert float((after - src[0].weight).abs().max()) <= w.module[0].weight().q_scale() / 2 + 1e-7
    assert w.refreshes == 1 and w.last_refresh_s > 0
    # the training model's own weights are untouched and still train
    assert src[0].weight.requires_grad and src[0].weight.dtype == torch.float32


def test_bf16_copy_and_refresh_from_a_state_dict_callable():
    src = torch.nn.Linear(4, 4)
    w = RolloutWeights(src, "bf16")
    assert w.module.weight.dtype == torch.bfloat16
    new = {k: v + 1 for k, v in src.state_dict().items()}
    w.refresh(lambda: new)  # FSDP2 hands a callable that gathers the full state dict
    assert torch.equal(w.module.weight, new["weight"].to(torch.bfloat16))


@pytest.mark.parametrize("dtype", ["int8", "bf16"])
def test_the_trainer_refreshes_the_copy_after_every_step_and_corrects_with_is(tmp_path, dtype):
    from test_integration import make_trainer

    t = make_trainer(tmp_path, "grpo", "even_length", rollout_dtype=dtype)
    assert t.generator.precision == dtype and t.opt.settings.vllm_importance_sampling_correction
    for s in range(2):
        rec = t.step(s)
        # the copy holds the weights of the step just taken (a refresh skipped would leave the
        # previous ones): compare the copy's float source with the training model
        own = t.generator.weights.module.state_dict()
        for k, v in t.model.state_dict().items():
            if dtype == "int8" and k.rsplit(".", 1)[0] in _qlinears(t.generator.weights.module):
                q = _qlinears(t.generator.weights.module)[k.rsplit(".", 1)[0]]
                if k.endswith(".weight"):  # the int8 weight is the quantisation of this step's
                    assert torch.equal(q.weight().int_repr(), _fresh_int8(v).int_repr()), k
                    assert q.weight().q_scale() == _fresh_int8(v).q_scale(), k
                continue
            assert torch.equal(own[k], v.to(own[k].dtype)), k
        assert t.generator.weights.refreshes == s + 1
        assert t.generator.model is t.generator.weights.module
        # sampling log-probs come from the copy: the mismatch is logged and IS weights applied
        assert rec["pg/rollout_logprob_diff_mean"] > 0 and "pg/is_weight_mean" in rec
        assert rec["time/rollout_refresh"] >= 0


def test_fp32_rollouts_use_the_training_weights_and_no_correction(tmp_path):
    from hybridrl.rollout.generator import HFGenerator
    from test_integration import make_trainer

    t = make_trainer(tmp_path, "grpo", "even_length")
    assert t.cfg.rollout_dtype == "fp32" and type(t.generator) is HFGenerator
    assert not t.opt.settings.vllm_importance_sampling_correction
    rec = t.step(0)
    assert "pg/is_weight_mean" not in rec and "time/rollout_refresh" not in rec
