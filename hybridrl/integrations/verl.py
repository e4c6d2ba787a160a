"""hybridrl's losses inside verl: policy losses, advantage estimators, a hybrid loss.

Loaded by verl itself: ``pip install 'hybridrl[verl]'`` declares this module in the
``verl.plugins`` entry-point group, which ``import verl`` loads (verl >= 0.9;
``VERL_USE_EXTERNAL_MODULES=hybridrl.integrations.verl`` does the same by name). Then:

- ``actor_rollout_ref.actor.policy_loss.loss_mode=hybridrl_<preset>`` for every estimator preset
  of ``hybridrl.core.presets.PRESETS`` that needs nothing but verl's policy-loss arguments
  (old/new log-probs, advantages, response mask): ``hybridrl_luffy_off_policy`` (LUFFY's shaped
  off-policy term: π_ref ≡ 1, f(π) = π/(π+γ), no clip), ``hybridrl_luffy_on_policy``,
  ``hybridrl_dr_grpo``, ``hybridrl_hpt_rl_official``, ``hybridrl_cispo``, ``hybridrl_grpo``
  (PPO clip without verl's dual clip), ``hybridrl_grpo_dual`` (= verl's ``vanilla``), ... and
  ``hybridrl_chord_sft``: CHORD's φ-weighted SFT, −sg(φ(p_t)) log p_t, φ(p) = p(1 − p).
  Presets with the ``constant`` advantage (``sft``, ``hpt_sft_official``, ``chord_sft``) ignore
  verl's advantages: they are for demonstration batches.
- ``algorithm.adv_estimator=hybridrl_<name>`` for hybridrl's outcome advantages (``grpo``,
  ``dr_grpo``, ``rloo``, ``reinforce``: ±1, which verl lacks).
- :func:`make_hybrid_loss_fn`: a loss for the actor worker's ``set_loss_fn`` that reads per-row
  fields a driver adds to the batch (which term each sequence belongs to, its weight and its
  term's global counts, see :func:`hybrid_batch_fields`): any hybridrl controller's plan (HPT's
  per-question mixture of Dr. GRPO on kept rollouts and SFT on gated prompts' demonstrations,
  LUFFY, SuperRL's mixture with fixed weights) as one verl loss.

Every loss is ``term_loss`` (the preset's per-token loss) reduced by hybridrl's ``agg_loss`` with
verl's global batch counts (``config.global_batch_info``), times ``dp_size`` as verl's own
``agg_loss`` does (DDP/FSDP average the ranks' gradients): the same value as verl's reduction
for each of verl's ``loss_agg_mode`` s, computed by hybridrl's code. verl's trainer itself needs
GPUs (verl #3266); only these functions are tested here, on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from hybridrl.core.advantages import ADVANTAGES
from hybridrl.core.aggregation import agg_loss
from hybridrl.core.presets import PRESETS, get_preset, term_loss

PREFIX = "hybridrl_"
VERL_AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
"""verl's ``loss_agg_mode`` values (verl 0.9 ``core_algos.agg_loss``)."""


def verl_agg(loss_mat: Tensor, mask: Tensor, mode: str, dp_size: int = 1, batch_num_tokens: Any = None,
             global_batch_size: Any = None, loss_scale_factor: Any = None) -> Tensor:
    """verl's ``loss_agg_mode`` with verl's global batch counts, computed by hybridrl's ``agg_loss``:

        token-mean               Σ l / batch_num_tokens · dp            -> agg_loss token-mean
        token-sum                Σ l · dp                               -> token-sum-norm, max_len 1
        seq-mean-token-sum       Σ_i Σ_t l / global_batch_size · dp     -> seq-mean-token-sum
        seq-mean-token-mean      Σ_i mean_t l / global_batch_size · dp  -> seq-mean-token-mean
        seq-mean-token-sum-norm  ... / global_batch_size / scale · dp   -> seq-mean-token-sum-norm

    Counts default to this micro-batch's (verl does the same when they are None); ``scale``
    defaults to the padded response length.
    """
    dp = float(dp_size or 1)
    if mode == "token-mean":
        return agg_loss(loss_mat, mask, "token-mean", num_tokens=batch_num_tokens) * dp
    if mode == "token-sum":
        return agg_loss(loss_mat, mask, "token-sum-norm", max_len=1.0) * dp
    if mode in ("seq-mean-token-sum", "seq-mean-token-mean"):
        return agg_loss(loss_mat, mask, mode, num_seqs=global_batch_size) * dp
    if mode == "seq-mean-token-sum-norm":
        scale = loss_mat.shape[-1] if loss_scale_factor is None else loss_scale_factor
        return agg_loss(loss_mat, mask, mode, num_seqs=global_batch_size, max_len=float(scale)) * dp
    raise ValueError(f"hybridrl: unknown verl loss_agg_mode {mode!r}; valid: {', '.join(VERL_AGG_MODES)}")


