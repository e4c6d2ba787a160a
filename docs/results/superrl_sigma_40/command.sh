#!/bin/bash
cd .
export OMP_NUM_THREADS=1
exec .venv/bin/python -m hybridrl.cli compare --methods superrl --config recipes/study/sparse.yaml \
  --steps 40 --eval-size 64 --eval-seed 1234 --output-dir runs/superrl_sigma_40 \
  superrl_k=5 superrl_m=5 superrl_increase_threshold=2 eval_every=10
