"""#27: HPT through HybridGRPOTrainer (TRL) vs `hybridrl train --method hpt`, SmolLM2-135M on CPU.

Same data file, seed, group size, prompts per step, completion budget, learning rate and prompt
text (hybridrl's `chat` template messages, given to TRL as the prompt). Sampling differs (TRL's
generate and sampler order vs ours), so the comparison is of per-step behaviour: reward, SFT fraction, gated prompts per step
(results: benchmarks/results/trl_hpt_smollm2.md).

    python benchmarks/trl_hpt_smollm2.py --data cs.jsonl --steps 10 --out trl_hpt.json
"""

from __future__ import annotations

import argparse
import json
import time

from datasets import Dataset
from trl import GRPOConfig

from hybridrl.data.loading import load_rows
from hybridrl.data.templates import INSTRUCTION, _messages
from hybridrl.integrations.trl import HybridGRPOTrainer
from hybridrl.models.loading import load_model_and_tokenizer
from hybridrl.rewards.scoring import score_completions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    rows, _ = load_rows(a.data)
    by_id = {str(i): r for i, r in enumerate(rows)}
    ds = Dataset.from_list([{"prompt": _messages(r, INSTRUCTION), "answer": r.answer[0], "id": str(i),
                             "demonstration": r.demonstration} for i, r in enumerate(rows)])

    def verifier_reward(prompts, completions, id, **kw):  # noqa: A002 - TRL passes the column by name
        texts = [c[0]["content"] for c in completions]
        results, _ = score_completions(texts, [by_id[i] for i in id], timeout_s=2.0)
        return [float(r.score) for r in results]

    model, tok = load_model_and_tokenizer("smollm2-135m")
    args = GRPOConfig(output_dir="/tmp/trl-hpt-smollm2", num_generations=a.group_size,
                      per_device_train_batch_size=a.group_size * a.prompts, max_completion_length=a.tokens,
                      learning_rate=a.lr, max_steps=a.steps, logging_steps=1, report_to="none", use_cpu=True,
                      save_strategy="no", seed=a.seed, beta=0.0, lr_scheduler_type="constant", max_grad_norm=1.0,
                      temperature=1.0)
    trainer = HybridGRPOTrainer(model=model, reward_funcs=verifier_reward, args=args, train_dataset=ds,
                                processing_class=tok, method="hpt", template="chat")
    t0 = time.time()
    trainer.train()
    keep = ("step", "reward", "sft_fraction", "hpt/num_sft", "hpt/num_rl", "loss", "pg_loss", "sft_loss",
            "grad_norm", "completions/mean_length", "step_time")
    logs = [{k: h.get(k) for k in keep} for h in trainer.state.log_history if "sft_fraction" in h]
    with open(a.out, "w") as f:
        json.dump({"wall_s": time.time() - t0, "steps": logs}, f, indent=1)
    for h in logs:
        print(json.dumps(h))


if __name__ == "__main__":
    main()