def _cfg(config: Any, key: str, default: Any = None) -> Any:
    if config is None:
        return default
    value = config.get(key, default) if hasattr(config, "get") else getattr(config, key, default)
    return default if value is None else value


def _clip_range(config: Any) -> tuple[float | None, float | None]:
    """verl's clip_ratio_low / clip_ratio_high (each falling back to clip_ratio); None without config."""
    base = _cfg(config, "clip_ratio")
    return _cfg(config, "clip_ratio_low", base), _cfg(config, "clip_ratio_high", base)


def chord_phi(log_prob: Tensor) -> Tensor:
    """CHORD's token weight φ(p) = p(1 − p), p = exp(log π) detached (Trinity-RFT chord_policy_loss)."""
    p = log_prob.detach().exp()
    return p * (1.0 - p)


def preset_policy_loss(preset: str, old_log_prob: Tensor, log_prob: Tensor, advantages: Tensor,
                       response_mask: Tensor, loss_agg_mode: str = "token-mean", config: Any = None,
                       rollout_is_weights: Tensor | None = None, token_weight: Tensor | None = None
                       ) -> tuple[Tensor, dict[str, Any]]:
    """A hybridrl preset as a verl policy loss (verl's argument order and names).

    Args:
        old_log_prob, log_prob, advantages, response_mask: (B, T) as verl passes them.
        loss_agg_mode: verl's mode (see :func:`verl_agg`).
        config: verl's ActorConfig (or a dict): clip_ratio(_low/_high), clip_ratio_c (dual clip),
            global_batch_info (dp_size, batch_num_tokens, global_batch_size, loss_scale_factor).
        rollout_is_weights: (B, T) verl's rollout correction weights, multiplied in.
        token_weight: (B, T) detached per-token weights for ``constant`` presets (CHORD's φ);
            None: Â ≡ 1 for them.
    Returns:
        (loss, metrics) as verl's policy losses.
    """
    p = get_preset(preset)
    adv = token_weight if p.advantage == "constant" else advantages
    lo, hi = _clip_range(config)
    ptl, metrics = term_loss(p, log_prob, old_log_prob, adv, response_mask, eps_low=lo, eps_high=hi,
                             dual_clip_c=_cfg(config, "clip_ratio_c", 3.0) if p.clip == "dual" else None,
                             shaping_gamma=float(_cfg(config, "hybridrl_shaping_gamma", 0.1)))
    if rollout_is_weights is not None:
        ptl = ptl * rollout_is_weights
    info = dict(_cfg(config, "global_batch_info", {}) or {})
    loss = verl_agg(ptl, response_mask, loss_agg_mode, **info)
    out = {f"actor/hybridrl/{k}": float(torch.as_tensor(v).float().mean()) for k, v in metrics.items()}
    if "clipfrac" in metrics:
        out["actor/pg_clipfrac"] = float(metrics["clipfrac"])
    return loss, out


def _make_policy_loss(preset: str):
    def loss_fn(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean", config=None,
                rollout_is_weights=None):
        return preset_policy_loss(preset, old_log_prob, log_prob, advantages, response_mask, loss_agg_mode, config,
                                  rollout_is_weights)

    loss_fn.__name__ = f"{PREFIX}{preset}"
    loss_fn.__doc__ = f"hybridrl preset '{preset}' as a verl policy loss: {get_preset(preset).doc}"
    return loss_fn


def chord_sft_loss(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean", config=None,
                   rollout_is_weights=None):
    """CHORD's φ-weighted SFT (the ``sft`` preset with token weights sg(φ(p_t))); ignores advantages."""
    return preset_policy_loss("sft", old_log_prob, log_prob, advantages, response_mask, loss_agg_mode, config,
                              rollout_is_weights, token_weight=chord_phi(log_prob))


def policy_loss_presets() -> list[str]:
    """The presets registered as verl policy losses: those needing only verl's arguments (the
    SRFT entropy-weighted presets need each sequence's entropy, which verl does not pass)."""
    return [name for name, p in PRESETS.items() if p.weighting is None]


