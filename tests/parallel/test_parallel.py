"""hybridrl.distributed.parallel on 2 gloo processes (CPU): DDP and FSDP2 give the one-process update.

One spawn per mode runs every scenario of ``workers.py`` (each compares 2 ranks with a
one-process oracle on the whole batch):

- ``update``: two terms; rank 0 holds 2 + 1 micro-batches, rank 1 holds 0 + 1 (term A padded twice with zero-weight
  micro-batches); the loss has a learnable weight exp(−2s) and a value head (replicated extras,
  reduced once); 2 AdamW steps, the second clipped at 0.05 (norm ≈ 3.7 ≫ 0.05, so clipping acts).
- ``lora``: the same update with LoRA adapters (frozen base weights in the same FSDP groups).
- ``no_engine``: the sabotage — no DDP/FSDP2, each rank steps on its own gradient: the weights
  must then differ from the oracle (so the equality above can fail).
- ``generate``: greedy generation with gathered weights, rank 0 two calls and rank 1 one of
  another length (a collective inside generation would deadlock or fail), equal to the plain model.
- ``rank0_loading``: the trainer's set-up with ``rank0_loading`` (#28 item 7): under FSDP2 rank 1
  builds the policy and the KL reference on the meta device and never calls the loader; after
  sharding and rank 0's broadcast, weights and buffers equal the one-process model (exactly), and
  an update the oracle's. With LoRA (adapters on a meta base model) the same set-up works.
- ``checkpoint``: sharded DCP save after update 1, load into a fresh (other-seed) model and
  optimizer, update 2 equals the uninterrupted update 2 exactly; the consolidated HF export loads
  with ``from_pretrained`` and equals the trained weights.
"""

import math

import pytest

from workers import run

# float32 sums in another order (per-rank partial gradients, then the all-reduce): AdamW's first
# steps move each weight by ~lr = 1e-2 whatever the gradient's size, so 1e-5 is 1000× below a step
TOL = 1e-5


@pytest.fixture(scope="module", params=["ddp", "fsdp2"])
def results(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    jobs = [("update", {}), ("lora", {"scenario": "update", "lora": True}),
            ("no_engine", {"scenario": "update", "sabotage": "no_engine"}),
            ("generate", {}), ("checkpoint", {"folder": str(d / "ck")}),
            ("rank0_loading", {}), ("rank0_loading_lora", {"scenario": "rank0_loading", "lora": True})]
    per_rank = run(request.param, jobs, str(d))
    for r in per_rank:
        for name, res in r.items():
            assert "error" not in res, f"{request.param}/{name}: {res['error']}"
    return request.param, per_rank


def test_uneven_micro_batches_give_the_one_process_update(results):
    mode, ranks = results
    for r in ranks:
        u = r["update"]
        assert u["moved"] > 1e-3  # the oracle's weights did move (2 steps of lr 1e-2)
        assert u["weights"] < TOL, (mode, u)
        assert u["extras"] < TOL, (mode, u)  # s and the value head: reduced exactly once
        # grad norms before clipping: the global norm over both ranks' (sharded) gradients
        assert u["norms"] == pytest.approx(u["ref_norms"], rel=1e-5)


def test_lora_adapters_are_reduced_like_the_rest(results):
    mode, ranks = results
    for r in ranks:
        assert r["lora"]["weights"] < TOL, (mode, r["lora"])
        assert r["lora"]["norms"] == pytest.approx(r["lora"]["ref_norms"], rel=1e-5)


def test_without_the_engine_the_update_differs(results):
    # each rank's own gradient (3 of 6 vs 1 of 6 sequences) ≠ the whole-batch gradient
    mode, ranks = results
    for r in ranks:
        assert r["no_engine"]["weights"] > 1e-3, (mode, r["no_engine"])


def test_generation_with_gathered_weights(results):
    mode, ranks = results
    assert [r["generate"]["n"] for r in ranks] == [2, 1]
    assert all(r["generate"]["same"] for r in ranks)


def test_sharded_checkpoint_resumes_exactly_and_exports_hf(results):
    mode, ranks = results
    for r in ranks:
        assert r["checkpoint"]["weights"] == 0.0 and r["checkpoint"]["extras"] == 0.0
    assert ranks[0]["checkpoint"]["export"] == 0.0


def test_rank0_loading_builds_other_ranks_on_meta(results):
    mode, ranks = results
    r0, r1 = ranks[0]["rank0_loading"], ranks[1]["rank0_loading"]
    if mode == "ddp":  # every rank holds the whole model anyway: each loads it
        assert not r0["from_rank0"] and r1["devices"] == {"policy": ["cpu"], "ref": ["cpu"], "loaded": 1}
    else:
        assert r0["from_rank0"] and r1["from_rank0"]
        assert r0["devices"] == {"policy": ["cpu"], "ref": ["cpu"], "loaded": 1}
        # rank 1 never materialised full weights: meta until sharded, and the loader never ran
        assert r1["devices"] == {"policy": ["meta"], "ref": ["meta"], "loaded": 0}
    for r in (r0, r1):
        assert r["policy"] == 0.0 and r["ref"] == 0.0 and r["buffers"] == 0.0, (mode, r)
        assert r["update"] < TOL, (mode, r)
    l0, l1 = ranks[0]["rank0_loading_lora"], ranks[1]["rank0_loading_lora"]
    assert l0["ref"] == 0.0 and l1["ref"] == 0.0 and l0["buffers"] == 0.0 and l1["buffers"] == 0.0
    assert l0["lora_keys"] > 0 and all(math.isfinite(r["lora_sum"]) for r in (l0, l1))
