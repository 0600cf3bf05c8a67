#!/usr/bin/env bash
# One-command GPU check (a single NVIDIA GPU, PyTorch installed, no network, no registry):
#   bench/gpu_check.sh [--dry-run] [--json PATH] [--budget-s S] [--skip-tests]
# runs the CUDA-marked tests, inference / training throughput, MFU, onnxruntime-CUDA and a
# one-process NCCL DDP step (python -m scmis_core.gpu_check) and prints one JSON on stdout.
# The whole run stays under 8 minutes (sections that no longer fit are skipped with a reason).
#
# Python: $PYTHON if set, else .venv/bin/python if it exists, else python3.
# Pure-Python dependencies the machine lacks travel as wheels in .whl/ beside the checkout
# (bench/fetch_wheels.sh fills it on a machine with a registry); they are installed into a
# temporary folder with --no-index, nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3
fi
if compgen -G ".whl/*.whl" > /dev/null; then
  SITE=$(mktemp -d /tmp/scmis-wheels.XXXXXX)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
    .whl/*.whl >&2
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec timeout --signal=INT --kill-after=20 470 "$PY" -m scmis_core.gpu_check "$@"