def _make_adv_est(name: str):
    fn = ADVANTAGES[name]

    def adv_est(token_level_rewards: Tensor, response_mask: Tensor, index: Any = None, config: Any = None,
                **kwargs: Any) -> tuple[Tensor, Tensor]:
        """hybridrl's outcome advantage: scores = Σ_t rewards per response, groups = verl's uid
        ``index``; returns (advantages, returns), each (B, T), masked."""
        scores = token_level_rewards.sum(-1)
        if name == "reinforce":
            adv = fn(scores)
        else:
            keys = list(index) if index is not None else list(range(len(scores)))
            ids = {k: i for i, k in enumerate(dict.fromkeys(keys))}
            groups = torch.tensor([ids[k] for k in keys], dtype=torch.long, device=scores.device)
            adv = fn(scores, groups)
        adv = adv.to(token_level_rewards.dtype)[:, None] * response_mask
        return adv, adv

    adv_est.__name__ = f"{PREFIX}{name}_advantage"
    return adv_est


# -- set_loss_fn: a whole hybridrl update as one verl loss -------------------------------------------


@dataclass(frozen=True)
class TermSpec:
    """One loss term of a hybrid update: its preset and constant weight (``Update.weighting``)."""

    preset: str
    weight: float = 1.0


def hybrid_batch_fields(update: Any, order: list[tuple[int, int]], max_len: int) -> dict[str, Tensor]:
    """Per-row fields a verl driver adds to its batch so :func:`make_hybrid_loss_fn` can train a
    hybridrl :class:`~hybridrl.methods.base.Update`.

    Args:
        update: the controller's plan for the step (its terms' indices, advantages, seq weights,
            norm groups; weights must be constants).
        order: for each row of the verl batch, (term position in ``update.terms``, position k in
            that term's ``indices``): where the driver put the term's k-th sequence.
        max_len: the generation budget (Dr. GRPO's constant).
    Returns:
        (B,) tensors: ``hybridrl_term`` (long), ``hybridrl_seq_weight``, ``hybridrl_advantage``,
        ``hybridrl_seq_count`` (what the row adds to its term's sequence count),
        ``hybridrl_norm_tokens`` / ``hybridrl_norm_seqs`` (the term's global counts, filled in by
        :func:`fill_norm_counts` once the response masks are known), plus ``hybridrl_max_len``.
    """
    b = len(order)
    term = torch.tensor([t for t, _ in order], dtype=torch.long)
    weight, adv, count = torch.ones(b), torch.zeros(b), torch.ones(b)
    for r, (t, k) in enumerate(order):
        lt = update.terms[t]
        if lt.seq_weights is not None:
            weight[r] = float(lt.seq_weights[k])
        if lt.advantages is not None:
            adv[r] = float(lt.advantages[k])
        if lt.seq_counts is not None:  # HPT's one vote per question: a question's sequences count 1 together
            count[r] = float(lt.seq_counts[k])
    return {"hybridrl_term": term, "hybridrl_seq_weight": weight, "hybridrl_advantage": adv,
            "hybridrl_seq_count": count, "hybridrl_max_len": torch.full((b,), float(max_len))}


def fill_norm_counts(fields: dict[str, Tensor], response_mask: Tensor, norm_groups: list[str | None]) -> None:
    """The counts each term's ``agg_loss`` divides by, over the whole batch (and the terms of one
    ``norm_group`` together, as ``train.optimize.build_term_states``), repeated on every row."""
    term = fields["hybridrl_term"]
    tokens_per_row = response_mask.float().sum(-1)
    # what each non-empty row adds to num_seqs: 1, or its term's seq_counts (``LossTerm.seq_counts``)
    nonempty = (tokens_per_row > 0).float() * fields.get("hybridrl_seq_count", torch.ones(len(term)))
    keys = [g if g is not None else f"#term{i}" for i, g in enumerate(norm_groups)]
    tok, seq = torch.zeros(len(term)), torch.zeros(len(term))
    for key in dict.fromkeys(keys):
        rows = torch.tensor([keys[int(t)] == key for t in term])
        tok[rows] = tokens_per_row[rows].sum()
        seq[rows] = nonempty[rows].sum()
    fields["hybridrl_norm_tokens"], fields["hybridrl_norm_seqs"] = tok, seq


