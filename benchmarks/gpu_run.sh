#!/usr/bin/env bash
# One short run that measures hwutils on a GPU machine; the same script runs, smaller, on a CPU.
#
#   make gpu-wheels                     # here, with the network: .whl/ for the GPU machine's Python (3.12)
#   bash benchmarks/gpu_run.sh          # there (carry .whl): output into $OUT, else build/gpu_run/
#   GPU_RUN_SIZE=small bash benchmarks/gpu_run.sh    # a CPU check of the whole script, in minutes
#
# 1. probe: Python, the GPUs, which Keras backends import and see a GPU, what hwutils lacks (probe.json);
# 2. install the wheels carried in .whl/ into /tmp/hwutils-site, without the network (install.txt);
# 3. benchmarks/stacked_cnn.py on every backend there: the vectorised seeds at 5, 20 and 100 members, the
#    report CNN in float32 and mixed_bfloat16, the 1-3 parameters widths (stacked_cnn.txt);
# 4. benchmarks/full_profile.py slices of the costly entries, on random arrays of the full shapes (no dataset
#    travels), in mixed_bfloat16 where a GPU is found (full_profile.txt).
# A step that fails or runs past its time is recorded in steps.txt and the next one runs.
set -u
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu_run}
mkdir -p "$out"
py=${PYTHON:-python3}
size=${GPU_RUN_SIZE:-full}
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 HWUTILS_QUIET=1
step() {  # step NAME SECONDS COMMAND...: run COMMAND with a time limit, its output into NAME.txt
  local name=$1 limit=$2; shift 2
  echo "[$(date +%H:%M:%S)] $name: $*" | tee -a "$out/steps.txt"
  local start=$SECONDS
  timeout "$limit" "$@" > "$out/$name.txt" 2>&1
  echo "[$(date +%H:%M:%S)] $name: exit $? after $((SECONDS - start)) s" | tee -a "$out/steps.txt"
}

step probe 600 "$py" benchmarks/gpu_probe.py
cat "$out/probe.txt"
if ls .whl/*.whl > /dev/null 2>&1; then
  step install 600 "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/hwutils-site .whl/*.whl
  export PYTHONPATH=/tmp/hwutils-site:$PWD${PYTHONPATH:+:$PYTHONPATH}
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
# The backends that import, and whether one of them sees a GPU (from the probe).
read -r backends gpu < <("$py" - "$out/probe.txt" <<'EOF'
import json, sys
probe = json.load(open(sys.argv[1]))
ok = [b for b, v in probe["backends"].items() if not v.startswith("not importable")]
gpu = any("cpu" not in v.lower().split("[", 1)[-1] and "[]" not in v for b, v in probe["backends"].items() if b in ok)
print(" ".join(ok) or "none", "yes" if gpu else "no")
EOF
)
echo "backends: $backends; GPU: $gpu" | tee -a "$out/steps.txt"
precision=$([ "$gpu" = yes ] && echo mixed_bfloat16 || echo float32)
if [ "$size" = small ]; then
  cnn_args=(--members 2 --epochs 1 --baseline-members 1 --widths 4 --width-epochs 1)
  report_args=(--cnn report --members 2 --epochs 1 --baseline-members 1 --widths)
  profile_args=(--only 1-1-actual-tasks-mnist --fraction 0.001 --data-fraction 0.005 --stretch 2 --timeout 900)
  limit=900
else
  cnn_args=(--members 5 20 100 --epochs 5)
  report_args=(--cnn report --members 5 20 --epochs 3 --widths)
  profile_args=(--only 1-1-actual-tasks --only 1-3-random-labels --only 1-3-parameters --only 1-3-flatness)
  limit=${GPU_RUN_PROFILE_SECONDS:-1200}
fi
for backend in $backends; do
  [ "$backend" = none ] && break
  step "stacked_cnn-$backend" 1200 "$py" benchmarks/stacked_cnn.py --backends "$backend" "${cnn_args[@]}"
  step "stacked_cnn-report-$backend" 1200 "$py" benchmarks/stacked_cnn.py --backends "$backend" "${report_args[@]}" \
    --precision mixed_bfloat16
done
# The notebooks run on the first backend that imports (TensorFlow before JAX, Keras's default first).
first=$(echo "$backends" | tr ' ' '\n' | grep -x tensorflow || echo "$backends" | cut -d' ' -f1)
export KERAS_BACKEND=$first
step full_profile "$limit" "$py" benchmarks/full_profile.py "${profile_args[@]}" \
  --precision "$precision"
echo "done: $out" | tee -a "$out/steps.txt"
