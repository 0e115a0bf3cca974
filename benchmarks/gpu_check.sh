#!/usr/bin/env bash
# GPU check, under 5 minutes on one GPU: run_trial's throughput on the CIFAR-shaped seed CNN (synthetic tensors
# resident on the GPU, bf16 autocast, channels_last) at batch sizes 128..4096, eager and torch.compile, with
# achieved TFLOP/s and peak GPU memory; 8 seeds trained as one stacked model vs sequentially (speed-up, and how far
# the results agree in fp32 and under bf16); the per-trial start-up of short trials with the dataset decoded per
# trial vs kept by the worker (on the GPU); then a 16-trial sweep sharing the GPU (--gpus-per-trial auto, each
# level's seed re-runs stacked) on CIFAR-shaped files written to a temporary folder, with its aggregate throughput
# against one trial alone and the extrapolated time of the full CIFAR-10 optimizer comparison.
# Without a CUDA device it says so and exits 0; --smoke runs every section at a tiny size on the CPU instead
# (a check that the sections run, not a measurement).
#
#   bash benchmarks/gpu_check.sh            # on a machine with a GPU
#   bash benchmarks/gpu_check.sh --smoke    # anywhere, under two minutes on two CPU cores
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}

if [[ "${1:-}" == "--smoke" ]]; then
    device=cpu; tiny=(--tiny); compile=(--compile-backend eager)
    echo "smoke run: every section at a tiny size on the CPU; the figures mean nothing"
elif "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    device=cuda; tiny=(); compile=()
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
else
    echo "no CUDA device: skipping GPU sections (--smoke runs them at a tiny size on the CPU)"
    exit 0
fi

echo "== training loop: batch sizes x torch.compile =="
# Stops at 140 s; configurations past its 110 s budget are reported as skipped.
timeout 140 "$PYTHON" benchmarks/_gpu_bench.py --device "$device" --budget-s 110 "${compile[@]}" "${tiny[@]}" \
    || echo "training-loop section stopped at its 140 s limit"

echo "== 8 seeds as one stacked model (torch.func.vmap) vs one after another =="
timeout 30 "$PYTHON" benchmarks/_stacked_seeds.py --device "$device" --seeds 8 "${tiny[@]}" \
    || echo "stacked-seeds section stopped at its 30 s limit"

echo "== per-trial start-up: the dataset decoded per trial vs kept by the worker =="
timeout 40 "$PYTHON" benchmarks/trial_startup.py --trials 4 "${tiny[@]}" || echo "start-up section stopped at its 40 s limit"

echo "== 16 trials sharing the GPU: bench sweep (--gpus-per-trial auto, the default) =="
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" benchmarks/_gpu_sweep.py prepare "$work" "${tiny[@]}"
# SIGINT is the sweep's clean stop (finished trials kept, Ray shut down); SIGKILL 15 s later if it hangs.
timeout -s INT -k 15 90 "$PYTHON" -m bench sweep "$work/gpu-share.yaml" --out "$work/runs" \
    || echo "sweep stopped at its 90 s limit; the summary covers the trials it finished"
"$PYTHON" benchmarks/_gpu_sweep.py summary "$work" "${tiny[@]}"
