"""`make demo` wall time with each rollout engine, one after the other on the same machine.

Each engine's demo runs in its own fresh process (``run_demo(rollout_engine=...)``: vLLM's import
and engine starts are part of what is timed, as a user would see them), in the venv that has
vLLM, so both sides use the same torch and transformers. Prints the wall time and the load
average before and after each run (the machine may be shared: compare only inside one run).

    .venv-vllm/bin/python benchmarks/demo_time.py --engines hf,vllm \\
        --out benchmarks/results/demo_time.json          # add --quick for the smoke budget
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = "from hybridrl.pipelines.demo import run_demo; import sys; sys.exit(run_demo(quick={quick}, " \
        "output_dir={out!r}, rollout_engine={engine!r}))"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="hf,vllm")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    res: dict = {"quick": a.quick, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in a.engines.split(","):
            out = str(Path(tmp) / f"demo-{engine}")
            load_before = os.getloadavg()
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD.format(quick=a.quick, out=out, engine=engine)],
                                  capture_output=True, text=True, env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
            seconds = time.perf_counter() - t0
            table = [line for line in proc.stdout.splitlines() if line.startswith("|")]
            res["runs"][engine] = {"seconds": seconds, "minutes": seconds / 60, "returncode": proc.returncode,
                                   "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
                                   "accuracy_table": table, "stderr_tail": proc.stderr[-2000:] if proc.returncode else ""}
            print(f"demo{' --quick' if a.quick else ''} rollout_engine={engine}: {seconds / 60:.1f} min, exit "
                  f"{proc.returncode}, load {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)
            print("\n".join(table), flush=True)
            if a.out:
                Path(a.out).parent.mkdir(parents=True, exist_ok=True)
                Path(a.out).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
