#!/usr/bin/env bash
# The GPU checks of neurolearn in one run, for a machine with an NVIDIA GPU, nvcc and
# neurolearn[cuda,bench] importable (run from the repository root):
#
#   bash benchmarks/gpu_checks.sh OUTDIR [SECONDS_PER_JOB]
#
# 1. benchmarks/torch_step.py on the GPU (the bridge benchmark of the README, float32), alone
#    so that compilations do not disturb its timing (limit BENCH_LIMIT, default 300 s);
# 2. in parallel, each job limited to SECONDS_PER_JOB (default 420):
#    - the `gpu`-marked tests: brian2cuda against cpp_standalone (tests/brian/test_brian_cuda.py),
#      torch on CUDA against the CPU and the Brian2 export on cuda_standalone
#      (tests/torch_engine/test_torch_cuda.py), training on CUDA and resuming on the CPU
#      (tests/training/test_training_options.py);
#    - the plasticity reproductions on cuda_standalone: the STDP window, a shortened
#      Izhikevich (2007) run (IZH_SECONDS, default 60 s) and a shortened Song et al. (2000)
#      run (SONG_SECONDS, default 20 s at 20 Hz), each with its wall time.
# Everything is logged to OUTDIR/summary.log; the reproductions' JSON and figures are packed
# into OUTDIR/outputs.tgz. A failing step is reported and the others still run.
set -u
OUT=${1:?usage: gpu_checks.sh OUTDIR [SECONDS_PER_JOB]}
LIMIT=${2:-420}
IZH_SECONDS=${IZH_SECONDS:-60}
SONG_SECONDS=${SONG_SECONDS:-20}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
LOG="$OUT/summary.log"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

step() {  # step NAME COMMAND...: run, time and log one step
    local name=$1; shift
    local t0=$(date +%s%N)
    timeout "$LIMIT" "$@" > "$WORK/$name.log" 2>&1
    local rc=$?
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "$name: exit $rc, $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s wall" >> "$WORK/status.txt"
}

{
    echo "== machine"; date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv
    nproc; nvcc --version | tail -2
    $PY -c "import sys, numpy, torch, brian2, brian2cuda; print(sys.version.split()[0], 'numpy', numpy.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda, 'brian2', brian2.__version__, 'brian2cuda', brian2cuda.__version__)"
} > "$LOG" 2>&1

LIMIT=${BENCH_LIMIT:-300} step torch_step_cuda $PY benchmarks/torch_step.py --device cuda --repeats 5

step pytest_gpu $PY -m pytest -m gpu -v -s -p no:cacheprovider tests/brian/test_brian_cuda.py \
    tests/torch_engine/test_torch_cuda.py tests/training/test_training_options.py &
step stdp_window_cuda $PY -m neurolearn.reproductions.stdp_window --backend cuda_standalone \
    --out "$WORK/stdp_window" &
step izhikevich_cuda $PY -m neurolearn.reproductions.izhikevich2007_distal_reward --backend cuda_standalone \
    --duration-s "$IZH_SECONDS" --out "$WORK/izhikevich" &
step song_cuda $PY -m neurolearn.reproductions.song2000_stdp --backend cuda_standalone \
    --duration-s "$SONG_SECONDS" --rates-hz 20 --out "$WORK/song" &
wait

{
    echo; echo "== status"; cat "$WORK/status.txt"
    for f in torch_step_cuda pytest_gpu stdp_window_cuda izhikevich_cuda song_cuda; do
        echo; echo "== $f (last 60 lines)"; tail -n 60 "$WORK/$f.log"
    done
} >> "$LOG" 2>&1
(cd "$WORK" && find . -maxdepth 3 -type f \( -name '*.json' -o -name '*.log' -o -name '*.csv' \
    -o -name '*.pdf' -o -name '*.svg' -o -name '*.png' -o -name '*.txt' \) -print0 |
    tar czf "$OUT/outputs.tgz" --null -T -) 2>/dev/null || tar czf "$OUT/outputs.tgz" -C "$WORK" status.txt
cat "$LOG"
