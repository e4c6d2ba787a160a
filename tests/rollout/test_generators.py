"""Every generator (HF generate, vLLM when installed) on the tiny model: the same tests, the same
conventions: seeding, greedy, EOS/length handling, log-prob consistency with the training forward.

Engine-specific tests (HF chunking and autocast; vLLM weight sync) are marked as such or live in
test_vllm_generator.py. vLLM accepts temperatures up to 2 only, so no test here goes above.
"""

import pytest
import torch

from hybridrl.rollout.generator import Generator, HFGenerator
from hybridrl.rollout.logprobs import sequence_logprobs
from hybridrl.rollout.types import RolloutBatch, SamplingParams
from tests.rollout.conftest import tiny_pair

# log-probs vs the training forward, fp32: HF's come from the same kernels, cached vs uncached
# attention (measured 1.0e-5 on this model); vLLM's from its
# own (measured max |Δ| 1.6e-5 on this model), so a looser but still tight bound
LOGPROB_ATOL = {"hf": 3e-5, "vllm": 1e-4}


@pytest.fixture(scope="module")
def setup():
    model, tok = tiny_pair()
    prompts = [tok(t)["input_ids"] for t in ["What is 2+3?", "Hi", "A longer prompt, with $x^2$"]]
    return model, tok, prompts


def test_shapes_and_prompt_major_order(setup, make_generator):
    model, tok, prompts = setup
    gen = make_generator(model, tok)
    assert isinstance(gen, Generator)
    batch = gen.generate(prompts, SamplingParams(n=4, max_new_tokens=6, seed=0))
    assert isinstance(batch, RolloutBatch)
    assert batch.num_samples == 12
    assert batch.prompt_index.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert batch.prompt_ids == prompts
    assert batch.completion_ids.shape == batch.completion_mask.shape == batch.logprobs.shape == (12, 6)
    assert len(batch.texts) == len(batch.finish_reasons) == 12
    assert gen.last_stats["tokens"] == int(batch.completion_mask.sum())
    assert gen.last_stats["tokens_per_s"] > 0


def test_seed_reproducible_and_global_rng_untouched(setup, make_generator):
    model, tok, prompts = setup
    gen = make_generator(model, tok)
    params = SamplingParams(n=3, max_new_tokens=10, seed=7)
    rng_before = torch.get_rng_state()
    a = gen.generate(prompts, params)
    assert torch.equal(torch.get_rng_state(), rng_before)  # seeded calls leave the global RNG alone
    torch.rand(5)  # move the global RNG: a seeded call must not care
    b = gen.generate(prompts, params)
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert torch.equal(a.logprobs, b.logprobs)
    c = gen.generate(prompts, SamplingParams(n=3, max_new_tokens=10, seed=8))
    assert not torch.equal(a.completion_ids, c.completion_ids)
    # the n samples of one prompt differ from each other
    assert not torch.equal(a.completion_ids[0], a.completion_ids[1])


def test_greedy_is_deterministic_argmax(setup, make_generator, engine):
    model, tok, prompts = setup
    gen = make_generator(model, tok)
    params = SamplingParams(n=2, max_new_tokens=8, greedy=True, temperature=0.3)
    a = gen.generate(prompts, params)
    b = gen.generate(prompts, SamplingParams(n=2, max_new_tokens=8, greedy=True, seed=123))
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert torch.equal(a.completion_ids[0], a.completion_ids[1])  # both copies identical
    # Every greedy token is the argmax of the model's next-token distribution.
    for i in range(a.num_samples):
        n = int(a.completion_mask[i].sum())
        ids = torch.tensor([prompts[a.prompt_index[i]] + a.completion_ids[i, :n].tolist()])
        logits = model(ids).logits[0, -n - 1 : -1]
        assert logits.argmax(-1).tolist() == a.completion_ids[i, :n].tolist()
    # greedy log-probs are at temperature 1 whatever params.temperature says
    ref = sequence_logprobs(model, prompts, a.prompt_index, a.completion_ids, a.completion_mask)
    torch.testing.assert_close(a.logprobs, ref["logprobs"].detach(), atol=LOGPROB_ATOL[engine], rtol=0)


