# eggflow — GNU make.  `make demo`, `make test`; `make venv` prepares .venv; `make clean`.
#
# Every target finds a Python >= 3.12 by itself, (re)creates .venv with it, and installs the
# package with `pip install -e '.[test]'` only when pyproject.toml is newer than the stamp in
# .venv, so a second `make test` starts at once. Graphviz's `dot` (for pydotprint pictures) is
# installed from Debian's packages when it is missing and apt-get can be used.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.eggflow-installed
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: help venv graphviz test demo bench bench-extra device-bundle clean

help:
	@echo "make demo    train the logistic regression of Theano's tutorial (DEMO_ARGS='--steps 100')"
	echo "make test    run the test suite (PYTEST_ARGS='-x -k printing')"
	echo "make bench   run the full benchmark suite (bench-results/full: table, JSON, plots)"
	echo "make venv    create/refresh .venv (Python >= 3.12) and install eggflow into it"
	echo "make device-bundle  prepare .device/ for the GPU checks (tools/device_check.sh)"
	echo "make clean   remove .venv and build leftovers"

# A Python >= 3.12 with venv and ensurepip. pyenv's shims refuse versions that are not selected,
# so pyenv's versions directory is searched directly, before the commands on PATH.
venv:
	@is_ok() { "$$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 12))' \
	           >/dev/null 2>&1; }
	if [ -x $(PY) ] && $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null
	then :
	else
	  root=$$(pyenv root 2>/dev/null || echo "$${PYENV_ROOT:-$$HOME/.pyenv}")
	  python=
	  for candidate in "$$root"/versions/3.12*/bin/python3 "$$root"/versions/3.13*/bin/python3 \
	                   python3.13 python3.12 python3; do
	    if is_ok "$$candidate"; then python=$$candidate; break; fi
	  done
	  if [ -z "$$python" ]; then
	    echo "error: eggflow needs Python >= 3.12 (with its venv module), and none was found:" >&2
	    echo "  tried pyenv's versions/3.12* and 3.13* under $$root, python3.13, python3.12," \
	         "python3." >&2
	    echo "  Install one, e.g. 'pyenv install 3.12', or 'apt-get install python3.12" \
	         "python3.12-venv', or from https://www.python.org/downloads/" >&2
	    exit 1
	  fi
	  version=$$("$$python" -c 'import sys; print(sys.version.split()[0])')
	  echo "creating $(VENV) with $$python ($$version)"
	  rm -rf $(VENV)
	  "$$python" -m venv $(VENV)
	fi
	if [ ! -f $(STAMP) ] || [ pyproject.toml -nt $(STAMP) ]; then
	  echo "installing eggflow into $(VENV) (pip install -e '.[test]')"
	  $(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	  touch $(STAMP)
	fi

# Optional: without dot, pydotprint writes DOT source and the picture tests skip.
graphviz:
	@if command -v dot >/dev/null; then exit 0; fi
	if ! command -v apt-get >/dev/null; then
	  echo "note: graphviz's dot is missing; install graphviz for pydotprint pictures" >&2; exit 0
	fi
	sudo=
	if [ "$$(id -u)" != 0 ]; then
	  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=sudo; else
	    echo "note: graphviz's dot is missing; run 'sudo apt-get install graphviz'" >&2; exit 0
	  fi
	fi
	echo "installing graphviz (apt-get) for pydotprint pictures"
	export DEBIAN_FRONTEND=noninteractive
	if ! $$sudo apt-get install -y -qq graphviz >/dev/null; then
	  $$sudo apt-get update -qq >/dev/null && $$sudo apt-get install -y -qq graphviz >/dev/null \
	    || echo "warning: could not install graphviz; pydotprint will write DOT source" >&2
	fi

test: venv graphviz
	@$(PY) -m pytest $(PYTEST_ARGS)

demo: bench-extra
	@$(PY) examples/logistic_regression.py $(DEMO_ARGS)
	$(PY) -m benchmarks run --suite quick --out bench-results/quick $(BENCH_ARGS)

# The bench extra (peers and matplotlib), installed once per pyproject.toml change.
bench-extra: venv
	@if [ ! -f $(VENV)/.eggflow-bench ] || [ pyproject.toml -nt $(VENV)/.eggflow-bench ]; then
	  echo "installing the bench extra (numexpr, pytensor, jax, matplotlib)"
	  if $(PY) -m pip install -q --disable-pip-version-check -e '.[bench]'; then
	    touch $(VENV)/.eggflow-bench
	  else
	    echo "note: the bench extra did not install; the missing peers are reported as skipped"
	  fi
	fi

bench: bench-extra
	@$(PY) -m benchmarks run --suite full --out bench-results/full --draw attention \
	  --draw stable_sigmoid_xent $(BENCH_ARGS)

# What tools/device_check.sh needs on a GPU machine without network or egglog: wheels
# (pycuda built against a stub libcuda by tools/build_pycuda_wheel.sh, its pure-Python
# dependencies, cffi) and a compiledir with every graph the GPU tests, the seed programs on
# the GPU and the GPU benchmarks use, optimized here (the CUDA dry run of the same code),
# and their cubins for sm_90.
DEVICE_WHEELS := cffi pycparser pytools platformdirs mako siphash24 scipy-openblas32
device-bundle: venv
	@mkdir -p .device/wheels
	if ! ls .device/wheels/pycuda-*.whl >/dev/null 2>&1; then
	  echo "building a pycuda wheel (~4 min)"
	  tools/build_pycuda_wheel.sh $(PY) .device/wheels
	fi
	$(PY) -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
	  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
	  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .device/wheels $(DEVICE_WHEELS)
	cache=$$PWD/.device/cache
	rm -rf "$$cache"
	echo "optimizing the GPU programs into $$cache (dry run)"
	export EGGFLOW_CUDA_DRY_RUN=nvcc  # cubins too: the same nvcc version there reuses them
	EGGFLOW_FLAGS=compiledir=$$cache $(PY) -m pytest -q -p no:cacheprovider \
	  tests/backends/test_cuda.py tests/backends/test_device_storage.py
	EGGFLOW_FLAGS=compiledir=$$cache,device=cuda $(PY) -m pytest -q -p no:cacheprovider \
	  tests/test_seeds.py
	EGGFLOW_FLAGS=compiledir=$$cache $(PY) -m eggflow.benchmarks.gpu --dry-run
	rm -rf "$$cache/c"  # the graphs and cubins travel, not the C backend's modules
	du -sh .device
	echo "carry .device to the GPU machine and run: bash tools/device_check.sh"

clean:
	@rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis eggflow.pydotprint.*
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