def hybrid_loss(terms: list[TermSpec], log_prob: Tensor, old_log_prob: Tensor, response_mask: Tensor,
                term: Tensor, seq_weight: Tensor, advantage: Tensor, norm_tokens: Tensor, norm_seqs: Tensor,
                max_len: float, dp_size: int = 1, eps_low: float | None = None, eps_high: float | None = None
                ) -> tuple[Tensor, dict[str, float]]:
    """Σ_k w_k · agg_loss(term_loss(preset_k) · seq_weight, mask, preset_k.agg_mode, term k's counts)
    over the rows of each term k (``train.update.micro_batch_loss`` without KL/entropy), × dp_size.

    Args: all (B, T) or (B,) tensors of this micro-batch; ``norm_*`` are each row's term counts
    over the global batch (``fill_norm_counts``), so micro-batches and ranks sum to the whole.
    """
    total = log_prob.new_zeros(())
    metrics: dict[str, float] = {}
    for k, spec in enumerate(terms):
        rows = term == k
        if not bool(rows.any()):
            continue
        p = get_preset(spec.preset)
        adv = None if p.advantage == "constant" else advantage[rows]
        ptl, _ = term_loss(p, log_prob[rows], old_log_prob[rows], adv, response_mask[rows],
                           eps_low=eps_low, eps_high=eps_high)
        ptl = ptl * seq_weight[rows][:, None].to(ptl.dtype)
        loss = agg_loss(ptl, response_mask[rows], p.agg_mode, num_tokens=norm_tokens[rows][0],
                        num_seqs=norm_seqs[rows][0], max_len=max_len)
        metrics[f"actor/hybridrl/term{k}_{spec.preset}_loss"] = float(loss.detach())
        total = total + spec.weight * loss
    return total * float(dp_size or 1), metrics


def make_hybrid_loss_fn(terms: list[TermSpec]):
    """A loss for verl's ``actor.set_loss_fn`` (signature ``(config, model_output, data, dp_group)``)
    training the terms of a hybridrl update; reads the fields of :func:`hybrid_batch_fields`."""

    def loss_fn(config, model_output, data, dp_group=None):
        log_prob = model_output["log_probs"]
        if getattr(log_prob, "is_nested", False) or log_prob.dim() == 1:  # verl's no-padding layout
            from verl.workers.utils.padding import no_padding_2_padding

            log_prob = no_padding_2_padding(log_prob, data)
        mask = data["response_mask"].bool()
        lo, hi = _clip_range(config)
        dp = data["dp_size"] if "dp_size" in data.keys() else 1
        return hybrid_loss(terms, log_prob, data["old_log_probs"], mask, data["hybridrl_term"],
                           data["hybridrl_seq_weight"], data["hybridrl_advantage"], data["hybridrl_norm_tokens"],
                           data["hybridrl_norm_seqs"], float(data["hybridrl_max_len"][0]), int(dp),
                           eps_low=lo, eps_high=hi)

    return loss_fn


# -- registration (runs when verl loads this plugin) ---------------------------------------------------


VERL_REQUIREMENT = ">=0.9.1,<0.10"
"""The verl versions this module is written and tested against (``pyproject`` extra ``verl``)."""


def check_verl_version(version: str) -> None:
    """Warn (verl swallows a plugin's exceptions into a debug log) outside :data:`VERL_REQUIREMENT`."""
    import warnings

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    if Version(version) not in SpecifierSet(VERL_REQUIREMENT):
        warnings.warn(f"hybridrl.integrations.verl is tested with verl{VERL_REQUIREMENT}, found verl {version}: "
                      f"pip install 'hybridrl[verl]'", stacklevel=2)


def register() -> tuple[list[str], list[str]]:
    """Register the policy losses and advantage estimators with verl; returns their names."""
    import verl
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est, register_policy_loss

    check_verl_version(verl.__version__)
    losses = []
    for preset in policy_loss_presets():
        register_policy_loss(PREFIX + preset)(_make_policy_loss(preset))
        losses.append(PREFIX + preset)
    register_policy_loss(PREFIX + "chord_sft")(chord_sft_loss)
    losses.append(PREFIX + "chord_sft")
    estimators = []
    for name in ADVANTAGES:
        if PREFIX + name not in ADV_ESTIMATOR_REGISTRY:  # a second import must not raise
            register_adv_est(PREFIX + name)(_make_adv_est(name))
        estimators.append(PREFIX + name)
    return losses, estimators


try:  # `import verl` imports this module through its entry point; without verl it is a library
    import verl.trainer.ppo.core_algos  # noqa: F401
except ImportError:  # pragma: no cover - the extra is not installed
    POLICY_LOSSES: list[str] = []
    ADV_ESTIMATORS: list[str] = []
else:
    POLICY_LOSSES, ADV_ESTIMATORS = register()
