"""rollout_dtype: a bf16 / int8 copy of the policy for HF generate, refreshed after every step."""

import sys
from pathlib import Path

import pytest
import torch

from hybridrl.rollout.precision import RolloutWeights, choose_rollout_dtype

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "methods"))


@pytest.mark.parametrize("requested, cuda, bf16, kernel, expected", [
    ("auto", False, True, True, "bf16"),     # AVX-512 BF16 / AMX CPU: bf16 is native
    ("auto", False, False, True, "fp32"),    # no native bf16: fp32 (int8's activations are bf16)
    ("auto", True, True, True, "bf16"),      # a GPU
    ("auto", True, False, True, "fp32"),     # (a GPU without bf16)
    ("int8", False, True, True, "int8"),     # as asked
    ("int8", False, False, True, "int8"),    # as asked, even where bf16 is emulated
    ("fp32", False, True, True, "fp32"),
    ("bf16", False, False, True, "bf16"),    # asked for, even where emulated
])
def test_auto_picks_the_fastest_safe_precision_for_the_machine(requested, cuda, bf16, kernel, expected):
    assert choose_rollout_dtype(requested, cuda=cuda, native_bf16=bf16, int8_kernel=kernel)[0] == expected


def test_impossible_requests_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="CPU-only"):
        choose_rollout_dtype("int8", cuda=True, native_bf16=True)
    with pytest.raises(ValueError, match="no torch._weight_int8pack_mm"):
        choose_rollout_dtype("int8", cuda=False, native_bf16=False, int8_kernel=False)
    with pytest.raises(ValueError, match="unknown 'fp8'"):
        choose_rollout_dtype("fp8", cuda=False, native_bf16=False)


def _int8_linears(m):
    from hybridrl.rollout.precision import Int8Linear

    return {n: x for n, x in m.named_modules() if isinstance(x, Int8Linear)}


def _fresh_int8(w):
    """int8 weight and per-output-channel scale of the float weight ``w``, spelled out again: scale
    = max |w_row| / 127 rounded up to a bf16 value, q = round(w / scale) (what Int8Linear must hold)."""
    w = w.detach().float()
    target = w.abs().amax(dim=1) / 127
    scale = target.to(torch.bfloat16)
    up = torch.nextafter(scale, torch.full_like(scale, float("inf")))  # the next bf16 up
    scale = torch.where(scale.float() < target, up, scale)
    return torch.round(w / scale.float()[:, None]).to(torch.int8), scale


def test_int8_quantises_per_output_channel_by_hand():
    """A 2 x 4 weight, by hand. Row 0: max |w| = 2.54, 2.54 / 127 = 0.02, the bf16 at or above it
    is 0.02001953125; q = round(w / 0.0200195) = round([126.88, -63.94, 0, 0.999]) = [127, -64, 0, 1].
    Row 1: 0.127 / 127 = 0.001, its nearest bf16 0.00099945 is below, so the next one up,
    0.00099945 + 2^-17 = 0.00100708; q = round([2.98, 126.11, -126.11, -49.45]) = [3, 126, -126, -49]."""
    from hybridrl.rollout.precision import Int8Linear

    lin = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[2.54, -1.28, 0.0, 0.02], [0.003, 0.127, -0.127, -0.0498]]))
    q = Int8Linear(lin)
    assert q.qweight.tolist() == [[127, -64, 0, 1], [3, 126, -126, -49]]
    assert q.scales.float().tolist() == [0.02001953125, 0.001007080078125]
    x = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    # y = scale * (q . x): row 0: 0.0200195 * 64 = 1.28125; row 1: 0.00100708 * (-46) = -0.046326
    assert torch.allclose(q(x).float(), torch.tensor([[1.28125, -0.046326]]), rtol=4e-3)


@pytest.mark.parametrize("k", [32, 64, 576])
def test_int8_kernel_equals_the_dequantised_product(k):
    """Where the int8 kernel runs (in_features % 32 == 0) it computes x @ (q * scale)^T, the
    fallback's product (bf16 output: within 1% of the largest output)."""
    from hybridrl.rollout.precision import Int8Linear

    torch.manual_seed(0)
    q = Int8Linear(torch.nn.Linear(k, 48))
    x = torch.randn(5, k)
    ref = x @ q.dequantized().T + q.bias.float()
    out = q(x).float()
    assert out.shape == (5, 48)
    assert float((out - ref).abs().max()) <= 0.01 * float(ref.abs().max())


def test_int8_refresh_equals_a_fresh_quantisation_and_does_not_copy_the_model():
    """Each refresh re-quantises the Linear layers in place: the result is what a fresh copy
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
        assert torch.equal(w.module[i].qweight, fresh[i].qweight)
        assert torch.equal(w.module[i].scales, fresh[i].scales)
        assert torch.equal(w.module[i].bias, fresh[i].bias)
        q, scale = _fresh_int8(src[i].weight)
        assert torch.equal(w.module[i].qweight, q) and torch.equal(w.module[i].scales, scale)
    assert torch.equal(w.module[0].weight, src[0].weight.to(torch.bfloat16))  # float layers copied (bf16)
    x = torch.tensor([[1, 2, 3]])
    assert torch.equal(w.module(x), fresh(x))


def test_int8_copy_is_quantised_and_follows_every_refresh():
    from hybridrl.rollout.precision import Int8Linear

    torch.manual_seed(0)
    src = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    w = RolloutWeights(src, "int8")
    q = w.module[0]
    assert isinstance(q, Int8Linear) and q.qweight.dtype == torch.int8
    x = torch.randn(3, 8)
    # per output channel: each weight within half a quantisation step (its row's scale) of the fp32 one
    half_step = q.scales.float()[:, None] / 2
    assert bool(((q.dequantized() - src[0].weight).abs() <= half_step + 1e-7).all())
    assert torch.allclose(w.module(x).float(), src(x), atol=0.05)
    with torch.no_grad():  # an optimizer step moves the training weights
        src[0].weight.add_(1.0)
    before = w.module[0].dequantized()
    w.refresh(src)
    after = w.module[0].dequantized()
    assert float((after - before).abs().mean()) > 0.9  # the copy moved with the training weights
    assert bool(((after - src[0].weight).abs() <= w.module[0].scales.float()[:, None] / 2 + 1e-7).all())
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
            if dtype == "int8" and k.rsplit(".", 1)[0] in _int8_linears(t.generator.weights.module):
                q = _int8_linears(t.generator.weights.module)[k.rsplit(".", 1)[0]]
                if k.endswith(".weight"):  # the int8 weight is the quantisation of this step's
                    qw, scale = _fresh_int8(v)
                    assert torch.equal(q.qweight, qw) and torch.equal(q.scales, scale), k
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
