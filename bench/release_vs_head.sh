#!/usr/bin/env bash
# Is the old path of `python -m scmis_core.bench train` the release it stands for? Times
# config/rooms_small.yaml training steps (bench/train_steps.py, two threads) of the release
# 5e01fee (the code issue 9 measured), of this checkout with the bench's OLD_PATH overrides
# and of this checkout as configured, in alternating processes:
#   bench/release_vs_head.sh [ROUNDS] [STEPS]        (default 4 rounds of 16 steps)
# The release is checked out into a temporary git worktree, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
case $PY in /*) ;; */*) PY=$PWD/$PY ;; esac  # the release runs from its own folder
rounds=${1:-4}
steps=${2:-16}
release=5e01fee
if ! git cat-file -e "$release^{commit}" 2>/dev/null; then
  echo "release_vs_head: commit $release is not in this clone (a shallow clone?)" >&2
  exit 2
fi
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git worktree add --detach "$tree" "$release" >/dev/null 2>&1
here=$PWD
old=$(PYTHONPATH=$here "$PY" -c \
  'from scmis_core.bench_train import OLD_PATH; print(" ".join(f"{k}={v}" for k, v in OLD_PATH.items()))')
for round in $(seq "$rounds"); do
  rel=$(cd "$tree" && PYTHONPATH=$tree "$PY" "$here/bench/train_steps.py" \
    config/rooms_small.yaml --steps "$steps")
  echo "round $round release $release: $rel"
  # shellcheck disable=SC2086  # $old is a list of key=value words
  was=$(PYTHONPATH=$here "$PY" bench/train_steps.py config/rooms_small.yaml --steps "$steps" $old)
  echo "round $round old path:        $was"
  now=$(PYTHONPATH=$here "$PY" bench/train_steps.py config/rooms_small.yaml --steps "$steps")
  echo "round $round new path:        $now"
done