def test_max_length_truncation_flagged(setup, make_generator):
    model, tok, prompts = setup
    # No EOS can be produced before 5 tokens if we only stop on a token the model never emits.
    batch = make_generator(model, tok).generate(prompts, SamplingParams(n=2, max_new_tokens=5, seed=1))
    eos = tok.eos_token_id
    for i in range(batch.num_samples):
        has_eos = (batch.completion_ids[i][batch.completion_mask[i] > 0] == eos).any()
        assert batch.finish_reasons[i] == ("stop" if has_eos else "length")
        if not has_eos:
            assert batch.completion_mask[i].tolist() == [1.0] * 5
    assert "length" in batch.finish_reasons


def test_eos_stops_and_mask_ends_right_after_eos(setup, make_generator):
    model, tok, prompts = setup
    free = make_generator(model, tok).generate(prompts[:1], SamplingParams(n=1, max_new_tokens=12, greedy=True))
    seq = free.completion_ids[0].tolist()
    # Declare the token greedy decoding emits at step 3 an extra EOS: decoding must stop at its
    # first occurrence k, keep it (mask 1) and pad everything after it.
    stop = seq[3]
    k = seq.index(stop)
    batch = make_generator(model, tok, eos_token_ids=[stop]).generate(
        prompts[:1], SamplingParams(n=1, max_new_tokens=12, greedy=True)
    )
    assert batch.finish_reasons == ["stop"]
    assert batch.completion_ids[0, : k + 1].tolist() == seq[: k + 1]
    assert batch.completion_mask[0].tolist() == [1.0] * (k + 1) + [0.0] * (batch.completion_ids.shape[1] - k - 1)
    assert (batch.completion_ids[0, k + 1 :] == tok.pad_token_id).all()
    assert (batch.logprobs[0, k + 1 :] == 0).all() and (batch.logprobs[0, : k + 1] < 0).all()
    assert batch.texts[0] == tok.decode(seq[: k + 1], skip_special_tokens=True)


def test_eos_mixed_batch_pads_finished_rows(setup, make_generator):
    model, tok, prompts = setup
    # The tokenizer's own EOS: sample many rows at high temperature so some stop early.
    batch = make_generator(model, tok).generate(
        prompts, SamplingParams(n=16, max_new_tokens=40, temperature=2.0, seed=0)
    )
    eos = tok.eos_token_id
    lengths = batch.completion_mask.sum(1).long()
    stopped = [i for i, r in enumerate(batch.finish_reasons) if r == "stop"]
    assert stopped, "expected some EOS at T=2 over 48 x 40 tokens"
    assert len(stopped) < len(batch.finish_reasons)  # and some rows that ran to the length limit
    for i in stopped:
        n = int(lengths[i])
        assert batch.completion_ids[i, n - 1] == eos  # EOS is the last real token
        assert (batch.completion_ids[i, : n - 1] != eos).all()
        assert batch.completion_mask[i, :n].all() and not batch.completion_mask[i, n:].any()
        assert "<|im_end|>" not in batch.texts[i]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampling_logprobs_match_sequence_logprobs(setup, make_generator, engine, temperature):
    model, tok, prompts = setup
    batch = make_generator(model, tok).generate(
        prompts, SamplingParams(n=3, max_new_tokens=16, temperature=temperature, seed=3)
    )
    ref = sequence_logprobs(
        model, batch.prompt_ids, batch.prompt_index, batch.completion_ids, batch.completion_mask,
        temperature=temperature,
    )["logprobs"].detach()
    torch.testing.assert_close(batch.logprobs, ref, atol=LOGPROB_ATOL[engine], rtol=0)
    assert batch.logprobs[batch.completion_mask > 0].std() > 0.3  # not a near-uniform model
    # the temperature matters: recomputing at the wrong one does not match
    wrong = sequence_logprobs(
        model, batch.prompt_ids, batch.prompt_index, batch.completion_ids, batch.completion_mask,
        temperature=temperature + 0.5,
    )["logprobs"].detach()
    assert (wrong - batch.logprobs).abs().max() > 1e-2


def test_top_k_one_equals_greedy_and_top_k_zero_is_unrestricted(setup, make_generator):
    model, tok, prompts = setup
    gen = make_generator(model, tok)
    greedy = gen.generate(prompts, SamplingParams(n=1, max_new_tokens=8, greedy=True))
    topk1 = gen.generate(prompts, SamplingParams(n=1, max_new_tokens=8, top_k=1, seed=0))
    assert torch.equal(greedy.completion_ids, topk1.completion_ids)
    # top_k=0 must not fall back to HF's default top_k=50: at T=2 tokens ranked > 50 appear.
    hot = gen.generate(prompts[:1], SamplingParams(n=16, max_new_tokens=24, temperature=2.0, seed=0))
    ids, mask = hot.completion_ids, hot.completion_mask
    full = torch.cat([torch.tensor([prompts[0]] * 16), ids], dim=1)
    logits = model(full).logits[:, len(prompts[0]) - 1 : -1]
    ranks = (logits > logits.gather(-1, ids.unsqueeze(-1))).sum(-1)  # 0 = most likely
    assert ranks[mask > 0].max() >= 50


