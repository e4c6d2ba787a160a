"""Scenarios run inside 2 gloo processes (torch.multiprocessing.spawn) by test_parallel.py.

Every scenario computes the same thing twice: on one process with the whole batch (a plain copy
of the model, the oracle) and on 2 ranks through :mod:`hybridrl.distributed.parallel`; the max
absolute differences go back to the test as JSON.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import traceback

import torch
import torch.distributed as dist

from hybridrl.models.tiny import build_tiny_model, build_tiny_tokenizer
from hybridrl.distributed.parallel import Parallel, lockstep, padding_loss

LR = 1e-2


def tiny(seed: int = 0, lora: bool = False):
    tok = build_tiny_tokenizer()
    model = build_tiny_model(tok, seed=seed)
    if lora:
        from peft import LoraConfig, get_peft_model

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                     task_type="CAUSAL_LM", init_lora_weights=False))
    return model, tok


def batch(n: int = 6, t: int = 7, seed: int = 0):
    """n random sequences of t tokens with ragged masks: (n, t) ids and (n, t) float mask.
    Lengths 7, 6, 5, 4, 3, 2 (so per-sequence token counts differ)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 100, (n, t), generator=g)
    mask = torch.zeros(n, t)
    for i in range(n):
        mask[i, : t - i] = 1.0
    return ids, mask


def nll_sum(model, ids, mask):
    """Σ over real tokens of −log p(token_j | tokens_<j) (positions 1..t−1), and the hidden states."""
    out = model(input_ids=ids, attention_mask=mask.long(), use_cache=False, output_hidden_states=True)
    logp = torch.log_softmax(out.logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    m = mask[:, 1:]
    return -(logp * m).sum(), out.hidden_states[-1], m


class Extras(torch.nn.Module):
    """A learnable loss weight s (w = exp(−2s), SuperRL) and a value head on the last hidden state."""

    def __init__(self, hidden: int):
        super().__init__()
        self.s = torch.nn.Parameter(torch.tensor(0.1))
        self.head = torch.nn.Linear(hidden, 1)
        with torch.no_grad():
            self.head.weight.fill_(0.01)
            self.head.bias.fill_(0.02)


def micro_loss(model, extras, ids, mask, n_tokens):
    """exp(−2s)·NLL/N + s/ranks... : one micro-batch's share of the whole-batch loss
    L = exp(−2s)·Σ NLL / N  +  0.5·Σ_tokens (v − 1)² / N  (N = global token count)."""
    nll, hidden, m = nll_sum(model, ids, mask)
    v = extras.head(hidden[:, :-1].float()).squeeze(-1)
    vl = 0.5 * (((v - 1.0) ** 2) * m).sum()
    return torch.exp(-2 * extras.s) * nll / n_tokens + vl / n_tokens


def optimizer(model, extras):
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW([{"params": params}, {"params": list(extras.parameters()), "weight_decay": 0.0}],
                             lr=LR, weight_decay=0.1)


def full(par: Parallel, model) -> dict[str, torch.Tensor]:
    return {k: v.detach().float().cpu() for k, v in par.full_state_dict(model).items()}


def maxdiff(a: dict, b: dict) -> float:
    assert set(a) == set(b), (sorted(set(a) ^ set(b)))[:5]
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


# ---------------------------------------------------------------------------------------
# the distributed update (what the loop does), and its one-process oracle


def ranked_microbatches(rank: int):
    """Two terms' micro-batches per rank, as the loop groups them. Rank 0: term A [0,1], [2];
    term B [3]. Rank 1: term A nothing; term B [4,5]. So rank 1 pads term A twice (an empty
    term on one rank, HPT-like) and the last pass, which syncs, is term B's on both."""
    ids, mask = batch()
    groups = [[[0, 1], [2]], [[3]]] if rank == 0 else [[], [[4, 5]]]
    return [[(ids[i], mask[i]) for i in g] for g in groups]


def dist_update(par: Parallel, model, extras, opt, tok, max_norm: float, skip_pad: bool = False):
    groups = ranked_microbatches(par.rank)
    n_tokens = par.sum([sum(float(m[:, 1:].sum()) for g in groups for _, m in g)])[0]  # global, before any loss
    opt.zero_grad(set_to_none=True)

    def run(b):
        return lambda: micro_loss(model, extras, *b, n_tokens).backward()

    def pad(group: int):
        if not skip_pad:  # sabotage: a rank with fewer micro-batches runs none in their place
            padding_loss(model, tok.pad_token_id, par.device).backward()

    lockstep(par, [[run(b) for b in g] for g in groups], pad, sync_model=model)
    par.reduce_replicated(list(extras.parameters()))
    gn = par.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_norm)
    opt.step()
    return gn


