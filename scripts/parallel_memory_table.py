"""Per-GPU memory of full fine-tuning under DDP vs FSDP2, computed from parameter counts (issue #13).

    python scripts/parallel_memory_table.py            # the README table (markdown)
    python scripts/parallel_memory_table.py --check examples/accelerate/measured/gpu_0.5b.json

What hybridrl holds, per GPU (N parameters, W processes):

- weights: fp32 master weights, 4N bytes (DDP), 4N/W (FSDP2);
- gradients: fp32, 4N (DDP: plus DDP's fp32 bucket copy, another 4N), 4N/W (FSDP2);
- AdamW state: exp_avg + exp_avg_sq in fp32, 8N (DDP), 8N/W (FSDP2);
- FSDP2 working set: the bf16 weights of the layers being computed (the root's embeddings and
  LM head, and two decoder layers: the current one and the prefetched one) and their fp32
  gradients before the reduce-scatter;
- activations of one micro-batch (the same under both modes: data parallelism splits the batch,
  not the sequence): bf16 autocast without gradient checkpointing, per token and layer ≈
  34h + 12i bytes (norm inputs and outputs in fp32, q/k/v/attention output and projections'
  inputs in bf16, the MLP's gate/up/activation/product i-wide tensors and their fp32 upcasts),
  plus the logits: 16 bytes per vocabulary entry and token (bf16 logits, their fp32 copy, the
  log-softmax and its gradient). The two coefficients were set from the H200 peak of the 0.5B
  model without an engine, then checked on 1.5B and on DDP (--check; within 8%, FSDP2 below: its
  bf16 mixed precision keeps the norms in bf16).

Shapes are Qwen2.5's (a Llama with grouped-query attention): 0.5B, 1.5B, 7B.
"""

from __future__ import annotations

import argparse
import json

GB = 1e9

# hidden, intermediate, layers, heads, kv heads, vocab, tied embeddings
SHAPES = {
    "0.5B": (896, 4864, 24, 14, 2, 151936, True),
    "1.5B": (1536, 8960, 28, 12, 2, 151936, True),
    "7B": (3584, 18944, 28, 28, 4, 152064, False),
    "SmolLM2-135M": (576, 1536, 30, 9, 3, 49152, True),
    "tiny": (64, 128, 2, 4, 2, 117, False),
}


def layer_params(h: int, i: int, heads: int, kv: int) -> int:
    kv_dim = h // heads * kv
    return 2 * h * h + 2 * h * kv_dim + 3 * h * i + 2 * h  # q, o; k, v; gate, up, down; 2 RMSNorms


def param_count(shape) -> int:
    """N = V·h (embeddings) [+ V·h untied LM head] + n·layer + h (final norm); no biases (Llama)."""
    h, i, n, heads, kv, vocab, tied = shape
    return vocab * h * (1 if tied else 2) + n * layer_params(h, i, heads, kv) + h


def activations(shape, micro_batch: int, seq: int) -> float:
    h, i, n, heads, kv, vocab, tied = shape
    tokens = micro_batch * seq
    return tokens * (n * (34 * h + 12 * i) + vocab * 16)


def per_gpu(shape, mode: str, world: int, micro_batch: int, seq: int) -> dict[str, float]:
    """Bytes per GPU: weights, grads, adamw, working (FSDP2 gathered layers / DDP buckets), activations."""
    n = param_count(shape)
    h, i, layers, heads, kv, vocab, tied = shape
    shard = world if mode == "fsdp2" else 1
    out = {"weights": 4 * n / shard, "grads": 4 * n / shard, "adamw": 8 * n / shard}
    if mode == "ddp":
        out["working"] = 4 * n  # gradient buckets (gradient_as_bucket_view=False)
    else:
        root = vocab * h * (1 if tied else 2) + h
        gathered = root + 2 * layer_params(h, i, heads, kv)
        out["working"] = (2 + 4) * gathered if world > 1 else 0.0  # bf16 weights + fp32 grads before reduce
    out["activations"] = activations(shape, micro_batch, seq)
    out["total"] = sum(out.values())
    return out


def table(micro_batch: int, seq: int) -> str:
    rows = ["| model (params) | GPUs | mode | weights | grads | AdamW | DDP buckets / FSDP2 gathered | activations | total per GPU |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name in ("0.5B", "1.5B", "7B"):
        shape = SHAPES[name]
        for world in (1, 2, 8):
            for mode in ("ddp", "fsdp2"):
                m = per_gpu(shape, mode, world, micro_batch, seq)
                rows.append(f"| {name} ({param_count(shape) / 1e9:.2f}B) | {world} | {mode} | "
                            + " | ".join(f"{m[k] / GB:.1f}" for k in ("weights", "grads", "adamw", "working",
                                                                      "activations", "total")) + " |")
    return "\n".join(rows)


def check(path: str) -> None:
    """Predicted vs measured peak for a parallel_bench.py result (one process per GPU or CPU rank)."""
    data = json.load(open(path))
    a = data["args"]
    name = {"llama-0.5b": "0.5B", "llama-1.5b": "1.5B", "smollm2": "SmolLM2-135M", "tiny": "tiny"}[a["model"]]
    for r in data["results"]:
        if "error" in r or r.get("rank", 0) != 0:
            continue
        mode = r["mode"] if r["mode"] in ("ddp", "fsdp2") else "none"
        world = r["world"]
        pred = per_gpu(SHAPES[name], "ddp" if mode == "ddp" else "fsdp2", world, a["micro"], a["seq"])
        if mode == "none":
            pred["total"] -= pred["working"]
        if r["mode"] == "legacy" and world > 1:
            pred["total"] += 4 * param_count(SHAPES[name])  # the flat fp32 gradient copy
        if "peak_allocated_gb" in r:
            measured = r["peak_allocated_gb"] * 2**30
        else:
            measured = (r["peak_rss_mb"] - r["rss_before_model_mb"]) * 2**20
        print(f"{name} {r['mode']:6s} W={world}: predicted {pred['total'] / GB:6.2f} GB, measured {measured / GB:6.2f} GB "
              f"(N = {param_count(SHAPES[name]):,}; file says {r.get('params', 0):,})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--check", nargs="*", default=[])
    args = ap.parse_args(argv)
    if args.check:
        for p in args.check:
            check(p)
        return 0
    print(f"Per-GPU memory (GB) of full fine-tuning, fp32 weights + AdamW, bf16 autocast, micro-batch "
          f"{args.micro_batch} x {args.seq} tokens, no gradient checkpointing:\n")
    print(table(args.micro_batch, args.seq))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
