#!/usr/bin/env bash
# Fill .whl/ (beside the checkout, ignored by git) with wheels for a GPU machine that has
# PyTorch but no network and no package registry: Python 3.12, x86-64 Linux by default.
#   bench/fetch_wheels.sh NAME==VERSION [NAME==VERSION ...]
# Run it where pip reaches a registry; copy or carry the checkout with .whl/ to the GPU
# machine; bench/gpu_check.sh installs every .whl/*.whl with --no-index --no-deps into a
# temporary folder before it starts. --no-deps: name each missing dependency too, one version
# of each. PY_VERSION=3.11 (etc.) targets another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  echo "usage: bench/fetch_wheels.sh NAME==VERSION [...]  (e.g. onnx==1.23.2)" >&2
  exit 2
fi
if [ -d .git ] && ! grep -qx "/.whl/" .git/info/exclude 2>/dev/null; then
  echo "/.whl/" >> .git/info/exclude
fi
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
"${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: \
  --python-version "${PY_VERSION:-3.12}" --implementation cp "${platforms[@]}" -d .whl "$@"
ls -l .whl