def oracle_update(model, extras, opt, max_norm: float):
    ids, mask = batch()
    n_tokens = float(mask[:, 1:].sum())
    opt.zero_grad(set_to_none=True)
    micro_loss(model, extras, ids, mask, n_tokens).backward()
    gn = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_norm)
    opt.step()
    return float(gn)


# ---------------------------------------------------------------------------------------
# scenarios


def scenario_update(par: Parallel, lora: bool = False, sabotage: str = "") -> dict:
    """Two updates (the second clipped at a small norm); weights, extras and grad norms vs the oracle."""
    model, tok = tiny(lora=lora)
    ref_model, ref_extras = copy.deepcopy(model), Extras(model.config.hidden_size if not lora else model.base_model.model.config.hidden_size)
    extras = copy.deepcopy(ref_extras)
    ref_opt = optimizer(ref_model, ref_extras)
    if sabotage != "no_engine":
        model = par.wrap(model)
    opt = optimizer(model, extras)
    norms, ref_norms = [], []
    for step, max_norm in enumerate((100.0, 0.05)):
        ref_norms.append(oracle_update(ref_model, ref_extras, ref_opt, max_norm))
        if sabotage == "no_engine":
            # no DDP/FSDP2: every rank steps on its own gradient
            mbs = [b for g in ranked_microbatches(par.rank) for b in g]
            n_tokens = par.sum([sum(float(m[:, 1:].sum()) for _, m in mbs)])[0]
            opt.zero_grad(set_to_none=True)
            for b in mbs:
                micro_loss(model, extras, *b, n_tokens).backward()
            par.reduce_replicated(list(extras.parameters()))
            norms.append(float(torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_norm)))
            opt.step()
        else:
            norms.append(dist_update(par, model, extras, opt, tok, max_norm, skip_pad=sabotage == "skip_pad"))
    w = full(par, model)
    w_ref = {k: v.detach().float() for k, v in ref_model.state_dict().items()}
    return {"weights": maxdiff(w, w_ref), "extras": maxdiff(dict(extras.named_parameters()), dict(ref_extras.named_parameters())),
            "norms": norms, "ref_norms": ref_norms,
            "moved": float(max((w_ref[k] - v.float()).abs().max() for k, v in copy.deepcopy(tiny(lora=lora)[0]).state_dict().items()))}


def scenario_generate(par: Parallel) -> dict:
    """Greedy generation with gathered weights; rank 0 makes two calls, rank 1 one (no collective
    may run inside), compared with the plain model. Then one more update still works."""
    model, tok = tiny()
    plain = copy.deepcopy(model)
    model = par.wrap(model)
    prompts = [[5, 6, 7], [8, 9, 10, 11]]
    outs = []
    with par.gathered(model) as gen:
        for p in prompts[: 2 if par.rank == 0 else 1]:
            x = torch.tensor([p])
            outs.append((gen.generate(x, max_new_tokens=6 + 3 * par.rank, do_sample=False)[0].tolist(),
                         plain.generate(x, max_new_tokens=6 + 3 * par.rank, do_sample=False)[0].tolist()))
    extras = Extras(plain.config.hidden_size)
    dist_update(par, model, extras, optimizer(model, extras), tok, 1.0)
    return {"same": all(a == b for a, b in outs), "n": len(outs)}


def scenario_checkpoint(par: Parallel, folder: str) -> dict:
    """Sharded save after update 1, load into a fresh model + optimizer, update 2 == uninterrupted."""
    from hybridrl.distributed.sharded import load_sharded, save_sharded

    model, tok = tiny()
    extras = Extras(model.config.hidden_size)
    model = par.wrap(model)
    opt = optimizer(model, extras)
    dist_update(par, model, extras, opt, tok, 1.0)
    save_sharded(par, folder, {"policy": model, "extras": extras}, opt)
    dist_update(par, model, extras, opt, tok, 1.0)
    straight = full(par, model)
    model2, _ = tiny(seed=5)  # other initial weights: the load must overwrite them
    extras2 = Extras(model2.config.hidden_size)
    model2 = par.wrap(model2)
    opt2 = optimizer(model2, extras2)
    load_sharded(par, folder, {"policy": model2, "extras": extras2}, opt2)
    dist_update(par, model2, extras2, opt2, tok, 1.0)
    resumed = full(par, model2)
    out = {"weights": maxdiff(straight, resumed),
           "extras": maxdiff(dict(extras.named_parameters()), dict(extras2.named_parameters()))}
    par.export_hf(model2, os.path.join(folder, "hf"), tok)
    if par.main:
        from transformers import AutoModelForCausalLM

        loaded = AutoModelForCausalLM.from_pretrained(os.path.join(folder, "hf"))
        out["export"] = maxdiff({k: v.float() for k, v in loaded.state_dict().items()}, resumed)
    return out


