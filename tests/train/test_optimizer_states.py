"""#26: a named optimizer state (ReLIFT's second SFT optimizer) equals a second AdamW on the same
parameters, and survives the optimizer's state_dict round trip (checkpoint and resume)."""

import copy

import torch

from hybridrl.training.update.optimizer_states import KEY, install_named_states, named_state

GRADS = [("rl", [1.0, -2.0]), ("sft", [0.5, 0.5]), ("rl", [-1.0, 3.0]), ("sft", [2.0, -1.0]), ("rl", [0.1, 0.2])]


def _step(opt, p, g):
    p.grad = torch.tensor(g)
    opt.step()
    opt.zero_grad(set_to_none=True)


def test_named_state_equals_a_second_adamw():
    # oracle: two AdamW over the same parameter, one for the RL steps, one for the SFT steps
    p_ref = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt_rl = torch.optim.AdamW([p_ref], lr=0.1, weight_decay=0.01)
    opt_sft = torch.optim.AdamW([p_ref], lr=0.1, weight_decay=0.01)
    p = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = install_named_states(torch.optim.AdamW([p], lr=0.1, weight_decay=0.01))
    shared = torch.nn.Parameter(torch.tensor([1.0, -1.0]))  # one AdamW for everything: differs
    opt_shared = torch.optim.AdamW([shared], lr=0.1, weight_decay=0.01)
    for kind, g in GRADS:
        _step(opt_rl if kind == "rl" else opt_sft, p_ref, g)
        with named_state(opt, "sft" if kind == "sft" else None):
            _step(opt, p, g)
        _step(opt_shared, shared, g)
    torch.testing.assert_close(p.detach(), p_ref.detach(), rtol=0, atol=0)
    assert float(opt.state[p]["step"]) == 3 and float(opt_rl.state[p_ref]["step"]) == 3  # shared state: RL steps
    assert not torch.allclose(shared.detach(), p_ref.detach())  # precondition: sharing the moments changes it


def test_named_state_survives_state_dict_round_trip():
    p = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = install_named_states(torch.optim.AdamW([p], lr=0.1))
    for kind, g in GRADS[:4]:
        with named_state(opt, "sft" if kind == "sft" else None):
            _step(opt, p, g)
    sd = copy.deepcopy(opt.state_dict())
    assert set(sd[KEY]) == {"sft"} and float(sd[KEY]["sft"][0]["step"]) == 2
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = install_named_states(torch.optim.AdamW([q], lr=0.1))
    opt2.load_state_dict(sd)
    for o, x in ((opt, p), (opt2, q)):  # one more SFT step and one more RL step, from each
        with named_state(o, "sft"):
            _step(o, x, [0.3, -0.7])
        _step(o, x, [0.2, 0.9])
    torch.testing.assert_close(q.detach(), p.detach(), rtol=0, atol=0)
