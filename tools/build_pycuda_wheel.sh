#!/usr/bin/env bash
# Build a pycuda wheel on a machine with the CUDA toolkit but no driver (no libcuda.so.1),
# e.g. to carry it to a GPU machine that has no network (make device-bundle).
#
#   tools/build_pycuda_wheel.sh PYTHON OUTDIR [VERSION]
#
# pycuda has no wheels on PyPI and its setup links against libcuda. Without a driver we link
# against a stub libcuda.so.1 generated from cuda.h (every cu* function returns
# CUDA_ERROR_STUB_LIBRARY, as NVIDIA's own stub does); the wheel then loads the real driver
# wherever it runs. Takes ~3.5 minutes on 2 cores.
set -euo pipefail
python=${1:?usage: $0 PYTHON OUTDIR [VERSION]}
outdir=${2:?usage: $0 PYTHON OUTDIR [VERSION]}
version=${3:-2026.1}
cuda_root=${CUDA_ROOT:-/usr/local/cuda}
[ -f "$cuda_root/include/cuda.h" ] || { echo "error: $cuda_root/include/cuda.h not found (set CUDA_ROOT)" >&2; exit 1; }
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$python" - "$cuda_root/include" <<'PY'
import re, subprocess, sys
pp = subprocess.run(["gcc", "-E", "-P", "-I", sys.argv[1], "-x", "c", "-"],
                    input="#include <cuda.h>\n#include <cudaProfiler.h>\n",
                    capture_output=True, text=True, check=True).stdout
names = sorted(set(re.findall(r"\bCUresult\s+(cu\w+)\s*\(", pp)))
special = {"cuGetErrorName": "CUDA_ERROR_STUB_LIBRARY",
           "cuGetErrorString": "CUDA driver is a stub library (no libcuda / no GPU)"}
with open("cuda_stub.c", "w") as f:
    for n in names:
        if n in special:
            f.write(f'int {n}(int e, const char **s) {{ *s = "{special[n]}"; return 0; }}\n')
        else:
            f.write(f"int {n}(void) {{ return 34; }}\n")
PY
mkdir stub home
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o stub/libcuda.so.1 cuda_stub.c
ln -s libcuda.so.1 stub/libcuda.so
cat > home/.aksetup-defaults.py <<PY
CUDA_ROOT = '$cuda_root'
CUDA_ENABLE_CURAND = False
CUDADRV_LIB_DIR = ['$work/stub']
PY
HOME=$work/home PATH="$cuda_root/bin:$PATH" "$python" -m pip wheel -q --no-deps \
  --disable-pip-version-check -w "$outdir" "pycuda==$version"
ls "$outdir"/pycuda-*.whl