def scenario_rank0_loading(par: Parallel, lora: bool = False) -> dict:
    """``rank0_loading`` (#28 item 7) through the trainer's own set-up: rank 0 loads, rank 1 builds
    the policy and the KL reference on the meta device (no storage: checked before sharding, and
    ``load_model_and_tokenizer`` must not run there), then the shards are filled from rank 0. The
    weights and buffers must equal the one-process model, and an update the oracle's."""
    import hybridrl.models.loading as loading
    from hybridrl.config import TrainConfig
    from hybridrl.training.loop.setup import setup_model

    cfg = TrainConfig(model="tiny", beta=0.1, progress=False, lora_r=4 if lora else 0, lora_alpha=8)
    calls = []
    real_load = loading.load_model_and_tokenizer
    loading.load_model_and_tokenizer = lambda *a, **k: (calls.append(1), real_load(*a, **k))[1]
    try:
        parts = setup_model(cfg, par.device, par)
    finally:
        loading.load_model_and_tokenizer = real_load
    model, ref = parts.model, parts.ref_model
    on_meta = {"policy": sorted({p.device.type for p in model.parameters()}),
               "ref": sorted({p.device.type for p in ref.parameters()}), "loaded": len(calls)}
    plain, tok = tiny(lora=False)
    model = par.wrap(model, from_rank0=parts.from_rank0)
    ref = par.wrap_frozen(ref, from_rank0=parts.from_rank0)
    want = {k: v.float() for k, v in plain.state_dict().items()}
    got_ref = full(par, ref)
    out = {"from_rank0": parts.from_rank0, "devices": on_meta, "ref": maxdiff(got_ref, want),
           "buffers": max(float((b - dict(plain.named_buffers())[k.removeprefix("base_model.model.")]).abs().max())
                          for k, b in par.unwrap(model).named_buffers() if "lora" not in k)}
    if not lora:
        out["policy"] = maxdiff(full(par, model), want)
        # an update from the broadcast weights equals the oracle's from the plain model
        ref_model, ref_extras = copy.deepcopy(plain), Extras(plain.config.hidden_size)
        extras = copy.deepcopy(ref_extras)
        ref_opt, opt = optimizer(ref_model, ref_extras), optimizer(model, extras)
        oracle_update(ref_model, ref_extras, ref_opt, 100.0)
        dist_update(par, model, extras, opt, tok, 100.0)
        out["update"] = maxdiff(full(par, model), {k: v.detach().float() for k, v in ref_model.state_dict().items()})
    else:  # the LoRA adapters: rank 0's initialisation on every rank
        w = full(par, model)
        out["lora_keys"] = sum("lora_" in k for k in w)
        out["lora_sum"] = float(sum(v.double().sum() for k, v in w.items() if "lora_" in k))
    return out


SCENARIOS = {"update": scenario_update, "generate": scenario_generate, "checkpoint": scenario_checkpoint,
             "rank0_loading": scenario_rank0_loading}


def _worker(rank: int, world: int, port: int, mode: str, jobs: list, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    par = Parallel(mode=mode, rank=rank, world=world, device=torch.device("cpu"))
    results = {}
    for name, kw in jobs:
        fn = SCENARIOS[kw.pop("scenario", name)] if isinstance(kw, dict) else SCENARIOS[name]
        try:
            results[name] = fn(par, **kw)
        except Exception:  # reported to the test, which fails with the traceback
            results[name] = {"error": traceback.format_exc()}
            break
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(results, f)
    dist.destroy_process_group()


def run(mode: str, jobs: list, out_dir: str, world: int = 2) -> list[dict]:
    """Spawn ``world`` gloo processes running ``jobs`` ([(name, kwargs)]); per-rank results."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(world, port, mode, jobs, out_dir), nprocs=world, join=True)
    return [json.load(open(os.path.join(out_dir, f"rank{r}.json"))) for r in range(world)]


if __name__ == "__main__":  # python tests/parallel/workers.py fsdp2 update
    import tempfile

    d = tempfile.mkdtemp()
    jobs = [(n, {"folder": os.path.join(d, "ck")} if n == "checkpoint" else {}) for n in sys.argv[2:]]
    print(json.dumps(run(sys.argv[1], jobs, d), indent=1))