def test_hf_batch_size_chunks_give_same_greedy_result(setup):
    model, tok, prompts = setup
    params = SamplingParams(n=2, max_new_tokens=8, greedy=True)
    whole = HFGenerator(model, tok).generate(prompts, params)
    chunked = HFGenerator(model, tok, batch_size=4).generate(prompts, params)
    assert torch.equal(whole.completion_ids, chunked.completion_ids)
    torch.testing.assert_close(whole.logprobs, chunked.logprobs, atol=1e-5, rtol=0)


def test_hf_restores_train_mode_and_bf16_autocast(setup):
    model, tok, prompts = setup
    seen = []
    hook = model.lm_head.register_forward_hook(lambda m, i, o: seen.append((o.dtype, m.training)))
    try:
        model.train()
        HFGenerator(model, tok, bf16=True).generate(prompts[:1], SamplingParams(n=2, max_new_tokens=3, seed=0))
        assert model.training
        assert seen and all(d == torch.bfloat16 and not training for d, training in seen)
        seen.clear()
        model.eval()
        HFGenerator(model, tok).generate(prompts[:1], SamplingParams(n=2, max_new_tokens=3, seed=0))
        assert not model.training
        assert seen and all(d == torch.float32 for d, _ in seen)
    finally:
        hook.remove()
        model.train()


def test_rejects_empty_prompt(setup, make_generator):
    model, tok, _ = setup
    with pytest.raises(ValueError, match="non-empty"):
        make_generator(model, tok).generate([[]], SamplingParams(n=1, max_new_tokens=2))


def test_without_logprobs_the_samples_are_the_same(setup, make_generator):
    # return_logprobs only decides whether log-probs are kept; the sampled tokens do not change
    model, tok, _ = setup
    gen = make_generator(model, tok)
    prompts = [tok("12+7=", add_special_tokens=False)["input_ids"], tok("3*4", add_special_tokens=False)["input_ids"]]
    a = gen.generate(prompts, SamplingParams(n=3, max_new_tokens=10, seed=5))
    b = gen.generate(prompts, SamplingParams(n=3, max_new_tokens=10, seed=5, return_logprobs=False))
    assert torch.equal(a.completion_ids, b.completion_ids) and torch.equal(a.completion_mask, b.completion_mask)
    assert float(a.logprobs.abs().sum()) > 0 and float(b.logprobs.abs().sum()) == 0.0


def test_rollout_engine_auto_is_the_default_and_says_what_it_chose(monkeypatch):
    from hybridrl.rollout import factory
    from hybridrl.rollout import vllm_generator
    from hybridrl.config import TrainConfig

    assert TrainConfig().rollout_engine == "auto"
    big = torch.nn.Linear(4000, 4000)  # 16M parameters: above factory.TINY_PARAMS
    small = torch.nn.Linear(10, 10)
    monkeypatch.setattr(vllm_generator, "vllm_available", lambda: False)
    assert factory.choose_engine("auto", big) == ("hf", "vLLM is not installed here; make install-vllm adds it")
    monkeypatch.setattr(vllm_generator, "vllm_available", lambda: True)
    assert factory.choose_engine("auto", big) == ("vllm", "vLLM is installed")
    engine, why = factory.choose_engine("auto", small)
    assert engine == "hf" and "10M parameters" in why
    assert factory.choose_engine("hf", big) == ("hf", "as asked")
    # the note: one line, only for auto
    lines = []
    monkeypatch.setattr(vllm_generator, "vllm_available", lambda: False)

    class Tok:
        eos_token_id, pad_token_id = 0, 0

    small.generation_config = None
    factory.build_generator(TrainConfig().rollout, small, Tok(), log=lines.append)
    assert lines == ["hybridrl: rollout_engine=auto -> hf (vLLM is not installed here; make install-vllm adds it)"]
    factory.build_generator(TrainConfig(rollout_engine="hf").rollout, small, Tok(), log=lines.append)
    assert len(lines) == 1
