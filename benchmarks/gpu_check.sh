#!/usr/bin/env bash
# The GPU check: proves StyleSwap's CUDA path in one run of under 8 minutes on an H100-class card.
#
#   benchmarks/gpu_check.sh [--dry-run] [--python PY] [--out DIR] [--wheels DIR] [--offline] [--budget SECONDS]
#
# From a fresh checkout on a CUDA machine it
#   1. installs with the README's test command: python3 -m venv .venv && .venv/bin/pip install -e '.[test]'.
#      Where that fails (no internet) it uses python3's own environment, which must hold a CUDA torch, with
#      backend/ and shared/ on PYTHONPATH and the wheels of --wheels DIR (what that environment lacks) beside them;
#      --offline goes there at once, where no internet is known (an unreachable index can take minutes to fail);
#   2. runs the tests marked cuda (tests/engine/test_cuda.py, tests/daemon/test_daemon_cuda.py);
#   3. runs `styleswap bench` on a 1920x1080 and a 3840x2160 frame with a 512 px style, in float16 against
#      float32: encoding, exact and fast matching, the inverse network, end to end with a cached style;
#   4. stylises a 7680x4320 frame end to end (benchmarks/high_resolution.py) and a 1280x720 crop tiled and whole;
#   5. writes gpu_check.json, gpu_check.md and gpu_check.log (every step's output) into the output folder:
#      --out, else $OUT when set, else ./gpu_check_out.
# Each step has a time budget (timeout); one that would pass the whole budget (--budget, 450 s; 2400 s in a dry
# run) is cut short or skipped, and the results so far are written whatever happens. Exit status 0 when every
# step passed.
#
# Needs
#   - an NVIDIA GPU and a CUDA build of torch (python3's own, or the one the README's command installs);
#   - the weights, vgg19_normalised_relu3_1.safetensors, in $STYLESWAP_MODELS, else ../shared/models beside the
#     checkout (2 MB; nothing is downloaded: the script runs with STYLESWAP_OFFLINE=1);
#   - the evaluation images (eval/content, eval/style; 7 MB) in $STYLESWAP_DATA, else ../shared/data: the cuda
#     tests measure float16 on a pair from them (the benchmarks fall back to examples/ without them);
#   - offline: --wheels DIR with wheels of pyzmq, pypng and platformdirs for that python3 (PyTorch images lack
#     them), fetched where pip works:
#       pip download --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d DIR pyzmq pypng platformdirs
#
# --dry-run: tiny sizes on the CPU, no install, with the current python3 (or --python PY), so that CI proves the
# script itself works; the cuda tests are collected and skipped.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRY=0
OFFLINE=0
PY=""
OUTDIR=${OUT:-}
WHEELS=""
BUDGET=""
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
while (($#)); do
    case $1 in
        --dry-run) DRY=1 ;;
        --python) PY=$2; shift ;;
        --out) OUTDIR=$2; shift ;;
        --wheels) WHEELS=$(cd "$2" && pwd) || exit 2; shift ;;
        --offline) OFFLINE=1 ;;
        --budget) BUDGET=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
