#!/usr/bin/env bash
# The GPU checks of issue 7, run ON the GPU machine (the device tool), from the repo root:
#
#   bash tools/device_check.sh    (.device/ carried: make device-bundle made it; ~9 min at most,
#                                  the device tool's run: timeout_s=600, carry=[".device"])
#
# That machine has Python 3.12, numpy, pytest, torch, cupy and nvcc, but no pycuda, cffi or
# egglog and no network. The bundle brings wheels (pycuda built here against a stub libcuda,
# its pure-Python dependencies, cffi) and a compiledir holding every graph the GPU tests,
# the seed programs and the GPU benchmarks use, optimized here by the e-graph (a dry run of
# the same code: eggflow's disk cache finds them there by the same keys). Without a prepared
# graph a test skips (it never runs unoptimized silently). Logs and results go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/eggflow-device-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .device/wheels/*.whl || exit 1
# eggflow itself: its folders laid out as the installed package (pyproject's package-dir), no
# build step (that machine's setuptools may be too old for our pyproject)
rm -rf /tmp/site/eggflow && cp -r eggflow /tmp/site/eggflow || exit 1
for sub in frontend egraph_rules codegen backends benchmarks; do
  cp -r "$sub" "/tmp/site/eggflow/$sub" || exit 1
done
export PYTHONPATH=/tmp/site
cache=/tmp/eggflow-cache
rm -rf "$cache" && cp -r .device/cache "$cache"
export EGGFLOW_FLAGS="compiledir=$cache"
py() { python3 -P "$@"; }  # -P: not the checkout's eggflow/ folder, the installed package
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/device.txt"
py -c "from eggflow.backends.cuda_backend import available; print('available:', available())" \
  | tee -a "$OUT/device.txt"
status=0
# each step bounded, so one hang cannot eat the machine's whole lease
timeout 240 python3 -P -m pytest -p no:cacheprovider -rs -q tests/backends/test_cuda.py \
  tests/backends/test_device_storage.py 2>&1 | tee "$OUT/test_cuda.log" || status=1
EGGFLOW_FLAGS="compiledir=$cache,device=cuda" timeout 100 python3 -P -m pytest \
  -p no:cacheprovider -rs -q \
  tests/test_seeds.py 2>&1 | tee "$OUT/test_seeds_cuda.log" || status=1
timeout 200 python3 -P -m eggflow.benchmarks.gpu --out "$OUT" 2>&1 | tee "$OUT/bench.log" \
  || status=1
exit $status