OUTDIR=${OUTDIR:-$PWD/gpu_check_out}
[[ $PY == */* ]] && PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") # a path from here stays right in $REPO
# seconds for the whole run and for each step: within 8 minutes on a GPU; on a CPU (the dry run) only a bound on
# a machine gone wrong, since a busy CI machine may take minutes for the tiny sizes
if ((DRY)); then
    BUDGET=${BUDGET:-2400} B_TESTS=600 B_1080=600 B_2160=600 B_8K=600
else
    BUDGET=${BUDGET:-450} B_INSTALL=180 B_OFFLINE=60 B_TESTS=150 B_1080=60 B_2160=75 B_8K=75
fi
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd) || exit 2
cd "$REPO" || exit 2

STARTED=$(date +%s)
DEADLINE=$((STARTED + BUDGET))
RESERVE=15 # seconds kept for writing the results
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
: >"$WORK/steps.tsv"
INSTALL="current environment"
export STYLESWAP_MODELS=${STYLESWAP_MODELS:-$REPO/../shared/models}
export STYLESWAP_DATA=${STYLESWAP_DATA:-$REPO/../shared/data}
export STYLESWAP_OFFLINE=1 PYTHONUNBUFFERED=1
export STYLESWAP_CACHE=$WORK/cache

report() {
    # stdlib only, run by the system's python3: the results are written even when the install failed
    python3 "$REPO/benchmarks/gpu_report.py" "$WORK" "$OUTDIR" --dry-run "$DRY" --install "$INSTALL" --python "${PY:-python3}" \
        --budget "$BUDGET" --started "$STARTED" --models "$STYLESWAP_MODELS" --data "$STYLESWAP_DATA"
    local status=$?
    rm -rf "$WORK"
    return $status
}

log() { echo "$*" | tee -a "$WORK/gpu_check.log"; }

# step NAME BUDGET COMMAND...: runs COMMAND under `timeout` (its whole process group), within what is left of
# the whole budget; stdout to WORK/NAME.out, stderr to WORK/NAME.err, one line per step in WORK/steps.tsv.
step() {
    local name=$1 budget=$2
    shift 2
    local left=$((DEADLINE - $(date +%s) - RESERVE))
    if ((left < 10)); then
        printf '%s\tskipped\t\t0\t%s\n' "$name" "$budget" >>"$WORK/steps.tsv"
        log "== $name: skipped, the time budget is spent"
        return 1
    fi
    ((budget > left)) && budget=$left
    log "== $name (budget ${budget} s): $*"
    local begin rc status
    begin=$(date +%s%N)
    timeout --kill-after=10 "$budget" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
    case $rc in
        0) status=ok ;;
        124 | 137) status=timeout ;;
        *) status=failed ;;
    esac
    local ms=$((($(date +%s%N) - begin) / 1000000))
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$ms" "$budget" >>"$WORK/steps.tsv"
    cat "$WORK/$name.out" "$WORK/$name.err" >>"$WORK/gpu_check.log"
    cat "$WORK/$name.out"
    tail -n 20 "$WORK/$name.err"
    log "== $name: $status (exit $rc) in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
    return $rc
}

install_readme() { python3 -m venv .venv && .venv/bin/pip install --retries 1 --timeout 15 -e '.[test]'; }

install_offline() {
    # python3's own torch; the project from the source tree; what that environment lacks from --wheels
    if [[ -n $WHEELS ]] && compgen -G "$WHEELS/*.whl" >/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" "$WHEELS"/*.whl || return 1
    fi
    python3 -c 'import torch, zmq, png, platformdirs, safetensors, PIL, tqdm, pytest, styleswap.cli; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
}
export -f install_readme install_offline # run by `timeout bash -c` in step
export WORK WHEELS

trap 'report; exit $?' EXIT
trap 'exit 130' INT TERM

if ((DRY)); then
    PY=${PY:-python3}
    INSTALL="dry run: ${PY}'s environment"
    DEVICE=cpu
    SIZE_1080=64x36 SIZE_2160=96x54 HEIGHT_8K=36 CROP=36 STYLE=48 STYLE_8K=48 REPEAT=1
elif [[ -n $PY ]]; then
    INSTALL="given python: $PY"
    DEVICE=cuda
else
    DEVICE=cuda
    if ((!OFFLINE)) && step install "$B_INSTALL" bash -c install_readme; then
        PY=$REPO/.venv/bin/python
        INSTALL="README: pip install -e '.[test]'"
    else
        export PYTHONPATH=$REPO/backend:$REPO/shared:$WORK/site${PYTHONPATH:+:$PYTHONPATH}
        PY=python3
        INSTALL="offline: python3's environment, the source tree${WHEELS:+ and wheels from $WHEELS}"
        step install_offline "$B_OFFLINE" bash -c install_offline
    fi
fi
if ((!DRY)); then
    SIZE_1080=1920x1080 SIZE_2160=3840x2160 HEIGHT_8K=4320 CROP=720 STYLE=512 STYLE_8K=1024 REPEAT=5
fi
CONTENT=$STYLESWAP_DATA/eval/content/animal_dogs_lomiri.jpg
STYLE_IMAGE=$STYLESWAP_DATA/eval/style/munch_the_scream.jpg
if [[ ! -f $CONTENT || ! -f $STYLE_IMAGE ]]; then
    log "== no evaluation images in $STYLESWAP_DATA: benchmarks use examples/"
    CONTENT=$REPO/examples/chelsea.jpg STYLE_IMAGE=$REPO/examples/ink_splat.png
fi
[[ -f $STYLESWAP_MODELS/vgg19_normalised_relu3_1.safetensors ]] || log "== no weights in $STYLESWAP_MODELS: every step will fail (see the header)"

"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tee -a "$WORK/gpu_check.log"
if ((!DRY)) && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader 2>&1 | tee "$WORK/nvidia_smi.out" >>"$WORK/gpu_check.log"
fi

step cuda_tests "$B_TESTS" "$PY" -m pytest -m "cuda or mps" tests/engine/test_cuda.py tests/daemon/test_daemon_cuda.py -q -rfEs -p no:cacheprovider --junitxml "$WORK/cuda_tests.xml"
bench() {
    local name=$1 size=$2 budget=$3
    step "$name" "$budget" "$PY" -m styleswap bench "$CONTENT" "$STYLE_IMAGE" --sizes "$size" --style-size "$STYLE" --iters 0 --repeat "$REPEAT" \
        --device "$DEVICE" --precision float16 --compare-precision float32 --no-peer --json "$WORK/$name.json"
}
bench bench_1080 "$SIZE_1080" "$B_1080"
bench bench_2160 "$SIZE_2160" "$B_2160"
step frame_8k "$B_8K" "$PY" benchmarks/high_resolution.py "$CONTENT" "$STYLE_IMAGE" --heights "$HEIGHT_8K" --crop "$CROP" --style-size "$STYLE_8K" \
    --device "$DEVICE" --json "$WORK/frame_8k.json"
exit 0 # the EXIT trap writes the results; its exit status says whether every step passed
